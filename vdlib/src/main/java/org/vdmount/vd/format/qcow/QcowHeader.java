package org.vdmount.vd.format.qcow;

import java.nio.file.Path;
import org.vdmount.vd.Bytes;
import org.vdmount.vd.CorruptImageException;
import org.vdmount.vd.NotThisFormatException;
import org.vdmount.vd.TruncatedImageException;
import org.vdmount.vd.UnsupportedFeatureException;

/**
 * The QCOW version 1 header (libqcow "File header - version 1"; QEMU block/qcow.c), big-endian,
 * 48 bytes at offset 0. The L1 table follows it (not cluster-aligned).
 */
record QcowHeader(
        long backingFileOffset,   // 0x08 u64
        long backingFileSize,     // 0x10 u32
        long mtime,               // 0x14 u32
        long virtualSizeBytes,    // 0x18 u64
        int clusterBits,          // 0x20 u8
        int l2Bits,               // 0x21 u8 (0x22 u16 padding)
        long cryptMethod,         // 0x24 u32: 0 none, 1 AES
        long l1TableOffset) {     // 0x28 u64

    static final int MAGIC = 0x514649fb; // "QFI\xfb"
    static final int SIZE = 48;
    static final long MAX_L1_BYTES = 32L << 20;

    static boolean isVersion1(Bytes b) {
        return b.size() >= 8 && b.s32be(0) == MAGIC && b.s32be(4) == 1;
    }

    static QcowHeader parse(Bytes b, Path file) throws NotThisFormatException {
        if (b.size() < SIZE || !isVersion1(b)) {
            throw new NotThisFormatException("qcow: " + file + " is not a QCOW version 1 image");
        }
        return new QcowHeader(b.u64be(0x08), b.u32be(0x10), b.u32be(0x14), b.u64be(0x18), b.u8(0x20), b.u8(0x21),
                b.u32be(0x24), b.u64be(0x28));
    }

    void write(Bytes b) {
        b.put32be(0x00, MAGIC);
        b.put32be(0x04, 1);
        b.put64be(0x08, backingFileOffset);
        b.put32be(0x10, backingFileSize);
        b.put32be(0x14, mtime);
        b.put64be(0x18, virtualSizeBytes);
        b.put8(0x20, clusterBits);
        b.put8(0x21, l2Bits);
        b.put16be(0x22, 0);
        b.put32be(0x24, cryptMethod);
        b.put64be(0x28, l1TableOffset);
    }

    long l1Entries() {
        int shift = clusterBits + l2Bits;
        return (virtualSizeBytes + (1L << shift) - 1) >>> shift;
    }

    /** QEMU's limits: clusters 512 B..64 KiB, L2 tables of 64..8192 entries. */
    void validate(Path file, long fileSize) throws CorruptImageException, UnsupportedFeatureException {
        if (clusterBits < 9 || clusterBits > 16) {
            throw new CorruptImageException("qcow", file, "header", 0x20, "cluster_bits " + clusterBits
                    + " outside 9..16");
        }
        if (l2Bits < 6 || l2Bits > 13) {
            throw new CorruptImageException("qcow", file, "header", 0x21, "l2_bits " + l2Bits + " outside 6..13");
        }
        if (cryptMethod != 0) {
            throw new UnsupportedFeatureException("qcow: " + file + " is encrypted (AES); encrypted images are not "
                    + "supported (their data would be ciphertext)");
        }
        if (virtualSizeBytes < 0 || virtualSizeBytes > 1L << 56) {
            throw new CorruptImageException("qcow", file, "header", 0x18, "virtual size " + virtualSizeBytes);
        }
        long l1Bytes = l1Entries() * 8;
        if (l1Bytes > MAX_L1_BYTES) {
            throw new UnsupportedFeatureException("qcow: " + file + ": L1 table of " + l1Bytes + " bytes exceeds "
                    + MAX_L1_BYTES);
        }
        if (l1TableOffset < SIZE || l1TableOffset > fileSize || l1Bytes > fileSize - l1TableOffset) {
            throw new TruncatedImageException("qcow", file, "L1 table", l1TableOffset, l1Bytes, fileSize);
        }
        if (backingFileOffset != 0 && (backingFileSize == 0 || backingFileSize > 1023 || backingFileOffset < SIZE
                || backingFileOffset > fileSize - backingFileSize)) {
            throw new CorruptImageException("qcow", file, "header", 0x08, "backing file name at 0x"
                    + Long.toHexString(backingFileOffset) + " of " + backingFileSize + " bytes");
        }
    }
}
