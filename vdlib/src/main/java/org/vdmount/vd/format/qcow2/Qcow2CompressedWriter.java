package org.vdmount.vd.format.qcow2;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.file.Path;
import java.util.Arrays;
import org.vdmount.vd.Bytes;
import org.vdmount.vd.CompressedWriter;
import org.vdmount.vd.CreateOptions;
import org.vdmount.vd.UnsupportedFeatureException;
import org.vdmount.vd.storage.FileStorage;

/**
 * Writes a new qcow2 image append-only with every cluster deflated, as {@code qemu-img convert -c}
 * does (qcow2.txt "Compressed Clusters Descriptor"). {@link Qcow2Creator} first makes the empty
 * image (header, refcount table and block, zeroed L1); then data clusters are appended in guest
 * order, each finished L2 table after the data it maps, and at {@link #finish} new refcount blocks
 * and table (in the creator's refcount clusters when they fit, else after everything), the L1
 * table in place, and last the header's refcount table pointer. The writable image code is not
 * involved.
 *
 * <p>A compressed cluster is raw deflate (no zlib header, 4 KiB window: compression type 0) or,
 * with {@code compression_type=zstd}, one zstd frame (type 1), made by {@link ClusterPacker}s,
 * one per thread that packs ({@link #pack}: the copy compresses in parallel, then
 * {@link #store}s in order); one whose compressed form is not smaller than a cluster is stored
 * plain, in a whole cluster of its own. Compressed clusters are packed byte by byte and may share
 * host clusters; a host cluster's refcount is the number of clusters (compressed or not, plus
 * tables) that touch it.
 */
final class Qcow2CompressedWriter implements CompressedWriter {
    private static final long COPIED = 1L << 63;
    private static final long COMPRESSED = 1L << 62;
    /** Extended L2 (qcow2.txt "Extended L2 Entries"): all 32 subclusters allocated. */
    private static final long ALL_SUBCLUSTERS = 0xFFFF_FFFFL;

    private final FileStorage fs;
    private final Path path;
    private final Qcow2Header header;
    private final Bytes headerCluster;
    private final int cs;
    private final int entryBytes;
    private final int l2Entries;
    private final int refBits;
    private final long maxRefcount;
    private final long[] l1;
    private final Bytes l2;
    private long l2Index = -1;
    private boolean l2Used;
    private long lastIndex = -1;
    /** The next free whole host cluster (the file's end, cluster-aligned). */
    private long end;
    /** Where the next compressed cluster may go inside a partly used host cluster, or 0 if none. */
    private long bytePos;
    /** Qcow2Creator's refcount structures, replaced at finish: clusters [freedFrom, freedTo). */
    private final long freedFrom;
    private final long freedTo;
    /** Reference count per host cluster (4 bytes each: 64 MiB for a 1 TiB image of 64 KiB clusters). */
    private int[] refcounts = new int[64];
    /** One compressor per thread that packs clusters ({@link #pack}); all of them, to close. */
    private final ThreadLocal<ClusterPacker> packers;
    private final java.util.List<ClusterPacker> allPackers = new java.util.ArrayList<>();
    /** {@link #write}'s packed bytes. */
    private final byte[] packed;

    private Qcow2CompressedWriter(FileStorage fs, Path path, Qcow2Header header, Bytes headerCluster) throws IOException {
        this.fs = fs;
        this.path = path;
        this.header = header;
        this.headerCluster = headerCluster;
        this.cs = (int) header.clusterSize();
        this.entryBytes = header.extendedL2() ? 16 : 8;
        this.l2Entries = cs / entryBytes;
        this.refBits = 1 << header.refcountOrder();
        this.maxRefcount = refBits >= 32 ? Integer.MAX_VALUE : (1L << refBits) - 1;
        this.l1 = new long[(int) header.l1Size()];
        this.l2 = Bytes.allocate(cs);
        this.packed = new byte[cs];
        boolean zstd = header.compressionType() == 1;
        this.packers = ThreadLocal.withInitial(() -> {
            ClusterPacker p = new ClusterPacker(cs, zstd);
            synchronized (allPackers) {
                allPackers.add(p);
            }
            return p;
        });
        this.end = fs.size();
        long created = end / cs;
        for (long c = 0; c < created; c++) {
            ref(c);
        }
        // Qcow2Creator's layout: refcount table, then its blocks, then the L1 table; those
        // refcount structures are replaced at finish and left free.
        this.freedFrom = header.refcountTableOffset() / cs;
        this.freedTo = header.l1TableOffset() / cs;
        for (long c = freedFrom; c < freedTo; c++) {
            refcounts[(int) c] = 0;
        }
    }

    /** Creates {@code path} as an empty qcow2 image ({@code options} already validated) and returns its writer. */
    static Qcow2CompressedWriter create(Path path, CreateOptions options) throws IOException {
        if (options.has(Qcow2Creator.DATA_FILE)) {
            throw new UnsupportedFeatureException("qcow2: compression with data_file is not supported (compressed "
                    + "clusters are stored in the image file; qemu refuses it too)");
        }
        Qcow2Creator.create(path, options);
        FileStorage fs = FileStorage.open(path, false);
        try {
            Bytes first = Bytes.allocate((int) Math.min(fs.size(), 2 << 20));
            fs.readFully(first.buffer().duplicate().clear(), 0, "qcow2", "header");
            Qcow2Header h = Qcow2Header.parse(first, path);
            first = first.size() > h.clusterSize() ? Bytes.of(Arrays.copyOf(array(first), (int) h.clusterSize())) : first;
            return new Qcow2CompressedWriter(fs, path, h, first);
        } catch (IOException | RuntimeException e) {
            fs.close();
            java.nio.file.Files.deleteIfExists(path);
            throw e;
        }
    }

    private static byte[] array(Bytes b) {
        byte[] a = new byte[b.size()];
        b.buffer().duplicate().clear().get(a);
        return a;
    }

    @Override
    public int clusterSize() {
        return cs;
    }

    @Override
    public long size() {
        return header.virtualSizeBytes();
    }

    @Override
    public long write(long index, ByteBuffer data) throws IOException {
        return store(index, data, packed, 0, pack(data, packed, 0));
    }

    /** Compresses a cluster in the calling thread's {@link ClusterPacker}; any number of threads at once. */
    @Override
    public int pack(ByteBuffer data, byte[] dst, int off) throws IOException {
        return packers.get().pack(data, dst, off);
    }

    @Override
    public long store(long index, ByteBuffer data, byte[] src, int off, int n) throws IOException {
        advanceTo(index);
        long entry;
        long second = 0;
        long stored;
        if (n < 0) {
            fs.write(data.duplicate().position(0).limit(cs), end);
            ref(end / cs);
            entry = end | COPIED;
            second = ALL_SUBCLUSTERS;
            stored = cs;
            end += cs;
        } else {
            long at = compressedPlace(n);
            fs.write(ByteBuffer.wrap(src, off, n), at);
            for (long c = at / cs; c <= (at + n - 1) / cs; c++) {
                ref(c);
            }
            // Compressed Clusters Descriptor: x = 62 - (cluster_bits - 8); bits 0..x-1 the host
            // offset, x..61 the number of 512-byte sectors beyond the one holding that offset.
            int x = 62 - (header.clusterBits() - 8);
            long extraSectors = ((at + n - 1) >> 9) - (at >> 9);
            entry = COMPRESSED | (extraSectors << x) | at;
            stored = n;
            end = Math.max(end, align(at + n));
            bytePos = (at + n) % cs == 0 ? 0 : at + n;
        }
        int slot = (int) (index % l2Entries) * entryBytes;
        l2.put64be(slot, entry);
        if (entryBytes == 16) {
            l2.put64be(slot + 8, second);
        }
        l2Used = true;
        return stored;
    }

    /** Checks that {@code index} comes after every cluster given so far; moves to its L2 table. */
    private void advanceTo(long index) throws IOException {
        if (index <= lastIndex || index >= (size() + cs - 1) / cs) {
            throw new IllegalArgumentException("qcow2: cluster " + index + " out of order or past the end");
        }
        lastIndex = index;
        long table = index / l2Entries;
        if (table != l2Index) {
            flushL2();
            l2Index = table;
        }
    }

    /**
     * A zero cluster (qcow2.txt "Standard Cluster Descriptor" bit 0, version 3; extended L2: every
     * subcluster's zero bit); version 2 has no zero flag, so a compressed cluster of zeros.
     */
    @Override
    public void writeZero(long index) throws IOException {
        if (header.version() < 3 && entryBytes == 8) {
            write(index, ByteBuffer.wrap(new byte[cs]));
            return;
        }
        advanceTo(index);
        int slot = (int) (index % l2Entries) * entryBytes;
        if (entryBytes == 16) {
            l2.put64be(slot, 0).put64be(slot + 8, ALL_SUBCLUSTERS << 32);
        } else {
            l2.put64be(slot, Qcow2Image.ZERO_FLAG);
        }
        l2Used = true;
    }

    /**
     * Where {@code n} compressed bytes go: right after the previous compressed cluster, as QEMU
     * packs them (qcow2_alloc_bytes), while that host cluster's refcount has room and the bytes
     * either fit in it or run on into the next free cluster; else at the next free cluster.
     */
    private long compressedPlace(int n) {
        if (bytePos == 0 || refcount(bytePos / cs) >= maxRefcount) {
            return end;
        }
        boolean fits = bytePos + n <= align(bytePos);
        return fits || align(bytePos) == end ? bytePos : end;
    }

    /** Appends the current L2 table (after the data it maps) and points the L1 entry at it. */
    private void flushL2() throws IOException {
        if (!l2Used) {
            return;
        }
        fs.write(l2.buffer().duplicate().clear(), end);
        ref(end / cs);
        l1[(int) l2Index] = end | COPIED;
        end += cs;
        l2.fill(0, cs, 0);
        l2Used = false;
    }

    @Override
    public void finish() throws IOException {
        flushL2();
        long hostClusters = end / cs;
        long perBlock = (long) cs * 8 / refBits;
        // The new refcount blocks and table go where the creator's were if they fit there, else
        // after everything (then covering themselves too).
        long blocks = (hostClusters + perBlock - 1) / perBlock;
        long tableClusters = (blocks * 8 + cs - 1) / cs;
        long blocksAt = freedFrom * cs;
        if (blocks + tableClusters > freedTo - freedFrom) {
            blocks = 1;
            tableClusters = 1;
            while (true) {
                long total = hostClusters + blocks + tableClusters;
                long needBlocks = (total + perBlock - 1) / perBlock;
                long needTable = (needBlocks * 8 + cs - 1) / cs;
                if (needBlocks == blocks && needTable == tableClusters) {
                    break;
                }
                blocks = needBlocks;
                tableClusters = needTable;
            }
            blocksAt = end;
        }
        long tableAt = blocksAt + blocks * cs;
        for (long c = blocksAt / cs; c < tableAt / cs + tableClusters; c++) {
            ref(c);
        }
        long used = Math.max(hostClusters, tableAt / cs + tableClusters);
        for (long b = 0; b < blocks; b++) {
            Bytes block = Bytes.allocate(cs);
            for (long c = b * perBlock; c < Math.min(used, (b + 1) * perBlock); c++) {
                putRefcount(block, (int) (c - b * perBlock), refcount(c));
            }
            fs.write(block.buffer().duplicate().clear(), blocksAt + b * cs);
        }
        Bytes table = Bytes.allocate((int) (tableClusters * cs));
        for (long b = 0; b < blocks; b++) {
            table.put64be((int) (b * 8), blocksAt + b * cs);
        }
        fs.write(table.buffer().duplicate().clear(), tableAt);
        Bytes l1Bytes = Bytes.allocate(l1.length * 8);
        for (int i = 0; i < l1.length; i++) {
            l1Bytes.put64be(i * 8, l1[i]);
        }
        fs.write(l1Bytes.buffer().duplicate().clear(), header.l1TableOffset());
        fs.force();
        Qcow2Header h = header;
        Qcow2Header done = new Qcow2Header(h.version(), h.backingFileOffset(), h.backingFileSize(), h.clusterBits(),
                h.virtualSizeBytes(), h.cryptMethod(), h.l1Size(), h.l1TableOffset(), tableAt, tableClusters,
                h.nbSnapshots(), h.snapshotsOffset(), h.incompatibleFeatures(), h.compatibleFeatures(),
                h.autoclearFeatures(), h.refcountOrder(), h.headerLength(), h.compressionType());
        done.write(headerCluster);
        fs.write(headerCluster.slice(0, done.headerEnd()), 0);
        fs.force();
    }

    @Override
    public void close() throws IOException {
        synchronized (allPackers) {
            allPackers.forEach(ClusterPacker::close);
            allPackers.clear();
        }
        fs.close();
    }

    private long align(long pos) {
        return (pos + cs - 1) / cs * cs;
    }

    private long refcount(long cluster) {
        return cluster < refcounts.length ? refcounts[(int) cluster] : 0;
    }

    private void ref(long cluster) throws UnsupportedFeatureException {
        if (cluster >= Integer.MAX_VALUE - 8) {
            throw new UnsupportedFeatureException("qcow2: " + path + " would need over 2^31 clusters; use larger clusters");
        }
        if (cluster >= refcounts.length) {
            refcounts = Arrays.copyOf(refcounts, (int) Math.max(cluster + 1, Math.min(Integer.MAX_VALUE - 8L,
                    refcounts.length * 2L)));
        }
        refcounts[(int) cluster]++;
    }

    /** Sets entry {@code i} of a refcount block (qcow2.txt "Refcount table": big-endian, sub-byte widths LSB first). */
    private void putRefcount(Bytes block, int i, long value) {
        if (refBits >= 8) {
            int n = refBits / 8;
            for (int k = 0; k < n; k++) {
                block.put8(i * n + k, (int) (value >>> (8 * (n - 1 - k))) & 0xFF);
            }
        } else {
            int bit = i * refBits;
            int b = block.u8(bit >>> 3) | (int) (value << (bit & 7));
            block.put8(bit >>> 3, b & 0xFF);
        }
    }
}
