package org.vdmount.vd.format.qcow2;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.vdmount.vd.CorruptImageException;
import org.vdmount.vd.HostLocation;
import org.vdmount.vd.ImageFormat;
import org.vdmount.vd.ParentReference;
import org.vdmount.vd.ReadOnlyException;
import org.vdmount.vd.Run;
import org.vdmount.vd.TruncatedImageException;
import org.vdmount.vd.WriteResult;
import org.vdmount.vd.format.common.ImageBase;
import org.vdmount.vd.storage.Storage;
import org.vdmount.vd.table.TableCache;
import org.vdmount.vd.table.Tables;

/**
 * One opened qcow2 layer (the active state, or an internal snapshot read-only). The read path
 * ({@link #map}, {@link #readData}) takes no lock: the L1 table is an array read with acquire
 * semantics and L2 tables come from the lock-free {@link TableCache}. Writes go to {@link Qcow2Writer}.
 * One block = one cluster; with extended L2 entries the fill unit is one subcluster.
 */
final class Qcow2Image extends ImageBase {
    static final long OFFSET_MASK = 0x00ff_ffff_ffff_fe00L; // bits 9-55 of L1/L2 entries
    static final long COPIED = 1L << 63;
    static final long COMPRESSED = 1L << 62;
    static final long ZERO_FLAG = 1L;

    final Storage dataStorage;           // == storage unless an external data file is used
    final Path path;
    /** The header as on disk; a compaction that moves the snapshot table reads it again. */
    volatile Qcow2Header header;
    final HeaderExtensions ext;
    final int clusterBits;
    final long clusterSize;
    final int l2Bits;
    final boolean extL2;
    final int subclusterBits;            // log2 of the subcluster size (== clusterBits without extL2)
    final boolean externalData;
    /** Where the active L1 table is; compaction moves it ({@link Qcow2Writer#switchL1}). */
    volatile long l1Offset;
    final long[] l1;
    final TableCache<L2Table> cache;       // keyed by host offset; dirty tables are held until flush
    final ParentReference parent;
    /** The snapshot table; replaced when compaction moves it ({@link Qcow2Snapshots#compactTables}). */
    volatile List<Qcow2Snapshot> snapshots;
    final String snapshotName;           // non-null when this is a snapshot view
    private final boolean zstd;
    private final int csizeShift;
    private final long csizeMask;
    private final ThreadLocal<ClusterDecompressor> decompressors;
    /** Bumped whenever host clusters are freed, so per-thread decompressed copies go stale. */
    volatile long generation;
    /** The image file's size as far as this process knows (open size, grown by our writes). */
    private volatile long knownEnd;
    final Qcow2Writer writer;            // null when read-only
    /** The most one write may cover (a power of two): 8 MiB, twice the chunk `vd convert` copies. */
    static final long MAX_WRITE_RUN = 8L << 20;

    Qcow2Image(ImageFormat format, Storage storage, Storage dataStorage, Qcow2Header header, HeaderExtensions ext,
               ParentReference parent, List<Qcow2Snapshot> snapshots, String snapshotName, long virtualSize,
               long l1Offset, long[] l1, int cacheTables) throws IOException {
        super(format, storage, storage.readOnly(), virtualSize, 1L << header.clusterBits());
        this.dataStorage = dataStorage;
        this.path = storage.path();
        this.header = header;
        this.ext = ext;
        this.clusterBits = header.clusterBits();
        this.clusterSize = 1L << clusterBits;
        this.l2Bits = header.l2Bits();
        this.extL2 = header.extendedL2();
        this.subclusterBits = extL2 ? clusterBits - 5 : clusterBits;
        this.externalData = header.externalDataFile();
        this.l1Offset = l1Offset;
        this.l1 = l1;
        this.parent = parent;
        this.snapshots = snapshots;
        this.snapshotName = snapshotName;
        this.zstd = header.compressionType() == 1;
        this.csizeShift = 62 - (clusterBits - 8);
        this.csizeMask = (1L << (clusterBits - 8)) - 1;
        int cs = (int) clusterSize;
        this.decompressors = ThreadLocal.withInitial(() -> new ClusterDecompressor(cs));
        this.cache = new TableCache<>(cacheTables, this::loadL2);
        this.knownEnd = storage.size();
        this.writer = storage.readOnly() ? null : new Qcow2Writer(this);
    }

    // ---- tables -------------------------------------------------------------------------------

    long l1Entry(int i) {
        return Tables.get(l1, i);
    }

    void setL1Entry(int i, long v) {
        Tables.set(l1, i, v);
    }

    int l2Words() {
        return (int) (clusterSize / 8);
    }

    private L2Table loadL2(long hostOffset) throws IOException {
        long fileSize = storage.size();
        if (hostOffset + clusterSize > fileSize) {
            if (storage.zeroTail() && !externalData) {
                return L2Table.lost(hostOffset, l2Words(), extL2);
            }
            throw new TruncatedImageException("qcow2", path, "L2 table", hostOffset, clusterSize, fileSize);
        }
        ByteBuffer raw = ByteBuffer.allocate((int) clusterSize);
        storage.readFully(raw, hostOffset, "qcow2", "L2 table");
        raw.flip();
        return L2Table.parse(hostOffset, raw, l2Words());
    }

    /** The L2 table for L1 index {@code l1i}, or null if none is allocated. */
    L2Table l2For(int l1i) throws IOException {
        long e = l1Entry(l1i);
        long off = e & OFFSET_MASK;
        if (off == 0) {
            return null;
        }
        if ((off & (clusterSize - 1)) != 0) {
            throw new CorruptImageException("qcow2", path, "L1 table", l1Offset + l1i * 8L, "L2 table offset 0x"
                    + Long.toHexString(off) + " is not cluster-aligned");
        }
        return cache.get(off);
    }

    int l1Index(long offset) {
        return (int) (offset >>> (clusterBits + l2Bits));
    }

    int l2Index(long offset) {
        return (int) ((offset >>> clusterBits) & ((1L << l2Bits) - 1));
    }

    // ---- compressed clusters ------------------------------------------------------------------

    boolean compressed(long entry) {
        return (entry & COMPRESSED) != 0;
    }

    long compressedOffset(long entry) {
        return entry & ((1L << csizeShift) - 1);
    }

    /** Bytes from the compressed data's start to the end of its last 512-byte sector. */
    long compressedLength(long entry) {
        long off = compressedOffset(entry);
        long sectors = ((entry >>> csizeShift) & csizeMask) + 1;
        return (off & ~511L) + sectors * 512 - off;
    }

    /**
     * A compressed cluster descriptor (qcow2.txt "Compressed Clusters Descriptor"): host offset
     * {@code at} in bits 0..x-1, the 512-byte sectors beyond the one holding {@code at} that
     * {@code bytes} reach in bits x..61, bit 62 set, COPIED clear.
     */
    long compressedEntry(long at, long bytes) {
        long extraSectors = ((at & 511) + bytes + 511) / 512 - 1;
        return COMPRESSED | (extraSectors << csizeShift) | at;
    }

    /** Decompresses the cluster of {@code entry} into this thread's buffer and returns it. */
    ClusterDecompressor decompress(long entry, long l2Offset) throws IOException {
        ClusterDecompressor d = decompressors.get();
        long gen = generation;
        if (d.cachedDescriptor == entry && d.cachedGeneration == gen) {
            return d;
        }
        d.cachedDescriptor = -1;
        if (Qcow2Encryption.encrypted(dataStorage)) {
            throw new CorruptImageException("qcow2", path, "L2 table", l2Offset,
                    "compressed cluster in an encrypted image (qemu writes none)");
        }
        if (externalData) {
            throw new CorruptImageException("qcow2", path, "L2 table", l2Offset,
                    "compressed cluster in an image with an external data file");
        }
        long off = compressedOffset(entry);
        long fileSize = storage.size();
        if (off >= fileSize) {
            throw new TruncatedImageException("qcow2", path, "compressed cluster", off, compressedLength(entry), fileSize);
        }
        int len = (int) Math.min(compressedLength(entry), fileSize - off);
        d.input.clear().limit(len);
        storage.readFully(d.input, off, "qcow2", "compressed cluster");
        if (!d.decompress(len, (int) clusterSize, zstd)) {
            throw new CorruptImageException("qcow2", path, "compressed cluster", off, (zstd ? "zstd" : "deflate")
                    + " data of " + len + " bytes does not decompress to one cluster of " + clusterSize + " bytes");
        }
        d.cachedDescriptor = entry;
        d.cachedGeneration = gen;
        return d;
    }

    // ---- Image: read path ---------------------------------------------------------------------

    @Override
    public long map(long offset, long maxLength) throws IOException {
        int inCluster = (int) (offset & (clusterSize - 1));
        long len = Math.min(maxLength, clusterSize - inCluster);
        L2Table t = l2For(l1Index(offset));
        int i = l2Index(offset);
        if (t == null) {
            // no L2 table: the whole span of this L1 entry is unallocated
            long span = ((long) ((1 << l2Bits) - i) << clusterBits) - inCluster;
            return Run.unallocated(Math.min(maxLength, span));
        }
        if (!extL2) {
            return standardRun(t, i, inCluster, maxLength);
        }
        L2Table.Extended pair = t.extended(i);
        long e = pair.descriptor();
        long bitmap = pair.bitmap();
        if (compressed(e)) {
            return Run.data(len);
        }
        int sc = inCluster >>> subclusterBits;
        int state = subclusterState(e, bitmap, sc, t, i);
        int end = (int) (inCluster + len);
        int next = sc + 1;
        while (next < 32 && (next << subclusterBits) < end && subclusterState(e, bitmap, next, t, i) == state) {
            next++;
        }
        long run = Math.min(end, (long) next << subclusterBits) - inCluster;
        return state == 0 ? Run.data(run) : state == 1 ? Run.zero(run) : Run.unallocated(run);
    }

    /**
     * The run at cluster {@code i} of a standard L2 table, extended over the following entries of
     * the same table while they answer the same: ZERO and UNALLOCATED entries of their kind, DATA
     * entries only while their host clusters follow one another in the file (so {@link #readData}
     * reads the whole run with one call). A compressed cluster is a run of its own.
     */
    private long standardRun(L2Table t, int i, int inCluster, long maxLength) {
        long e = t.word(i);
        long len = Math.min(maxLength, clusterSize - inCluster);
        if (compressed(e)) {
            return Run.data(len);
        }
        int kind = standardKind(e);
        long nextHost = (e & OFFSET_MASK) + clusterSize;
        int entries = 1 << l2Bits;
        for (int j = i + 1; j < entries && len < maxLength; j++) {
            long f = t.word(j);
            if (compressed(f) || standardKind(f) != kind || kind == 0 && (f & OFFSET_MASK) != nextHost) {
                break;
            }
            nextHost += clusterSize;
            len = Math.min(maxLength, len + clusterSize);
        }
        return kind == 0 ? Run.data(len) : kind == 1 ? Run.zero(len) : Run.unallocated(len);
    }

    /** 0 data, 1 zero, 2 unallocated for a standard (not compressed) L2 entry (qcow2.txt "Standard Cluster Descriptor"). */
    private int standardKind(long e) {
        return (e & ZERO_FLAG) != 0 ? 1 : hasHost(e) ? 0 : 2;
    }

    /** 0 allocated, 1 zero, 2 unallocated (qcow2.txt "Subcluster Allocation Bitmap"). */
    private int subclusterState(long e, long bitmap, int sc, L2Table t, int i) throws CorruptImageException {
        boolean alloc = (bitmap >>> sc & 1) != 0;
        boolean zero = (bitmap >>> (32 + sc) & 1) != 0;
        if (alloc && zero) {
            throw new CorruptImageException("qcow2", path, "L2 table", t.hostOffset + 16L * i,
                    "subcluster " + sc + " is marked both allocated and zero");
        }
        if (alloc && !hasHost(e)) {
            throw new CorruptImageException("qcow2", path, "L2 table", t.hostOffset + 16L * i,
                    "subcluster " + sc + " is allocated in a cluster without host offset");
        }
        return alloc ? 0 : zero ? 1 : 2;
    }

    /** Whether a standard entry names a host cluster (with a data file, offset 0 is valid if COPIED). */
    boolean hasHost(long e) {
        return (e & OFFSET_MASK) != 0 || externalData && (e & COPIED) != 0;
    }

    @Override
    public HostLocation hostLocation(long offset) throws IOException {
        L2Table t = l2For(l1Index(offset));
        long e = t == null ? 0 : t.word(extL2 ? 2 * l2Index(offset) : l2Index(offset));
        if (compressed(e) || !hasHost(e) || !extL2 && (e & ZERO_FLAG) != 0) {
            return null;
        }
        return new HostLocation(dataStorage, checkedHost(e, t) + (offset & (clusterSize - 1)));
    }

    @Override
    public void readData(long offset, ByteBuffer dst) throws IOException {
        int inCluster = (int) (offset & (clusterSize - 1));
        L2Table t = l2For(l1Index(offset));
        long e = t == null ? 0 : t.word(extL2 ? 2 * l2Index(offset) : l2Index(offset));
        if (compressed(e)) {
            ClusterDecompressor d = decompress(e, t.hostOffset);
            ByteBuffer src = d.output.duplicate();
            src.position(inCluster).limit(inCluster + dst.remaining());
            dst.put(src);
            return;
        }
        if (!hasHost(e) || !extL2 && (e & ZERO_FLAG) != 0) {
            zeroFill(dst); // changed since map(): discarded meanwhile
            return;
        }
        long host = checkedHost(e, t);
        long pos = host + inCluster;
        int want = dst.remaining();
        int n = dataStorage.read(dst, pos); // a DATA run from map(): host clusters one after another
        if (n < want) {
            long missing = pos + n;
            long clusterEnd = (missing | (clusterSize - 1)) + 1;
            if (n == 0 || (missing & (clusterSize - 1)) == 0 || pos + want > clusterEnd) {
                // a cluster of the run lies wholly past the end of the file
                throw new TruncatedImageException("qcow2", dataStorage.path(), "data cluster", missing, want - n,
                        dataStorage.size());
            }
            zeroFill(dst); // a short last cluster reads as zeros past the end of the file
        }
    }

    /** The host offset of a standard entry, checked for alignment. */
    long checkedHost(long e, L2Table t) throws CorruptImageException {
        long host = e & OFFSET_MASK;
        if ((host & (clusterSize - 1)) != 0) {
            throw new CorruptImageException("qcow2", path, "L2 table", t.hostOffset, "data cluster offset 0x"
                    + Long.toHexString(host) + " is not cluster-aligned");
        }
        if (!externalData && host < clusterSize) {
            throw new CorruptImageException("qcow2", path, "L2 table", t.hostOffset,
                    "data cluster points into the header");
        }
        return host;
    }

    long knownEnd() {
        return knownEnd;
    }

    /** Records that the image file now extends at least to {@code end} (writer side). */
    void noteEnd(long end) {
        if (end > knownEnd) {
            knownEnd = end;
        }
    }

    /** The file was cut to {@code end} (compaction): nothing past it exists any more. */
    void noteTruncated(long end) {
        knownEnd = end;
    }

    static void zeroFill(ByteBuffer dst) {
        while (dst.hasRemaining()) {
            dst.put((byte) 0);
        }
    }

    // ---- Image: write path --------------------------------------------------------------------

    /** Preallocation of a grown area ({@link Qcow2Writer#preallocate}). */
    void preallocate(long offset, long length, org.vdmount.vd.storage.Preallocation mode) throws IOException {
        writer().preallocate(offset, length, mode);
    }

    private Qcow2Writer writer() throws ReadOnlyException {
        checkWritable();
        return writer;
    }

    @Override
    public WriteResult write(long offset, ByteBuffer src) throws IOException {
        return writer().write(offset, src);
    }

    @Override
    public void discard(long offset, long length) throws IOException {
        writer().discard(offset, length);
    }

    @Override
    protected void flushWritable() throws IOException {
        writer.flush();
    }

    @Override
    protected void closeImage() throws IOException {
        try {
            super.closeImage(); // flush, then the image file
        } finally {
            if (dataStorage != storage) {
                dataStorage.close();
            }
        }
    }

    // ---- facts --------------------------------------------------------------------------------

    @Override
    public String variant() {
        return snapshotName != null ? "snapshot" : header.version() >= 3 ? "v3" : "v2";
    }

    @Override
    public long hostAllocatedBytes() throws IOException {
        return storage.allocatedBytes() + (externalData ? dataStorage.allocatedBytes() : 0);
    }

    /** The image file, then its external data file if it has one. */
    @Override
    public List<Path> files() {
        return !externalData ? storage.files() : List.of(storage.path(), dataStorage.path());
    }

    @Override
    public ParentReference parent() {
        return parent;
    }

    /**
     * Whole-cluster writes may span up to one L2 table's reach (at most {@link #MAX_WRITE_RUN}):
     * the clusters such a write allocates are laid out as one host run and written with one call.
     */
    @Override
    public long maxWriteBytes() {
        return Math.max(clusterSize, Math.min(clusterSize << l2Bits, MAX_WRITE_RUN));
    }

    @Override
    public long fillUnit() {
        return 1L << subclusterBits;
    }

    @Override
    public long allocatedBytes() throws IOException {
        long host = storage.allocatedBytes() + (externalData ? dataStorage.allocatedBytes() : 0);
        return Math.min(host, virtualSize);
    }

    /** qcow2 records no identity: the backing file (name and format) and the lazy refcounts bit can change. */
    @Override
    public java.util.Set<org.vdmount.vd.MetadataField> editableFields() {
        return snapshotName != null ? java.util.Set.of()
                : header.version() < 3 ? java.util.Set.of(org.vdmount.vd.MetadataField.BACKING)
                : java.util.Set.of(org.vdmount.vd.MetadataField.BACKING, org.vdmount.vd.MetadataField.LAZY_REFCOUNTS);
    }

    @Override
    public void checkEdit(org.vdmount.vd.MetadataEdit edit) throws IOException {
        if (edit.lazyRefcounts() != null && header.version() < 3 && snapshotName == null) {
            throw new org.vdmount.vd.UnsupportedFeatureException("qcow2: " + path + ": lazy_refcounts needs compat=1.1 "
                    + "(this image is version 2)");
        }
        edit.checkSupported(this);
        if (edit.backing() != null) {
            BackingChange.build(this, edit.backing());
        }
    }

    @Override
    public void edit(org.vdmount.vd.MetadataEdit edit) throws IOException {
        checkEdit(edit);
        flush(); // refcounts exact on disk (a dirty image was repaired when it was opened writable)
        if (edit.lazyRefcounts() != null) {
            long bits = header.compatibleFeatures() & ~Qcow2Header.COMPAT_LAZY_REFCOUNTS;
            Qcow2Header.writeFeatures(storage, Qcow2Header.OFF_COMPATIBLE,
                    edit.lazyRefcounts() ? bits | Qcow2Header.COMPAT_LAZY_REFCOUNTS : bits);
        }
        if (edit.backing() != null) {
            BackingChange.apply(this, edit.backing());
        }
    }

    @Override
    public Map<String, Object> details() {
        Map<String, Object> m = new LinkedHashMap<>();
        m.put("compat", header.version() >= 3 ? "1.1" : "0.10");
        m.put("cluster_size", clusterSize);
        m.put("refcount_bits", 1 << header.refcountOrder());
        m.put("compression_type", zstd ? "zstd" : "zlib");
        m.put("extended_l2", extL2);
        m.put("lazy_refcounts", (header.compatibleFeatures() & Qcow2Header.COMPAT_LAZY_REFCOUNTS) != 0);
        m.put("dirty", header.dirty());
        m.put("corrupt", header.corrupt());
        if (Qcow2Encryption.encrypted(dataStorage)) {
            m.put("encrypt_format", "luks"); // qemu-img info's format-specific encrypt.format
        }
        if (parent != null) {
            m.put("backing_file", parent.locators().get(0));
            if (ext.backingFormat() != null) {
                m.put("backing_format", ext.backingFormat());
            }
        }
        if (externalData) {
            m.put("data_file", ext.dataFile());
            m.put("data_file_raw", (header.autoclearFeatures() & Qcow2Header.AUTOCLEAR_DATA_FILE_RAW) != 0);
        }
        if (ext.bitmapCount() > 0) {
            m.put("bitmaps", ext.bitmapCount());
        }
        if (snapshotName != null) {
            m.put("snapshot", snapshotName);
        }
        m.put("snapshots", snapshots.stream().map(Qcow2Snapshot::describe).toList());
        return m;
    }
}
