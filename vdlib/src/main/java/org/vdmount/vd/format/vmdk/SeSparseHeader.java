package org.vdmount.vd.format.vmdk;

import org.vdmount.vd.Bytes;

/**
 * The constant header of an ESXi seSparse extent (space-efficient sparse, ESXi 5.5+, default for
 * snapshots from 6.5; public notes and QEMU's block/vmdk.c). Little-endian u64 fields; sizes and
 * offsets in sectors. Grain directory entries are {@code 0x1000_0000_xxxx_xxxx} (table index) or 0;
 * grain table entries carry their kind in the top nibble (0 unallocated, 1 unmapped, 2 zero,
 * 3 allocated with a cluster number split into two fields).
 */
record SeSparseHeader(
        long magic,                    // 0x00: 0xCAFEBABE
        long version,                  // 0x08: 0x2_0000_0001
        long capacitySectors,          // 0x10
        long grainSectors,             // 0x18: 8
        long gtSectors,                // 0x20: 64 (4096 entries of 8 bytes)
        long flags,                    // 0x28
        boolean reservedZero,          // 0x30..0x4F reserved1-4
        long volatileHeaderOffset,     // 0x50
        long gdOffset,                 // 0x80
        long gdSectors,                // 0x88
        long gtOffset,                 // 0x90
        long grainsOffset) {           // 0xC0

    static final int SIZE = 512;
    static final long MAGIC = 0xCAFE_BABEL;
    static final long VERSION = 0x2_0000_0001L;
    static final long VOLATILE_MAGIC = 0xCAFE_CAFEL;

    static boolean hasMagic(Bytes b) {
        return b.size() >= 16 && b.u64le(0) == MAGIC && b.u64le(8) == VERSION;
    }

    static SeSparseHeader parse(Bytes b) {
        boolean reserved = b.isZero(0x30, 0x20);
        return new SeSparseHeader(b.u64le(0x00), b.u64le(0x08), b.u64le(0x10), b.u64le(0x18), b.u64le(0x20),
                b.u64le(0x28), reserved, b.u64le(0x50), b.u64le(0x80), b.u64le(0x88), b.u64le(0x90), b.u64le(0xC0));
    }
}
