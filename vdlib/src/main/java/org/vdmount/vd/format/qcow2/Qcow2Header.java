package org.vdmount.vd.format.qcow2;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.file.Path;
import org.vdmount.vd.Bytes;
import org.vdmount.vd.CorruptImageException;
import org.vdmount.vd.NotThisFormatException;
import org.vdmount.vd.UnsupportedFeatureException;
import org.vdmount.vd.storage.Storage;

/**
 * The qcow2 file header (docs/interop/qcow2.txt "Header"), big-endian, at offset 0. Version 2
 * ends at byte 72; version 3 carries feature bits, refcount order and header length, and from
 * byte 104 the compression type.
 */
record Qcow2Header(
        int version,                // 0x04 u32: 2 or 3
        long backingFileOffset,     // 0x08 u64: 0 = no backing file
        long backingFileSize,       // 0x10 u32: bytes, at most 1023
        int clusterBits,            // 0x14 u32
        long virtualSizeBytes,      // 0x18 u64
        long cryptMethod,           // 0x20 u32: 0 none, 1 AES, 2 LUKS
        long l1Size,                // 0x24 u32: entries of the active L1 table
        long l1TableOffset,         // 0x28 u64
        long refcountTableOffset,   // 0x30 u64
        long refcountTableClusters, // 0x38 u32
        long nbSnapshots,           // 0x3C u32
        long snapshotsOffset,       // 0x40 u64
        long incompatibleFeatures,  // 0x48 u64 (v3)
        long compatibleFeatures,    // 0x50 u64 (v3)
        long autoclearFeatures,     // 0x58 u64 (v3)
        int refcountOrder,          // 0x60 u32 (v3; 4 for v2)
        int headerLength,           // 0x64 u32 (v3; 72 for v2)
        int compressionType) {      // 0x68 u8  (v3 with header_length > 104; 0 = zlib)

    static final int MAGIC = 0x514649fb; // "QFI\xfb"
    static final int SIZE_V2 = 72;
    static final int SIZE_V3 = 104;
    /** What we write for version 3: the compression type byte padded to a multiple of 8. */
    static final int WRITTEN_SIZE_V3 = 112;

    static final int OFF_L1_TABLE = 0x28;
    static final int OFF_REFCOUNT_TABLE = 0x30;
    static final int OFF_INCOMPATIBLE = 0x48;
    static final int OFF_COMPATIBLE = 0x50;
    static final int OFF_AUTOCLEAR = 0x58;

    /**
     * Writes one of the three feature words (version 3: incompatible at {@link #OFF_INCOMPATIBLE},
     * compatible at {@link #OFF_COMPATIBLE}, autoclear at {@link #OFF_AUTOCLEAR}) in place and
     * forces it to disk.
     */
    static void writeFeatures(Storage storage, int offset, long bits) throws IOException {
        ByteBuffer b = ByteBuffer.allocate(8);
        Bytes.of(b.array()).put64be(0, bits);
        storage.write(b, offset);
        storage.force();
    }

    // incompatible feature bits
    static final long INCOMPAT_DIRTY = 1L;
    static final long INCOMPAT_CORRUPT = 1L << 1;
    static final long INCOMPAT_DATA_FILE = 1L << 2;
    static final long INCOMPAT_COMPRESSION = 1L << 3;
    static final long INCOMPAT_EXTL2 = 1L << 4;
    static final long INCOMPAT_KNOWN = 0x1F;
    // compatible and autoclear bits
    static final long COMPAT_LAZY_REFCOUNTS = 1L;
    static final long AUTOCLEAR_BITMAPS = 1L;
    static final long AUTOCLEAR_DATA_FILE_RAW = 1L << 1;

    static final int MIN_CLUSTER_BITS = 9;
    static final int MAX_CLUSTER_BITS = 21;     // QEMU's 2 MiB limit
    static final long MAX_L1_BYTES = 32L << 20;  // QEMU's limit
    static final long MAX_REFTABLE_BYTES = 8L << 20;
    static final long MAX_VIRTUAL_SIZE = 1L << 61;
    static final int MAX_BACKING_NAME = 1023;
    static final long MAX_SNAPSHOTS = 65536;

    static boolean hasMagic(Bytes b) {
        return b.size() >= 8 && b.s32be(0) == MAGIC;
    }

    /** Parses the fixed fields; {@code b} holds at least the first {@code SIZE_V2} bytes. */
    static Qcow2Header parse(Bytes b, Path file)
            throws CorruptImageException, NotThisFormatException, UnsupportedFeatureException {
        if (!hasMagic(b)) {
            throw new NotThisFormatException("qcow2: " + file + " has no QFI\\xfb signature");
        }
        int version = b.s32be(0x04);
        if (version != 2 && version != 3) {
            throw new UnsupportedFeatureException("qcow2: " + file + " is qcow version "
                    + Integer.toUnsignedString(version) + " (header offset 0x4); versions 1, 2 and 3 are supported");
        }
        long incompat = 0;
        long compat = 0;
        long autoclear = 0;
        int refcountOrder = 4;
        int headerLength = SIZE_V2;
        int compressionType = 0;
        if (version >= 3) {
            if (b.size() < SIZE_V3) {
                throw new CorruptImageException("qcow2", file, "header", 0, "version 3 header needs "
                        + SIZE_V3 + " bytes, file has " + b.size());
            }
            incompat = b.u64be(0x48);
            compat = b.u64be(0x50);
            autoclear = b.u64be(0x58);
            long order = b.u32be(0x60);
            long len = b.u32be(0x64);
            if (order > 6) {
                throw new CorruptImageException("qcow2", file, "header", 0x60, "refcount_order " + order + " > 6");
            }
            if (len < SIZE_V3 || len % 8 != 0 || len > b.size()) {
                throw new CorruptImageException("qcow2", file, "header", 0x64, "header_length " + len
                        + " (must be >= 104, a multiple of 8, inside the first cluster)");
            }
            refcountOrder = (int) order;
            headerLength = (int) len;
            if (headerLength > 104) {
                compressionType = b.u8(0x68);
            }
        }
        long clusterBits = b.u32be(0x14);
        return new Qcow2Header(version, b.u64be(0x08), b.u32be(0x10),
                (int) Math.min(clusterBits, Integer.MAX_VALUE), b.u64be(0x18), b.u32be(0x20), b.u32be(0x24),
                b.u64be(0x28), b.u64be(0x30), b.u32be(0x38), b.u32be(0x3C), b.u64be(0x40),
                incompat, compat, autoclear, refcountOrder, headerLength, compressionType);
    }

    /**
     * Checks every field against the file size and the implementation limits: nothing later
     * allocates or loops by an unchecked header value.
     */
    /** crypt_method 2: LUKS, its header where the 0x0537be77 extension points (qcow2.txt). */
    static final long CRYPT_LUKS = 2;

    void validate(Path file, long fileSize, HeaderExtensions ext) throws java.io.IOException {
        if (clusterBits < MIN_CLUSTER_BITS || clusterBits > MAX_CLUSTER_BITS) {
            throw new CorruptImageException("qcow2", file, "header", 0x14, "cluster_bits " + clusterBits
                    + " outside " + MIN_CLUSTER_BITS + ".." + MAX_CLUSTER_BITS);
        }
        if (cryptMethod != 0 && cryptMethod != CRYPT_LUKS) {
            String kind = cryptMethod == 1 ? "AES" : "method " + cryptMethod;
            throw new UnsupportedFeatureException("qcow2: " + file + " is encrypted (" + kind
                    + "); encrypted images are not supported (their data would be ciphertext)");
        }
        long unknown = incompatibleFeatures & ~INCOMPAT_KNOWN;
        if (unknown != 0) {
            throw new UnsupportedFeatureException("qcow2: " + file + " uses unknown incompatible features: "
                    + ext.describeIncompatible(unknown));
        }
        if (extendedL2() && clusterBits < 14) {
            throw new CorruptImageException("qcow2", file, "header", 0x14, "extended L2 entries need clusters of "
                    + "at least 16 KiB, cluster_bits is " + clusterBits);
        }
        if ((incompatibleFeatures & INCOMPAT_COMPRESSION) != 0) {
            if (compressionType == 0) {
                throw new CorruptImageException("qcow2", file, "header", 0x68,
                        "compression type bit set but compression_type is 0");
            }
        } else if (compressionType != 0) {
            throw new CorruptImageException("qcow2", file, "header", 0x68, "compression_type "
                    + compressionType + " without the compression type feature bit");
        }
        if (compressionType > 1) {
            throw new UnsupportedFeatureException("qcow2: " + file + " uses unknown compression type "
                    + compressionType);
        }
        if (virtualSizeBytes < 0 || virtualSizeBytes > MAX_VIRTUAL_SIZE) {
            throw new CorruptImageException("qcow2", file, "header", 0x18, "virtual size " + virtualSizeBytes
                    + " outside 0.." + MAX_VIRTUAL_SIZE);
        }
        long cs = clusterSize();
        if (l1Size * 8 > MAX_L1_BYTES) {
            throw new UnsupportedFeatureException("qcow2: " + file + ": L1 table of " + l1Size
                    + " entries exceeds the limit of " + MAX_L1_BYTES / 8);
        }
        long needed = l1EntriesFor(virtualSizeBytes);
        if (l1Size < needed) {
            throw new CorruptImageException("qcow2", file, "header", 0x24, "l1_size " + l1Size + " < " + needed
                    + " entries needed for virtual size " + virtualSizeBytes);
        }
        checkTable(file, fileSize, "L1 table", 0x28, l1TableOffset, l1Size * 8, l1Size > 0);
        if (refcountTableClusters == 0 || refcountTableClusters * cs > MAX_REFTABLE_BYTES) {
            throw new CorruptImageException("qcow2", file, "header", 0x38, "refcount_table_clusters "
                    + refcountTableClusters + " (must be 1.." + MAX_REFTABLE_BYTES / cs + ")");
        }
        checkTable(file, fileSize, "refcount table", 0x30, refcountTableOffset, refcountTableClusters * cs, true);
        if (nbSnapshots > MAX_SNAPSHOTS) {
            throw new CorruptImageException("qcow2", file, "header", 0x3C, "nb_snapshots " + nbSnapshots
                    + " > " + MAX_SNAPSHOTS);
        }
        checkTable(file, fileSize, "snapshot table", 0x40, snapshotsOffset, 40 * nbSnapshots, nbSnapshots > 0);
        if (backingFileOffset != 0) {
            if (backingFileSize > MAX_BACKING_NAME || backingFileSize == 0
                    || backingFileOffset < 0 || backingFileOffset > Math.min(cs, fileSize) - backingFileSize) {
                throw new CorruptImageException("qcow2", file, "header", 0x08, "backing file name at 0x"
                        + Long.toHexString(backingFileOffset) + " of " + backingFileSize
                        + " bytes must lie in the first cluster and be 1.." + MAX_BACKING_NAME + " bytes");
            }
        }
    }

    private void checkTable(Path file, long fileSize, String what, int field, long offset, long bytes,
                            boolean present) throws CorruptImageException {
        if (!present) {
            return;
        }
        long cs = clusterSize();
        if (offset <= 0 || (offset & (cs - 1)) != 0) {
            throw new CorruptImageException("qcow2", file, "header", field, what + " offset 0x"
                    + Long.toHexString(offset) + " is not a cluster-aligned position after the header");
        }
        if (offset > fileSize || bytes > fileSize - offset) {
            throw new org.vdmount.vd.TruncatedImageException("qcow2", file, what, offset, bytes, fileSize);
        }
    }

    long clusterSize() {
        return 1L << clusterBits;
    }

    /** This header after a refcount repair: the new refcount table, the dirty bit cleared. */
    Qcow2Header repaired(long newRefcountTableOffset, long newRefcountTableClusters) {
        return new Qcow2Header(version, backingFileOffset, backingFileSize, clusterBits, virtualSizeBytes,
                cryptMethod, l1Size, l1TableOffset, newRefcountTableOffset, newRefcountTableClusters, nbSnapshots,
                snapshotsOffset, incompatibleFeatures & ~INCOMPAT_DIRTY, compatibleFeatures, autoclearFeatures,
                refcountOrder, headerLength, compressionType);
    }

    boolean extendedL2() {
        return (incompatibleFeatures & INCOMPAT_EXTL2) != 0;
    }

    boolean externalDataFile() {
        return (incompatibleFeatures & INCOMPAT_DATA_FILE) != 0;
    }

    boolean dirty() {
        return (incompatibleFeatures & INCOMPAT_DIRTY) != 0;
    }

    boolean corrupt() {
        return (incompatibleFeatures & INCOMPAT_CORRUPT) != 0;
    }

    /** L2 entries per table: 8-byte entries, or 16-byte with extended L2. */
    int l2Bits() {
        return clusterBits - (extendedL2() ? 4 : 3);
    }

    long l1EntriesFor(long size) {
        int shift = clusterBits + l2Bits();
        return (size + (1L << shift) - 1) >>> shift;
    }

    int headerEnd() {
        return version >= 3 ? headerLength : SIZE_V2;
    }

    /** Writes the fixed fields (v2: 72 bytes, v3: {@code headerLength} bytes) into {@code b}. */
    void write(Bytes b) {
        b.put32be(0x00, MAGIC);
        b.put32be(0x04, version);
        b.put64be(0x08, backingFileOffset);
        b.put32be(0x10, backingFileSize);
        b.put32be(0x14, clusterBits);
        b.put64be(0x18, virtualSizeBytes);
        b.put32be(0x20, cryptMethod);
        b.put32be(0x24, l1Size);
        b.put64be(0x28, l1TableOffset);
        b.put64be(0x30, refcountTableOffset);
        b.put32be(0x38, refcountTableClusters);
        b.put32be(0x3C, nbSnapshots);
        b.put64be(0x40, snapshotsOffset);
        if (version >= 3) {
            b.put64be(0x48, incompatibleFeatures);
            b.put64be(0x50, compatibleFeatures);
            b.put64be(0x58, autoclearFeatures);
            b.put32be(0x60, refcountOrder);
            b.put32be(0x64, headerLength);
            if (headerLength > 104) {
                b.fill(0x68, headerLength - 0x68, 0);
                b.put8(0x68, compressionType);
            }
        }
    }
}
