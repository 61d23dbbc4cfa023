package org.vdmount.vd.format.qcow2;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.security.GeneralSecurityException;
import java.util.List;
import org.vdmount.vd.Bytes;
import org.vdmount.vd.CreateOption;
import org.vdmount.vd.CreateOptions;
import org.vdmount.vd.UnsupportedFeatureException;
import org.vdmount.vd.crypto.LuksWriter;
import org.vdmount.vd.crypto.StorageWindow;
import org.vdmount.vd.format.luks.LuksFormat;
import org.vdmount.vd.storage.FileStorage;
import org.vdmount.vd.storage.Preallocation;
import org.vdmount.vd.storage.StorageScope;

/**
 * Creates an empty qcow2 image: header cluster (with backing format and feature name extensions
 * and the backing file name), refcount table, the refcount blocks covering all of this, and a
 * zeroed L1 table — QEMU's layout. With {@code preallocation} other than off, L2 tables mapping
 * every cluster follow the L1 table and the data area follows them ({@link Preallocation} sets it
 * up). Options: {@code cluster_size} (512..2M, default 64K),
 * {@code compat} (0.10 = version 2, 1.1 = version 3, default), {@code refcount_bits} (1..64,
 * default 16), {@code extended_l2} (on/off, default off), {@code compression_type} (zlib, default, or
 * zstd: header byte 104 and the compression type feature bit), {@code preallocation}
 * (off, metadata, falloc, full), {@code lazy_refcounts} (on/off, default off).
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
    static final CreateOption ENCRYPT_FORMAT = CreateOption.choice("encrypt.format", null,
            "luks: data clusters encrypted, a LUKS1 header in the image (the password from --password-file); "
                    + "encrypt.cipher-alg, encrypt.cipher-mode, encrypt.ivgen-alg, encrypt.ivgen-hash-alg, "
                    + "encrypt.hash-alg, encrypt.iter-time as qemu's", "luks");
    static final CreateOption PREALLOCATION = CreateOption.choice("preallocation", "off",
            "off: clusters allocated as data is written; metadata: L2 tables map every cluster, the data area "
                    + "stays a hole; falloc: that, with the data area's space reserved (fallocate); full: that, with "
                    + "zeros written over the data area (a backing file needs extended_l2=on)",
            "off", "metadata", "falloc", "full");
    static final CreateOption LAZY_REFCOUNTS = CreateOption.flag("lazy_refcounts",
            "sets the lazy refcounts feature (compat=1.1): qemu may then defer refcount updates, leaving the dirty "
                    + "bit; this library keeps them exact and repairs a dirty image on a writable open");
    static final CreateOption DATA_FILE = CreateOption.text("data_file", null,
            "an external data file holding the guest data: created here, as large as the disk and sparse; recorded "
                    + "as given, relative to the image's directory (compat=1.1; it must not exist)");
    static final CreateOption DATA_FILE_RAW = CreateOption.flag("data_file_raw",
            "on: the data file is a raw image of the disk, every cluster mapped at its own offset (needs data_file)");
    static final String ENCRYPT_PREFIX = "encrypt.";
    static final List<CreateOption> OPTIONS = options();

    private static List<CreateOption> options() {
        List<CreateOption> all = new java.util.ArrayList<>(List.of(CLUSTER_SIZE, COMPAT, REFCOUNT_BITS, EXTENDED_L2,
                COMPRESSION_TYPE, PREALLOCATION, LAZY_REFCOUNTS, DATA_FILE, DATA_FILE_RAW, ENCRYPT_FORMAT));
        for (CreateOption o : LuksFormat.embeddedOptions()) {
            all.add(new CreateOption(ENCRYPT_PREFIX + o.name(), o.kind(), o.defaultValue(), o.choices(), o.help()));
        }
        return List.copyOf(all);
    }

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
        LuksWriter.Params luks = encryption(options);
        if (luks != null && options.parent() != null) {
            // qemu allows it, but a backing chain under an encrypted image is not written here
            throw new UnsupportedFeatureException("qcow2: encrypt.format=luks with a backing file is not supported");
        }
        long luksBytes = luks == null ? 0 : LuksWriter.payloadOffset(luks);
        long luksClusters = (luksBytes + cs - 1) / cs;
        boolean zstd = options.get(COMPRESSION_TYPE).equalsIgnoreCase("zstd");
        if (version == 2 && zstd) {
            throw new UnsupportedFeatureException("qcow2: compression_type=zstd needs compat=1.1");
        }
        Preallocation prealloc = Preallocation.of(options.get(PREALLOCATION));
        if (prealloc != Preallocation.OFF && luks != null) {
            throw new UnsupportedFeatureException("qcow2: preallocation=" + prealloc.optionValue()
                    + " with encrypt.format=luks is not supported");
        }
        if (prealloc != Preallocation.OFF && backing != null && !extL2) {
            // qemu's rule: preallocated clusters would hide the backing file's data unless extended L2's
            // subcluster bitmaps say they hold none yet
            throw new UnsupportedFeatureException("qcow2: a backing file and preallocation need extended_l2=on");
        }
        boolean lazy = options.flag(LAZY_REFCOUNTS);
        if (lazy && version == 2) {
            throw new UnsupportedFeatureException("qcow2: lazy_refcounts needs compat=1.1");
        }
        String dataFile = options.has(DATA_FILE) ? options.get(DATA_FILE) : null;
        boolean rawData = options.flag(DATA_FILE_RAW);
        checkDataFile(dataFile, rawData, version, luks != null, prealloc, backing != null);
        int incompat = (dataFile != null ? (int) Qcow2Header.INCOMPAT_DATA_FILE : 0)
                | (extL2 ? (int) Qcow2Header.INCOMPAT_EXTL2 : 0) | (zstd ? (int) Qcow2Header.INCOMPAT_COMPRESSION : 0);
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
        // preallocated (or a raw data file): every cluster of the disk mapped, its L2 tables after the
        // L1 table, then the data (in this file, or at its own offset in the raw data file)
        long mapped = prealloc != Preallocation.OFF || rawData ? (size + cs - 1) / cs : 0;
        long dataClusters = rawData ? 0 : mapped;
        int l2Entries = (int) (cs >> (extL2 ? 4 : 3));
        long l2Clusters = (mapped + l2Entries - 1) / l2Entries;
        long perBlock = cs * 8 / refBits;
        long tableGuess = 1;
        long blocksGuess = 1;
        while (true) {
            long total = 1 + luksClusters + tableGuess + blocksGuess + l1Clusters + l2Clusters + dataClusters;
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
        long luksAt = cs; // the LUKS header and key slots right after the header cluster
        long tableAt = luksAt + luksClusters * cs;
        long blocksAt = tableAt + tableClusters * cs;
        long l1At = blocksAt + blocks * cs;
        long l2At = l1At + l1Clusters * cs;
        long dataAt = l2At + l2Clusters * cs;
        long total = 1 + luksClusters + tableClusters + blocks + l1Clusters + l2Clusters + dataClusters;

        Bytes first = Bytes.allocate((int) cs);
        int extStart = version >= 3 ? Qcow2Header.WRITTEN_SIZE_V3 : Qcow2Header.SIZE_V2;
        byte[] name = backing == null ? new byte[0] : backing.getBytes(StandardCharsets.UTF_8);
        int formatExt = backingFormat == null ? 0 : 8 + ((backingFormat.length() + 7) & ~7);
        formatExt += dataFile == null ? 0 : 8 + ((dataFile.getBytes(StandardCharsets.UTF_8).length + 7) & ~7);
        int cryptoExt = luks == null ? 0 : 24;
        formatExt += cryptoExt;
        boolean names = version >= 3 && extStart + formatExt + HeaderExtensions.FEATURE_NAMES_BYTES + 8
                + name.length <= cs;
        if (name.length > Qcow2Header.MAX_BACKING_NAME || extStart + formatExt + 8 + name.length > cs) {
            throw new UnsupportedFeatureException("qcow2: backing file name of " + name.length
                    + " bytes does not fit the header cluster");
        }
        int end = writeExtensions(first, extStart, version, backingFormat, dataFile, names, luks == null ? 0 : luksAt,
                luksBytes);
        if (end + name.length > cs) {
            throw new UnsupportedFeatureException("qcow2: backing file name of " + name.length
                    + " bytes does not fit the header cluster");
        }
        first.putBytes(end, name);
        Qcow2Header h = new Qcow2Header(version, backing == null ? 0 : end, name.length, clusterBits, size,
                luks == null ? 0 : Qcow2Header.CRYPT_LUKS,
                l1Entries, l1At, tableAt, tableClusters, 0, 0, incompat, lazy ? Qcow2Header.COMPAT_LAZY_REFCOUNTS : 0,
                rawData ? Qcow2Header.AUTOCLEAR_DATA_FILE_RAW : 0, Integer.numberOfTrailingZeros(refBits),
                extStart, compressionType);
        h.write(first);

        Path data = dataFile == null ? null : path.toAbsolutePath().getParent().resolve(dataFile);
        if (data != null) {
            // the data file first, as large as the disk; it goes again if the image cannot be made
            if (java.nio.file.Files.exists(data, java.nio.file.LinkOption.NOFOLLOW_LINKS)) {
                throw new UnsupportedFeatureException("qcow2: data_file " + data + " already exists");
            }
            long diskSize = size;
            StorageScope.write(data, fs -> fs.truncate(diskSize));
        }
        Layout layout = new Layout(cs, tableAt, tableClusters, blocksAt, blocks, perBlock, total, refBits, l1Entries,
                l1At, l2At, l2Clusters, l2Entries, extL2, dataAt, dataClusters, rawData ? 0 : dataAt, mapped);
        try {
            writeImage(path, first, luks, luksAt, luksBytes, password(luks, options, path), prealloc, layout);
        } catch (IOException | RuntimeException e) {
            if (data != null) {
                java.nio.file.Files.deleteIfExists(data);
            }
            throw e;
        }
    }

    private static byte[] password(LuksWriter.Params luks, CreateOptions options, Path path) throws IOException {
        return luks == null ? null : options.secrets().password(path.toString());
    }

    /**
     * Where the new file's structures lie: the refcount table and blocks (every cluster of the file
     * has refcount 1), the L1 table, the L2 tables mapping {@code mapped} clusters from
     * {@code mapAt} on, and the preallocated data area.
     */
    private record Layout(long cs, long tableAt, long tableClusters, long blocksAt, long blocks, long perBlock,
                          long total, int refBits, long l1Entries, long l1At, long l2At, long l2Clusters, int l2Entries,
                          boolean extL2, long dataAt, long dataClusters, long mapAt, long mapped) {
    }

    /** Writes the image file: LUKS header, data area, refcounts, mapping tables, and the header last. */
    private static void writeImage(Path path, Bytes first, LuksWriter.Params luks, long luksAt, long luksBytes,
                                   byte[] password, Preallocation prealloc, Layout l) throws IOException {
        long cs = l.cs();
        StorageScope.write(path, fs -> {
            if (luks != null) {
                // the LUKS header first: the qcow2 header that points at it is written after it
                try {
                    LuksWriter.create(StorageWindow.writable(fs, luksAt, luksBytes), luks, password).cipher().close();
                } catch (GeneralSecurityException e) {
                    throw new UnsupportedFeatureException("qcow2: " + path + ": " + e.getMessage());
                }
            }
            prealloc.reserve("qcow2", fs, l.dataAt(), l.dataClusters() * cs);
            Bytes table = Bytes.allocate((int) (l.tableClusters() * cs));
            for (long b = 0; b < l.blocks(); b++) {
                table.put64be((int) (b * 8), l.blocksAt() + b * cs);
            }
            fs.write(table.buffer().duplicate().clear(), l.tableAt());
            Bytes block = Bytes.allocate((int) cs);
            long perBlock = l.perBlock();
            for (long b = 0; b < l.blocks(); b++) {
                block.fill(0, (int) cs, (byte) 0);
                for (long c = b * perBlock; c < Math.min(l.total(), (b + 1) * perBlock); c++) {
                    setOne(block, (int) (c - b * perBlock), l.refBits());
                }
                fs.write(block.buffer().duplicate().clear(), l.blocksAt() + b * cs);
            }
            if (l.l2Clusters() > 0) {
                writeMappingTables(fs, cs, l.l1Entries(), l.l1At(), l.l2At(), l.l2Clusters(), l.l2Entries(), l.extL2(),
                        l.mapAt(), l.mapped());
            }
            fs.truncate(l.total() * cs);
            // the header last: a create cut short leaves no image that looks whole
            fs.write(first.buffer().duplicate().clear(), 0);
        });
    }

    /**
     * Preallocation's L2 tables (at {@code l2At}, one after another) mapping virtual cluster i to
     * {@code dataAt + i * cs}, and the L1 table pointing at them; every cluster has refcount 1, so
     * all entries carry the COPIED flag (qcow2.txt "Cluster mapping"). Extended L2 entries leave the
     * subcluster bitmap empty, as qemu does: the clusters are reserved, the data is read from the
     * backing file (or as zeros) until written.
     */
    private static void writeMappingTables(FileStorage fs, long cs, long l1Entries, long l1At,
                                           long l2At, long l2Clusters, int l2Entries, boolean extL2, long dataAt,
                                           long dataClusters) throws IOException {
        Bytes l2 = Bytes.allocate((int) cs);
        int entryBytes = extL2 ? 16 : 8;
        for (long t = 0; t < l2Clusters; t++) {
            l2.fill(0, (int) cs, (byte) 0);
            for (int j = 0; j < l2Entries; j++) {
                long c = t * l2Entries + j;
                if (c >= dataClusters) {
                    break;
                }
                l2.put64be(j * entryBytes, (dataAt + c * cs) | Qcow2Image.COPIED);
            }
            fs.write(l2.buffer().duplicate().clear(), l2At + t * cs);
        }
        Bytes l1 = Bytes.allocate((int) (l1Entries * 8));
        for (long t = 0; t < l2Clusters; t++) {
            l1.put64be((int) (t * 8), (l2At + t * cs) | Qcow2Image.COPIED);
        }
        fs.write(l1.buffer().duplicate().clear(), l1At);
    }

    /** The LUKS header's parameters from the encrypt.* options, or null without encrypt.format. */
    private static LuksWriter.Params encryption(CreateOptions options) throws UnsupportedFeatureException {
        java.util.Map<String, String> luks = new java.util.LinkedHashMap<>();
        for (java.util.Map.Entry<String, String> e : options.options().entrySet()) {
            if (e.getKey().startsWith(ENCRYPT_PREFIX) && !e.getKey().equals(ENCRYPT_FORMAT.name())) {
                luks.put(e.getKey().substring(ENCRYPT_PREFIX.length()), e.getValue());
            }
        }
        if (!options.has(ENCRYPT_FORMAT)) {
            if (!luks.isEmpty()) {
                throw new UnsupportedFeatureException("qcow2: " + ENCRYPT_PREFIX + luks.keySet().iterator().next()
                        + " needs encrypt.format=luks");
            }
            return null;
        }
        return LuksFormat.embeddedParams(new CreateOptions(options.virtualSize(), luks, null, null));
    }

    /**
     * Refuses what a data file cannot go with: version 2 (no such feature), encryption and
     * preallocation (not written here), and a raw data file over a backing file (its every
     * cluster is mapped, so the backing file would never show).
     */
    private static void checkDataFile(String dataFile, boolean raw, int version, boolean luks, Preallocation prealloc,
                                      boolean backing) throws UnsupportedFeatureException {
        if (dataFile == null) {
            if (raw) {
                throw new UnsupportedFeatureException("qcow2: data_file_raw needs data_file");
            }
            return;
        }
        if (dataFile.isEmpty()) {
            throw new UnsupportedFeatureException("qcow2: data_file needs a file name");
        }
        if (version < 3) {
            throw new UnsupportedFeatureException("qcow2: data_file needs compat=1.1");
        }
        if (luks || prealloc != Preallocation.OFF) {
            throw new UnsupportedFeatureException("qcow2: data_file with " + (luks ? "encrypt.format" : "preallocation")
                    + " is not supported");
        }
        if (raw && backing) {
            throw new UnsupportedFeatureException("qcow2: data_file_raw=on maps every cluster, so a backing file "
                    + "would never show; use data_file_raw=off");
        }
    }

    private static int writeExtensions(Bytes b, int off, int version, String backingFormat, String dataFile,
                                       boolean names, long luksAt, long luksBytes) {
        int p = off;
        if (luksAt != 0) {
            // qcow2.txt "Full disk encryption header pointer": u64 offset, u64 length
            b.put32be(p, HeaderExtensions.CRYPTO).put32be(p + 4, 16).put64be(p + 8, luksAt).put64be(p + 16, luksBytes);
            p += 24;
        }
        if (backingFormat != null) {
            p = HeaderExtensions.putString(b, p, HeaderExtensions.BACKING_FORMAT, backingFormat);
        }
        if (dataFile != null) { // qcow2.txt "External data file name", after the backing format as QEMU puts it
            p = HeaderExtensions.putString(b, p, HeaderExtensions.DATA_FILE, dataFile);
        }
        if (version >= 3 && names) {
            p = HeaderExtensions.putFeatureNames(b, p);
        }
        b.put32be(p, HeaderExtensions.END).put32be(p + 4, 0);
        return p + 8;
    }

    private static void setOne(Bytes block, int i, int bits) {
        if (bits >= 8) {
            int n = bits / 8;
            block.put8(i * n + n - 1, 1);
        } else {
            int bit = i * bits;
            block.put8(bit >>> 3, block.u8(bit >>> 3) | 1 << (bit & 7));
        }
    }
}
