package org.vdmount.vd.format.qcow2;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.List;
import org.vdmount.vd.Bytes;
import org.vdmount.vd.CreateOption;
import org.vdmount.vd.CreateOptions;
import org.vdmount.vd.UnsupportedFeatureException;
import org.vdmount.vd.storage.StorageScope;

/**
 * Creates an empty qcow2 image: header cluster (with backing format and feature name extensions
 * and the backing file name), refcount table, the refcount blocks covering all of this, and a
 * zeroed L1 table — QEMU's layout. Options: {@code cluster_size} (512..2M, default 64K),
 * {@code compat} (0.10 = version 2, 1.1 = version 3, default), {@code refcount_bits} (1..64,
 * default 16), {@code extended_l2} (on/off, default off), {@code compression_type} (zlib, default, or
 * zstd: header byte 104 and the compression type feature bit).
 */
final class Qcow2Creator {
    static final CreateOption CLUSTER_SIZE = CreateOption.size("cluster_size", "64K",
            "cluster size, a power of two from 512 to 2M");
    static final CreateOption COMPAT = CreateOption.choice("compat", "1.1",
            "qcow2 version: 0.10 (v2) or 1.1 (v3, zero clusters and extensions)", "0.10", "1.1", "v2", "v3");
    static final CreateOption REFCOUNT_BITS = CreateOption.number("refcount_bits", "16",
            "width of a reference count: 1, 2, 4, 8, 16, 32 or 64 (compat=1.1 for other than 16)");
    static final CreateOption EXTENDED_L2 = CreateOption.flag("extended_l2",
            "32 subclusters per cluster (compat=1.1, cluster_size of 16K or more)");
    static final CreateOption COMPRESSION_TYPE = CreateOption.choice("compression_type", "zlib",
            "how compressed clusters are encoded: zlib or zstd (compat=1.1 for zstd)", "zlib", "zstd");
    static final List<CreateOption> OPTIONS = List.of(CLUSTER_SIZE, COMPAT, REFCOUNT_BITS, EXTENDED_L2,
            COMPRESSION_TYPE);

    private Qcow2Creator() {
    }

    static void create(Path path, CreateOptions options) throws IOException {
        long cs = options.size(CLUSTER_SIZE);
        if (Long.bitCount(cs) != 1 || cs < 512 || cs > 2 << 20) {
            throw new UnsupportedFeatureException("qcow2: cluster_size must be a power of two from 512 to 2M, not "
                    + options.get(CLUSTER_SIZE));
        }
        int clusterBits = Long.numberOfTrailingZeros(cs);
        String compat = options.get(COMPAT);
        int version = switch (compat) {
            case "0.10", "v2" -> 2;
            case "1.1", "v3" -> 3;
            default -> throw new UnsupportedFeatureException("qcow2: compat must be 0.10 or 1.1, not " + compat);
        };
        boolean extL2 = options.flag(EXTENDED_L2);
        long refBitsOption = options.number(REFCOUNT_BITS);
        if (Long.bitCount(refBitsOption) != 1 || refBitsOption > 64) {
            throw new UnsupportedFeatureException("qcow2: refcount_bits must be 1, 2, 4, 8, 16, 32 or 64, not "
                    + refBitsOption);
        }
        int refBits = (int) refBitsOption;
        if (version == 2 && (refBits != 16 || extL2)) {
            throw new UnsupportedFeatureException("qcow2: compat=0.10 supports only refcount_bits=16 and no "
                    + "extended_l2");
        }
        if (extL2 && cs < 16 * 1024) {
            throw new UnsupportedFeatureException("qcow2: extended_l2 needs cluster_size of at least 16K");
        }
        long size = options.virtualSize();
        String backing = null;
        String backingFormat = null;
        if (options.parent() != null) {
            if (options.parentPath() == null) {
                throw new UnsupportedFeatureException("qcow2: a backing file needs its path");
            }
            backing = options.parentPath().toString();
            backingFormat = Qcow2Opener.qemuFormatName(options.parent().top().format().name());
            if (size == 0) {
                size = options.parent().size();
            }
        }
        if (size < 0 || size > Qcow2Header.MAX_VIRTUAL_SIZE) {
            throw new UnsupportedFeatureException("qcow2: virtual size " + size + " out of range");
        }
        size = (size + 511) & ~511L; // whole sectors, as qemu-img rounds it
        boolean zstd = options.get(COMPRESSION_TYPE).equalsIgnoreCase("zstd");
        if (version == 2 && zstd) {
            throw new UnsupportedFeatureException("qcow2: compression_type=zstd needs compat=1.1");
        }
        int incompat = (extL2 ? (int) Qcow2Header.INCOMPAT_EXTL2 : 0)
                | (zstd ? (int) Qcow2Header.INCOMPAT_COMPRESSION : 0);
        int compressionType = zstd ? 1 : 0;
        Qcow2Header probe = new Qcow2Header(version, 0, 0, clusterBits, size, 0, 0, 0, 0, 1, 0, 0, incompat, 0, 0,
                Integer.numberOfTrailingZeros(refBits), version >= 3 ? Qcow2Header.WRITTEN_SIZE_V3 : Qcow2Header.SIZE_V2,
                0);
        long l1Entries = Math.max(1, probe.l1EntriesFor(size));
        if (l1Entries * 8 > Qcow2Header.MAX_L1_BYTES) {
            throw new UnsupportedFeatureException("qcow2: virtual size " + size + " needs an L1 table over "
                    + (Qcow2Header.MAX_L1_BYTES >> 20) + " MiB with cluster_size " + cs + "; use larger clusters");
        }
        long l1Clusters = (l1Entries * 8 + cs - 1) / cs;
        long perBlock = cs * 8 / refBits;
        long tableGuess = 1;
        long blocksGuess = 1;
        while (true) {
            long total = 1 + tableGuess + blocksGuess + l1Clusters;
            long needBlocks = (total + perBlock - 1) / perBlock;
            long needTable = (needBlocks * 8 + cs - 1) / cs;
            if (needBlocks == blocksGuess && needTable == tableGuess) {
                break;
            }
            blocksGuess = needBlocks;
            tableGuess = needTable;
        }
        long tableClusters = tableGuess;
        long blocks = blocksGuess;
        long tableAt = cs;
        long blocksAt = tableAt + tableClusters * cs;
        long l1At = blocksAt + blocks * cs;
        long total = 1 + tableClusters + blocks + l1Clusters;

        Bytes first = Bytes.allocate((int) cs);
        int extStart = version >= 3 ? Qcow2Header.WRITTEN_SIZE_V3 : Qcow2Header.SIZE_V2;
        byte[] name = backing == null ? new byte[0] : backing.getBytes(StandardCharsets.UTF_8);
        int formatExt = backingFormat == null ? 0 : 8 + ((backingFormat.length() + 7) & ~7);
        boolean names = version >= 3 && extStart + formatExt + HeaderExtensions.FEATURE_NAMES_BYTES + 8
                + name.length <= cs;
        if (name.length > Qcow2Header.MAX_BACKING_NAME || extStart + formatExt + 8 + name.length > cs) {
            throw new UnsupportedFeatureException("qcow2: backing file name of " + name.length
                    + " bytes does not fit the header cluster");
        }
        int end = writeExtensions(first, extStart, version, backingFormat, names);
        if (end + name.length > cs) {
            throw new UnsupportedFeatureException("qcow2: backing file name of " + name.length
                    + " bytes does not fit the header cluster");
        }
        first.putBytes(end, name);
        Qcow2Header h = new Qcow2Header(version, backing == null ? 0 : end, name.length, clusterBits, size, 0,
                l1Entries, l1At, tableAt, tableClusters, 0, 0, incompat, 0, 0, Integer.numberOfTrailingZeros(refBits),
                extStart, compressionType);
        h.write(first);

        long tableCount = tableClusters;
        long blockCount = blocks;
        StorageScope.write(path, fs -> {
            fs.write(first.buffer().duplicate().clear(), 0);
            Bytes table = Bytes.allocate((int) (tableCount * cs));
            for (long b = 0; b < blockCount; b++) {
                table.put64be((int) (b * 8), blocksAt + b * cs);
            }
            fs.write(table.buffer().duplicate().clear(), tableAt);
            for (long b = 0; b < blockCount; b++) {
                byte[] block = new byte[(int) cs];
                for (long c = b * perBlock; c < Math.min(total, (b + 1) * perBlock); c++) {
                    setOne(block, (int) (c - b * perBlock), refBits);
                }
                fs.write(ByteBuffer.wrap(block), blocksAt + b * cs);
            }
            fs.truncate(total * cs);
        });
    }

    private static int writeExtensions(Bytes b, int off, int version, String backingFormat, boolean names) {
        int p = off;
        if (backingFormat != null) {
            p = HeaderExtensions.putString(b, p, HeaderExtensions.BACKING_FORMAT, backingFormat);
        }
        if (version >= 3 && names) {
            p = HeaderExtensions.putFeatureNames(b, p);
        }
        b.put32be(p, HeaderExtensions.END).put32be(p + 4, 0);
        return p + 8;
    }

    private static void setOne(byte[] block, int i, int bits) {
        if (bits >= 8) {
            int n = bits / 8;
            block[i * n + n - 1] = 1;
        } else {
            int bit = i * bits;
            block[bit >>> 3] |= (byte) (1 << (bit & 7));
        }
    }
}
