package org.vdmount.vd.format.qed;

import java.nio.file.Path;
import org.vdmount.vd.Bytes;
import org.vdmount.vd.CorruptImageException;
import org.vdmount.vd.NotThisFormatException;
import org.vdmount.vd.TruncatedImageException;
import org.vdmount.vd.UnsupportedFeatureException;

/** The QED header (docs/interop/qed_spec.rst "Header"), little-endian, at offset 0. */
record QedHeader(
        long clusterSizeBytes,      // 0x04 u32: power of two, 4 KiB .. 64 MiB
        long tableSizeClusters,     // 0x08 u32: power of two, 1 .. 16
        long headerSizeClusters,    // 0x0C u32
        long features,              // 0x10 u64
        long compatFeatures,        // 0x18 u64
        long autoclearFeatures,     // 0x20 u64
        long l1TableOffset,         // 0x28 u64
        long imageSizeBytes,        // 0x30 u64
        long backingNameOffset,     // 0x38 u32, bytes from the start of the file
        long backingNameSize) {     // 0x3C u32

    static final int MAGIC = 0x00444551; // "QED\0" little-endian
    static final int SIZE = 0x40;
    static final int OFF_FEATURES = 0x10;
    static final long F_BACKING_FILE = 0x01;
    static final long F_NEED_CHECK = 0x02;
    static final long F_BACKING_NO_PROBE = 0x04;
    static final long F_KNOWN = 0x07;
    /** Largest L1/L2 table this implementation keeps in memory (the format allows 1 GiB). */
    static final long MAX_TABLE_BYTES = 32L << 20;

    static boolean hasMagic(Bytes b) {
        return b.size() >= 4 && b.s32le(0) == MAGIC;
    }

    static QedHeader parse(Bytes b, Path file) throws NotThisFormatException {
        if (b.size() < SIZE || !hasMagic(b)) {
            throw new NotThisFormatException("qed: " + file + " has no QED header");
        }
        return new QedHeader(b.u32le(0x04), b.u32le(0x08), b.u32le(0x0C), b.u64le(0x10), b.u64le(0x18),
                b.u64le(0x20), b.u64le(0x28), b.u64le(0x30), b.u32le(0x38), b.u32le(0x3C));
    }

    void write(Bytes b) {
        b.put32le(0x00, MAGIC);
        b.put32le(0x04, clusterSizeBytes);
        b.put32le(0x08, tableSizeClusters);
        b.put32le(0x0C, headerSizeClusters);
        b.put64le(0x10, features);
        b.put64le(0x18, compatFeatures);
        b.put64le(0x20, autoclearFeatures);
        b.put64le(0x28, l1TableOffset);
        b.put64le(0x30, imageSizeBytes);
        b.put32le(0x38, backingNameOffset);
        b.put32le(0x3C, backingNameSize);
    }

    long tableBytes() {
        return clusterSizeBytes * tableSizeClusters;
    }

    int tableEntries() {
        return (int) (tableBytes() / 8);
    }

    boolean hasBacking() {
        return (features & F_BACKING_FILE) != 0;
    }

    /** Checks every field against the spec's ranges and the file size. */
    void validate(Path file, long fileSize) throws CorruptImageException, UnsupportedFeatureException {
        long cs = clusterSizeBytes;
        if (Long.bitCount(cs) != 1 || cs < 4096 || cs > 64L << 20) {
            throw new CorruptImageException("qed", file, "header", 0x04, "cluster size " + cs
                    + " is not a power of two from 4 KiB to 64 MiB");
        }
        if (Long.bitCount(tableSizeClusters) != 1 || tableSizeClusters > 16) {
            throw new CorruptImageException("qed", file, "header", 0x08, "table size " + tableSizeClusters
                    + " is not a power of two from 1 to 16");
        }
        if ((features & ~F_KNOWN) != 0) {
            throw new UnsupportedFeatureException("qed: " + file + " uses unknown features 0x"
                    + Long.toHexString(features & ~F_KNOWN));
        }
        if (tableBytes() > MAX_TABLE_BYTES) {
            throw new UnsupportedFeatureException("qed: " + file + ": tables of " + tableBytes()
                    + " bytes exceed the supported " + MAX_TABLE_BYTES);
        }
        if (headerSizeClusters == 0 || headerSizeClusters * cs > fileSize) {
            throw new CorruptImageException("qed", file, "header", 0x0C, "header size of " + headerSizeClusters
                    + " clusters does not fit the file of " + fileSize + " bytes");
        }
        long entries = tableEntries();
        double max = (double) entries * entries * cs;
        if (imageSizeBytes < 0 || imageSizeBytes % 512 != 0 || imageSizeBytes > max) {
            throw new CorruptImageException("qed", file, "header", 0x30, "image size " + imageSizeBytes
                    + " (must be a multiple of 512, at most " + (long) Math.min(max, Long.MAX_VALUE) + ")");
        }
        if ((l1TableOffset & (cs - 1)) != 0 || l1TableOffset < headerSizeClusters * cs) {
            throw new CorruptImageException("qed", file, "header", 0x28, "L1 table offset 0x"
                    + Long.toHexString(l1TableOffset) + " is not a cluster-aligned position after the header");
        }
        if (l1TableOffset > fileSize - tableBytes()) {
            throw new TruncatedImageException("qed", file, "L1 table", l1TableOffset, tableBytes(), fileSize);
        }
        if (hasBacking() && (backingNameSize == 0 || backingNameSize > 1023
                || backingNameOffset > headerSizeClusters * cs - backingNameSize)) {
            throw new CorruptImageException("qed", file, "header", 0x38, "backing file name at 0x"
                    + Long.toHexString(backingNameOffset) + " of " + backingNameSize
                    + " bytes must lie in the header clusters and be 1..1023 bytes");
        }
    }
}
