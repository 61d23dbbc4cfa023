package org.vdmount.vd.format.vmdk;

import org.vdmount.vd.Bytes;

/**
 * A stream-optimized marker (VMware "Virtual Disk Format 5.0", "Stream-Optimized Compressed Sparse
 * Extents"). With {@code size > 0} it heads a compressed grain: {@code value} is the grain's LBA and
 * {@code size} bytes of zlib data follow at offset 12. With {@code size == 0} it is a metadata
 * marker of one sector: {@code value} = sectors of metadata following, {@code type} at offset 12.
 */
record Marker(long value, long size, long type) {   // 0x00 u64, 0x08 u32, 0x0C u32

    static final int SIZE = 512;
    static final int GRAIN_HEADER = 12;
    static final int EOS = 0;
    static final int GRAIN_TABLE = 1;
    static final int GRAIN_DIRECTORY = 2;
    static final int FOOTER = 3;

    static Marker parse(Bytes b) {
        long size = b.u32le(0x08);
        return new Marker(b.u64le(0x00), size, size == 0 ? b.u32le(0x0C) : -1);
    }

    /** Writes a metadata marker (one sector). */
    static void writeMeta(Bytes b, long sectorsFollowing, int type) {
        b.fill(0, SIZE, 0);
        b.put64le(0x00, sectorsFollowing).put32le(0x08, 0).put32le(0x0C, type);
    }

    /** Writes a grain marker's 12-byte head. */
    static void writeGrain(Bytes b, long lba, int compressedSize) {
        b.put64le(0x00, lba).put32le(0x08, compressedSize);
    }
}
