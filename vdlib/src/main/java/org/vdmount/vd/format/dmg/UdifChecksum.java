package org.vdmount.vd.format.dmg;

import org.vdmount.vd.Bytes;

/**
 * A UDIF checksum ({@code struct UDIFChecksum}: type, size in bits, 128 bytes of data), in the koly
 * trailer and in every block table. Type 2 is CRC-32, its 32 bits in the first 4 bytes, big-endian.
 *
 * @param type +0: 0 none, 2 CRC-32 (the only type this reader recomputes)
 * @param bits +4: how many bits of the data are used
 * @param data +8: the first 8 bytes of the value, big-endian (a CRC-32 fills the high 4)
 */
record UdifChecksum(long type, long bits, long data) {
    static final long CRC32 = 2;
    static final int SIZE = 136;

    static UdifChecksum parse(Bytes b, int off) {
        return new UdifChecksum(b.u32be(off), b.u32be(off + 4), b.u64be(off + 8));
    }

    boolean isCrc32() {
        return type == CRC32 && bits == 32;
    }

    /** The stored CRC-32 value. */
    long crc32() {
        return data >>> 32;
    }

    String typeName() {
        return type == 0 ? "none" : isCrc32() ? "crc32" : "type " + type + " (" + bits + " bits)";
    }

    String describe() {
        return isCrc32() ? String.format("crc32:%08x", crc32()) : typeName();
    }
}
