package org.vdmount.vd.format.common;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.util.concurrent.locks.ReentrantLock;
import org.vdmount.vd.Bytes;
import org.vdmount.vd.CorruptImageException;
import org.vdmount.vd.HostLocation;
import org.vdmount.vd.ImageFormat;
import org.vdmount.vd.ParentReference;
import org.vdmount.vd.Run;
import org.vdmount.vd.TruncatedImageException;
import org.vdmount.vd.WriteResult;
import org.vdmount.vd.storage.Storage;
import org.vdmount.vd.table.TableCache;
import org.vdmount.vd.table.Tables;

/**
 * An image whose clusters are found through two levels of 64-bit entries, the shape QCOW version 1
 * and QED share: an L1 table held in memory, L2 tables in a {@link TableCache}. An L2 entry above
 * {@link Layout#zeroEntry} (compared signed) is the host offset of a data cluster; 0 is
 * unallocated; the formats differ on purpose in the rest, see {@link Layout}.
 *
 * <p>Reads take no lock. Clusters are never freed (neither format has refcounts), so writes into
 * allocated clusters need no lock either. Allocation runs under one lock: new clusters and L2 tables
 * are appended at the end of the file, cluster-aligned, in the order data, L2 entry, L1 entry (a
 * crash leaves unreferenced space at worst). Tables are written through: a table is held in the
 * cache only while its entry is being changed. (qed_spec.rst "Tables" and "Cluster allocation";
 * QCOW version 1 has no written specification beyond QEMU's block/qcow.c.)
 */
public abstract class ClusterMapImage extends ImageBase {

    /**
     * The geometry of one image and what its entries mean.
     *
     * @param byteOrder     of table entries: big-endian in QCOW, little-endian in QED
     * @param zeroEntry     the entry meaning "reads as zeros, hides the parent": 1 in QED; QCOW v1 has
     *                      none (0), and entries with bit 63 set are its compressed clusters
     * @param dataStart     the first byte a table or a data cluster may occupy (after the header)
     * @param dataAlignment of data cluster offsets: QCOW v1 only needs sectors (512), QED clusters
     */
    public record Layout(long virtualSize, int clusterBits, int l2Bits, long l1Offset, ByteOrder byteOrder,
                         long zeroEntry, long dataStart, long dataAlignment) {

        /** The alignment of data clusters, in words for messages. */
        String alignmentName() {
            return dataAlignment == 512 ? "sector" : "cluster";
        }
    }

    protected final ParentReference parent;
    protected final long clusterSize;
    protected final ReentrantLock alloc = new ReentrantLock();
    private final String fmt;
    private final Layout layout;
    private final int clusterBits;
    private final int l2Bits;
    private final long l2Bytes;
    private final long zeroEntry;
    private final long[] l1;
    private final TableCache<long[]> tables;
    private long fileEnd;              // writers, under alloc
    private volatile long knownEnd;    // bytes known to exist in the file

    protected ClusterMapImage(ImageFormat format, Storage storage, boolean readOnly, Layout layout, long[] l1,
                              ParentReference parent, int maxTables) throws IOException {
        super(format, storage, readOnly, layout.virtualSize(), 1L << layout.clusterBits());
        this.fmt = format.name();
        this.layout = layout;
        this.clusterBits = layout.clusterBits();
        this.clusterSize = blockSize;
        this.l2Bits = layout.l2Bits();
        this.l2Bytes = 8L << l2Bits;
        this.zeroEntry = layout.zeroEntry();
        this.l1 = l1;
        this.parent = parent;
        this.knownEnd = storage.size();
        this.fileEnd = knownEnd;
        this.tables = new TableCache<>(maxTables, this::loadTable);
    }

    // ---- format hooks -------------------------------------------------------------------------

    /**
     * Refuses an L2 table offset that cannot be right before it is read ({@code at}: where the L1
     * entry is). Each format reports it in its own terms.
     */
    protected abstract void checkTableOffset(long offset, long at, long fileSize) throws IOException;

    /** Whether an entry names a compressed cluster (QCOW v1 only). */
    protected boolean compressed(long entry) {
        return false;
    }

    /** The cluster of a compressed entry (one cluster, in a buffer the caller must not keep). */
    protected byte[] decompress(long entry) throws IOException {
        throw new IllegalStateException("no compressed clusters in " + fmt);
    }

    /** The host offset of a compressed entry's bytes. */
    protected long compressedOffset(long entry) {
        throw new IllegalStateException("no compressed clusters in " + fmt);
    }

    /** How many bytes a compressed entry's data takes in the file. */
    protected long compressedLength(long entry) {
        throw new IllegalStateException("no compressed clusters in " + fmt);
    }

    /** The entry of the same compressed cluster once its bytes lie at {@code hostOffset} (compaction). */
    protected long compressedAt(long entry, long hostOffset) {
        throw new IllegalStateException("no compressed clusters in " + fmt);
    }

    /**
     * The end of what the format keeps at the start of the file besides the L1 table (compaction
     * moves nothing there): {@link Layout#dataStart} unless a format says more.
     */
    protected long headerEnd() {
        return layout.dataStart();
    }

    /** Called under the allocation lock before any table entry changes (QED: set need-check). */
    protected void beforeMetadataChange() throws IOException {
    }

    // ---- tables -------------------------------------------------------------------------------

    private long[] loadTable(long l1Index) throws IOException {
        long off = Tables.get(l1, (int) l1Index);
        if (storage.zeroTail() && off + (8L << l2Bits) > storage.size()) {
            checkTableOffset(off, layout.l1Offset() + l1Index * 8, Long.MAX_VALUE);
            return lostTable(off);
        }
        checkTableOffset(off, layout.l1Offset() + l1Index * 8, Math.max(knownEnd, storage.size()));
        return Tables.readU64s(storage, off, 1 << l2Bits, layout.byteOrder(), fmt, "table");
    }

    /**
     * A table the cut of a file opened with allowTruncated has taken: what it mapped is unknown, so
     * every cluster it covers counts as data stored just past the table, beyond the end of the
     * file: it reads as zeros and {@link org.vdmount.vd.TruncationScan} lists it as missing.
     */
    private long[] lostTable(long off) {
        long[] t = new long[1 << l2Bits];
        java.util.Arrays.fill(t, (off + (8L << l2Bits) + clusterSize - 1) & -clusterSize);
        return t;
    }

    private int l1Index(long offset) {
        return (int) (offset >>> (clusterBits + l2Bits));
    }

    private int l2Index(long offset) {
        return (int) ((offset >>> clusterBits) & ((1L << l2Bits) - 1));
    }

    /** The L2 entry for {@code offset}, or 0 if no table is allocated. */
    private long entry(long offset) throws IOException {
        int l1i = l1Index(offset);
        if (Tables.get(l1, l1i) == 0) {
            return 0;
        }
        return Tables.get(tables.get(l1i), l2Index(offset));
    }

    private boolean holdsData(long entry) {
        return entry > zeroEntry;
    }

    private long checkedCluster(long e, long offset) throws CorruptImageException {
        if (e < layout.dataStart() || (e & (layout.dataAlignment() - 1)) != 0) {
            throw new CorruptImageException(fmt, storage.path(), "L2 table", offset >>> clusterBits,
                    "data cluster offset 0x" + Long.toHexString(e) + " for guest offset 0x" + Long.toHexString(offset)
                    + " is not a " + layout.alignmentName() + "-aligned position after the header");
        }
        return e;
    }

    private long nextCluster() {
        return (fileEnd + clusterSize - 1) & -clusterSize;
    }

    private void noteEnd(long end) {
        fileEnd = end;
        if (end > knownEnd) {
            knownEnd = end;
        }
    }

    private void putEntry(ByteBuffer b, int at, long value) {
        if (layout.byteOrder() == ByteOrder.BIG_ENDIAN) {
            Bytes.of(b.array()).put64be(at, value);
        } else {
            Bytes.of(b.array()).put64le(at, value);
        }
    }

    // ---- read ---------------------------------------------------------------------------------

    @Override
    public long map(long offset, long maxLength) throws IOException {
        long len = Math.min(maxLength, clusterSize - (offset & (clusterSize - 1)));
        long e = entry(offset);
        if (e == 0) {
            return Run.unallocated(len);
        }
        return zeroEntry != 0 && e == zeroEntry ? Run.zero(len) : Run.data(len);
    }

    @Override
    public HostLocation hostLocation(long offset) throws IOException {
        long e = entry(offset);
        return holdsData(e) ? new HostLocation(storage, checkedCluster(e, offset) + (offset & (clusterSize - 1)))
                : null;
    }

    @Override
    public void readData(long offset, ByteBuffer dst) throws IOException {
        long e = entry(offset);
        int in = (int) (offset & (clusterSize - 1));
        if (holdsData(e)) {
            long pos = checkedCluster(e, offset) + in;
            int want = dst.remaining();
            int n = storage.read(dst, pos);
            if (n < want) {
                if (n == 0) {
                    throw new TruncatedImageException(fmt, storage.path(), "data cluster", pos, want, storage.size());
                }
                zeroFill(dst);
            }
        } else if (compressed(e)) {
            dst.put(decompress(e), in, dst.remaining());
        } else {
            zeroFill(dst); // unallocated or zero, or discarded since map()
        }
    }

    private static void zeroFill(ByteBuffer dst) {
        while (dst.hasRemaining()) {
            dst.put((byte) 0);
        }
    }

    // ---- write --------------------------------------------------------------------------------

    @Override
    public WriteResult write(long offset, ByteBuffer src) throws IOException {
        checkWritable();
        long e = entry(offset);
        if (holdsData(e)) {
            writeInPlace(e, offset, src);
            return WriteResult.DONE;
        }
        long clusterStart = offset & -clusterSize;
        int in = (int) (offset - clusterStart);
        boolean whole = in == 0 && src.remaining() >= Math.min(clusterSize, virtualSize - clusterStart);
        if (!whole && !compressed(e)) {
            return WriteResult.NEEDS_FILL;
        }
        alloc.lock();
        try {
            e = entry(offset);
            if (holdsData(e)) {
                writeInPlace(e, offset, src);
                return WriteResult.DONE;
            }
            ByteBuffer full = ByteBuffer.allocate((int) clusterSize);
            if (compressed(e)) {
                full.put(decompress(e)).clear(); // copy the compressed cluster out, then overwrite
            } else if (!whole) {
                return WriteResult.NEEDS_FILL;
            }
            full.position(in);
            full.put(src).clear();
            allocateCluster(offset, full);
            return WriteResult.DONE;
        } finally {
            alloc.unlock();
        }
    }

    private void writeInPlace(long e, long offset, ByteBuffer src) throws IOException {
        long host = checkedCluster(e, offset);
        if (host >= knownEnd) {
            throw new CorruptImageException(fmt, storage.path(), "L2 table", offset >>> clusterBits,
                    "data cluster 0x" + Long.toHexString(host) + " lies past the end of the file; refusing to write");
        }
        storage.write(src, host + (offset & (clusterSize - 1)));
    }

    /** Appends a data cluster for guest {@code offset} and points the tables at it; under alloc. */
    private void allocateCluster(long offset, ByteBuffer content) throws IOException {
        beforeMetadataChange();
        long host = nextCluster();
        storage.write(content, host);
        noteEnd(host + clusterSize);
        setEntry(offset, host);
    }

    /** Sets the L2 entry of guest {@code offset}, appending the L2 table if needed; under alloc. */
    private void setEntry(long offset, long value) throws IOException {
        beforeMetadataChange();
        int l1i = l1Index(offset);
        int l2i = l2Index(offset);
        ByteBuffer eight = ByteBuffer.allocate(8);
        long[] t;
        if (Tables.get(l1, l1i) == 0) {
            long at = nextCluster();
            t = new long[1 << l2Bits];
            t[l2i] = value;
            ByteBuffer raw = ByteBuffer.allocate((int) l2Bytes);
            putEntry(raw, l2i * 8, value);
            storage.write(raw, at);
            noteEnd(at + l2Bytes);
            tables.installNew(l1i, t);
            try {
                putEntry(eight, 0, at);
                storage.write(eight, layout.l1Offset() + l1i * 8L);
                Tables.set(l1, l1i, at);
            } finally {
                tables.release(l1i, t);
            }
            return;
        }
        t = tables.getForUpdate(l1i);
        try {
            putEntry(eight, 0, value);
            storage.write(eight, Tables.get(l1, l1i) + l2i * 8L);
            Tables.set(t, l2i, value);
        } finally {
            tables.release(l1i, t);
        }
    }

    /**
     * Whole clusters read as zeros afterwards. Allocated ones are punched and stay allocated (no
     * refcounts: freeing would leak). The rest differs on purpose: QED marks a cluster zero where a
     * parent shows through; QCOW v1, having no zero marker, unmaps it without a parent and gives it
     * a cluster of zeros over one.
     */
    @Override
    public void discard(long offset, long length) throws IOException {
        checkWritable();
        alloc.lock();
        try {
            for (long off = offset; off < offset + length; off += clusterSize) {
                long e = entry(off);
                if (holdsData(e)) {
                    long host = checkedCluster(e, off);
                    if (host < knownEnd) {
                        storage.zeroRange(host, Math.min(clusterSize, virtualSize - off));
                    }
                } else if (zeroEntry != 0) {
                    if (e == 0 && parent != null) {
                        setEntry(off, zeroEntry);
                    }
                } else if (parent == null) {
                    if (e != 0) {
                        setEntry(off, 0);
                    }
                } else {
                    allocateCluster(off, ByteBuffer.allocate((int) clusterSize));
                }
            }
        } finally {
            alloc.unlock();
        }
    }

    // ---- compaction ---------------------------------------------------------------------------

    /**
     * {@code vd compact} (see {@link org.vdmount.vd.compact.ImageCompactor} for the contract), in
     * three steps under the allocation lock:
     * <ol>
     * <li>every data cluster, and every compressed one, that is all zeros (base) or equals
     *     {@code parent} gets entry 0; one of zeros over a non-zero parent gets the zero entry where
     *     the format has one. Forced.</li>
     * <li>from the end of the file down, data clusters, compressed clusters and L2 tables move into
     *     the lowest free place below them no table or entry uses (cluster-aligned; a compressed
     *     cluster at any byte, the way QEMU writes them): copied and forced, then the one entry that
     *     points there written and forced, and only then is the old place free for the next move
     *     (data in batches of {@value #MOVE_BATCH_BYTES} bytes, each step one force).</li>
     * <li>the file is cut after the last byte in use (rounded up to the data alignment).</li>
     * </ol>
     * Bytes two entries claim are refused as corrupt before anything moves. Returns {freed,
     * zeroed, moved}.
     */
    protected long[] compactClusters(org.vdmount.vd.Disk parent, java.util.function.LongConsumer progress)
            throws IOException {
        checkWritable();
        alloc.lock();
        try {
            beforeMetadataChange();
            long[] counts = releaseClusters(parent, progress);
            storage.force();
            counts[2] = packClusters();
            long end = lastUsedEnd();
            if (end < fileEnd) {
                storage.truncate(end);
                storage.force();
                fileEnd = end;
                knownEnd = end;
            }
            return counts;
        } finally {
            alloc.unlock();
        }
    }

    private long[] releaseClusters(org.vdmount.vd.Disk parent, java.util.function.LongConsumer progress)
            throws IOException {
        ByteBuffer data = ByteBuffer.allocate((int) clusterSize);
        ByteBuffer scratch = ByteBuffer.allocate((int) clusterSize);
        long[] counts = new long[3];
        long span = clusterSize << l2Bits;
        for (int l1i = 0; l1i < l1.length && (long) l1i * span < virtualSize; l1i++) {
            if (Tables.get(l1, l1i) != 0) {
                for (int i = 0; i < 1 << l2Bits; i++) {
                    long off = (long) l1i * span + i * clusterSize;
                    if (off >= virtualSize) {
                        break;
                    }
                    long e = Tables.get(tables.get(l1i), i);
                    if (!holdsData(e) && !compressed(e)) {
                        continue;
                    }
                    data.clear().limit((int) Math.min(clusterSize, virtualSize - off));
                    readData(off, data);
                    data.flip();
                    org.vdmount.vd.compact.Verdict v = org.vdmount.vd.compact.Verdict.of(data, off, parent, scratch);
                    if (v == org.vdmount.vd.compact.Verdict.UNALLOCATED) {
                        setEntry(off, 0);
                        counts[0]++;
                    } else if (v == org.vdmount.vd.compact.Verdict.ZERO && zeroEntry != 0) {
                        setEntry(off, zeroEntry);
                        counts[1]++;
                    }
                }
            }
            progress.accept(Math.min(virtualSize, (long) (l1i + 1) * span));
        }
        return counts;
    }

    /**
     * What may move: an L2 table ({@code l1Index} ≥ 0), or the data cluster or compressed cluster
     * ({@code entry}) of {@code guestOffset}; {@code length} bytes at {@code host}.
     */
    private record Movable(long host, long length, long guestOffset, int l1Index, long entry) {
    }

    /**
     * The bytes in use: the header, the L1 table, every L2 table, every data cluster and every
     * compressed cluster; the last three listed in {@code movables} when it is not null.
     */
    private HostSpace usedSpace(java.util.List<Movable> movables) throws IOException {
        HostSpace space = new HostSpace();
        space.use(0, Math.max(layout.dataStart(), headerEnd()), true);
        space.use(layout.l1Offset(), layout.l1Offset() + 8L * l1.length, true);
        long span = clusterSize << l2Bits;
        for (int l1i = 0; l1i < l1.length; l1i++) {
            long t = Tables.get(l1, l1i);
            if (t == 0) {
                continue;
            }
            claim(space, movables, new Movable(t, l2Bytes, -1, l1i, t), "L2 table");
            long[] table = tables.get(l1i);
            for (int i = 0; i < table.length; i++) {
                long e = Tables.get(table, i);
                long off = (long) l1i * span + i * clusterSize;
                if (holdsData(e)) {
                    claim(space, movables, new Movable(checkedCluster(e, off), clusterSize, off, -1, e),
                            "data cluster");
                } else if (compressed(e)) {
                    claim(space, movables, new Movable(compressedOffset(e), compressedLength(e), off, -1, e),
                            "compressed cluster");
                }
            }
        }
        return space;
    }

    private void claim(HostSpace space, java.util.List<Movable> movables, Movable m, String what)
            throws CorruptImageException {
        if (!space.use(m.host(), m.host() + m.length(), false)) {
            throw new CorruptImageException(fmt, storage.path(), what, m.host(), "its " + m.length()
                    + " bytes overlap the header, a table or another cluster; not compacting");
        }
        if (movables != null) {
            movables.add(m);
        }
    }

    /** Bytes of blocks copied before one force and their entries before the next (bounds the leak of a kill). */
    private static final long MOVE_BATCH_BYTES = 32L << 20;

    /** A block copied to its new place ({@code to}), its entry not yet written; {@code index} in the list. */
    private record Move(int index, Movable from, Movable to) {
    }

    /**
     * Moves blocks down in passes, each from the end of the file down, until a pass moves nothing:
     * a block that found no place (a cluster above a gap a compressed cluster split) may find one
     * once the blocks below it have moved. Each move strictly lowers a block, so this ends. Data
     * moves in batches: copies into free places, one force, their entries, one force, and only
     * then are the old places free. An L2 table moves alone (its entries may change in a batch).
     */
    private long packClusters() throws IOException {
        java.util.List<Movable> movables = new java.util.ArrayList<>();
        HostSpace space = usedSpace(movables);
        java.util.List<Move> pending = new java.util.ArrayList<>();
        long moved = 0;
        for (boolean again = true; again; ) {
            again = false;
            movables.sort(java.util.Comparator.comparingLong(Movable::host).reversed());
            long pendingBytes = 0;
            for (int i = 0; i < movables.size(); i++) {
                Movable m = movables.get(i);
                boolean table = m.l1Index() >= 0;
                if (table && !pending.isEmpty()) {
                    moved += commitMoves(space, movables, pending);
                    pendingBytes = 0;
                }
                Movable to = copyDown(space, m);
                if (to == null) {
                    continue;
                }
                again = true;
                pending.add(new Move(i, m, to));
                pendingBytes += m.length();
                if (table || pendingBytes >= MOVE_BATCH_BYTES) {
                    moved += commitMoves(space, movables, pending);
                    pendingBytes = 0;
                }
            }
            moved += commitMoves(space, movables, pending);
        }
        return moved;
    }

    /**
     * Copies {@code m} to the lowest free place below it, if there is one, and marks that place
     * used; nothing points there yet. Returns it as it will be, or null.
     */
    private Movable copyDown(HostSpace space, Movable m) throws IOException {
        boolean packed = m.l1Index() < 0 && compressed(m.entry());
        long dst = space.lowestFreeBelow(m.length(), packed ? 1 : clusterSize, m.host());
        if (dst < 0) {
            return null;
        }
        String what = m.l1Index() >= 0 ? "L2 table" : packed ? "compressed cluster" : "data cluster";
        ByteBuffer copy = ByteBuffer.allocate((int) m.length());
        storage.readFully(copy, m.host(), fmt, what);
        storage.write(copy.flip(), dst);
        space.use(dst, dst + m.length(), false);
        long entry = m.l1Index() >= 0 ? dst : packed ? compressedAt(m.entry(), dst) : dst;
        return new Movable(dst, m.length(), m.guestOffset(), m.l1Index(), entry);
    }

    /**
     * The copies forced, then each block's one entry written (an L2 table's in the L1 table), forced,
     * and only then the old places free. Returns how many blocks moved.
     */
    private long commitMoves(HostSpace space, java.util.List<Movable> movables, java.util.List<Move> pending)
            throws IOException {
        if (pending.isEmpty()) {
            return 0;
        }
        storage.force();
        for (Move mv : pending) {
            Movable to = mv.to();
            if (to.l1Index() >= 0) {
                ByteBuffer eight = ByteBuffer.allocate(8);
                putEntry(eight, 0, to.host());
                storage.write(eight, layout.l1Offset() + to.l1Index() * 8L);
                Tables.set(l1, to.l1Index(), to.host());
            } else {
                setEntry(to.guestOffset(), to.entry());
            }
        }
        storage.force();
        for (Move mv : pending) {
            space.free(mv.from().host(), mv.from().host() + mv.from().length());
            movables.set(mv.index(), mv.to());
        }
        int n = pending.size();
        pending.clear();
        return n;
    }

    /** The end of the last byte the header, a table or an entry uses, rounded to the data alignment. */
    private long lastUsedEnd() throws IOException {
        long end = Math.max(layout.dataStart(), usedSpace(null).end());
        return (end + layout.dataAlignment() - 1) & -layout.dataAlignment();
    }

    // ---- facts --------------------------------------------------------------------------------

    @Override
    public String variant() {
        return parent != null ? "differencing" : "dynamic";
    }

    @Override
    public ParentReference parent() {
        return parent;
    }
}
