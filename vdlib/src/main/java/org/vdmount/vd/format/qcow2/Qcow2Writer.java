package org.vdmount.vd.format.qcow2;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.util.BitSet;
import java.util.concurrent.locks.ReentrantLock;
import java.util.concurrent.locks.ReentrantReadWriteLock;
import org.vdmount.vd.Bytes;
import org.vdmount.vd.CorruptImageException;
import org.vdmount.vd.UnsupportedFeatureException;
import org.vdmount.vd.WriteResult;
import org.vdmount.vd.storage.Preallocation;

/**
 * Writes into a qcow2 image, keeping refcounts exact at every flush (no lazy refcounts; the
 * dirty bit only brackets a flush's refcount updates, see {@link #markDirty}): new data clusters are written at once; the refcount blocks, L2 tables and L1 table
 * that account for them stay in memory and are written by {@link #flush} in the order
 * data → refcount increments → L2/L1 tables → refcount decrements, each step forced. A crash
 * between flushes leaves the image as of the last flush; one inside a flush leaves the dirty bit,
 * and the next writable open rebuilds the refcounts.
 *
 * <p>Writes into clusters this image already owns (refcount 1, "COPIED") go straight to the file
 * without the allocation lock; everything else (allocation, copy-on-write of compressed or shared
 * clusters and tables, discard) runs under it. Freed clusters are reused only after a flush, under
 * the write side of {@link #reuse}, so an in-place write never lands in a reused cluster.
 */
final class Qcow2Writer {
    private static final long ALL_SUBCLUSTERS = 0xFFFF_FFFFL;

    private final Qcow2Image img;
    private final ReentrantLock alloc = new ReentrantLock();
    private final ReentrantReadWriteLock reuse = new ReentrantReadWriteLock();
    final Refcounts refs;
    private final BitSet dirtyL1Clusters = new BitSet();
    /** One cluster's bytes, used under the allocation lock (also by {@link Qcow2Moves}). */
    final ByteBuffer cluster;
    private final int maxDirtyTables;
    private volatile boolean prepared;
    private long[] freedClusters = new long[64];
    private int freedCount;

    Qcow2Writer(Qcow2Image img) throws IOException {
        this.img = img;
        Qcow2Header h = img.header;
        this.refs = new Refcounts(img.storage(), h.clusterBits(), h.refcountOrder(), h.refcountTableOffset(),
                h.refcountTableClusters(), (int) Math.max(8, (4L << 20) >>> h.clusterBits()), this::isMetadata, img::knownEnd);
        this.cluster = ByteBuffer.allocate((int) img.clusterSize);
        this.maxDirtyTables = Math.max(4, img.cache.capacity() / 2);
    }

    // ---- write --------------------------------------------------------------------------------

    WriteResult write(long offset, ByteBuffer src) throws IOException {
        if (src.remaining() > img.clusterSize) {
            return writeRun(offset, src);
        }
        if (prepared) {
            ReentrantReadWriteLock.ReadLock r = reuse.readLock();
            r.lock();
            try {
                long host = inPlaceHost(offset, src.remaining());
                if (host >= 0) {
                    img.dataStorage.write(src, host + (offset & (img.clusterSize - 1)));
                    return WriteResult.DONE;
                }
            } finally {
                r.unlock();
            }
        }
        alloc.lock();
        try {
            prepare();
            WriteResult r = img.extL2 ? writeExtended(offset, src) : writeStandard(offset, src);
            maybeFlush();
            return r;
        } finally {
            alloc.unlock();
        }
    }

    /**
     * A run of whole clusters inside one L2 table's reach ({@link Qcow2Image#maxWriteBytes}; the
     * last one may end at the end of the disk). Where every cluster is owned here it is written in
     * place, one call per contiguous host stretch, without the allocation lock. Otherwise, under
     * it: each stretch of clusters without a host cluster gets its host clusters allocated one
     * after another (so contiguous, unless a new refcount block or a hole a flush freed comes
     * between), its data written with one call per contiguous host stretch, and only then its L2
     * entries set (the table reaches the file at the next flush, after the data is forced:
     * qcow2.txt's clusters are valid once the tables point to them). The other clusters
     * (compressed, shared with a snapshot, preallocated, a partial last one) take the one-cluster
     * path, so the layout is the one cluster-by-cluster writes make.
     */
    private WriteResult writeRun(long offset, ByteBuffer src) throws IOException {
        int len = src.remaining();
        long cs = img.clusterSize;
        int n = (int) ((len + cs - 1) / cs);
        if ((offset & (cs - 1)) != 0 || img.l1Index(offset) != img.l1Index(offset + len - 1)) {
            throw new IllegalArgumentException("qcow2: a multi-cluster write must be cluster aligned inside one L2 "
                    + "table's reach: 0x" + Long.toHexString(offset) + " + " + len);
        }
        if (prepared && writeRunInPlace(offset, src, n)) {
            return WriteResult.DONE;
        }
        alloc.lock();
        try {
            prepare();
            int l1i = img.l1Index(offset);
            int i0 = img.l2Index(offset);
            long[] hosts = new long[n];
            for (int k = 0; k < n; ) {
                if (!needsNewCluster(img.l2For(l1i), i0 + k, offset + k * cs)) {
                    int at = src.position() + (int) (k * cs);
                    ByteBuffer one = src.duplicate().limit(Math.min(at + (int) cs, src.limit())).position(at);
                    if ((img.extL2 ? writeExtended(offset + k * cs, one) : writeStandard(offset + k * cs, one))
                            != WriteResult.DONE) {
                        throw new IllegalStateException("qcow2: whole-cluster write refused");
                    }
                    k++;
                    continue;
                }
                int m = k + 1;
                while (m < n && needsNewCluster(img.l2For(l1i), i0 + m, offset + m * cs)) {
                    m++;
                }
                L2Table t = writableL2(l1i);
                for (int j = k; j < m; j++) {
                    hosts[j] = allocData(offset + j * cs);
                }
                writeStretches(src, hosts, k, m);
                for (int j = k; j < m; j++) {
                    if (img.extL2) {
                        long touched = subclusterMask(offset + j * cs, (int) cs);
                        long bitmap = t.word(2 * (i0 + j) + 1);
                        t.setPair(2 * (i0 + j), hosts[j] | Qcow2Image.COPIED, (bitmap | touched) & ~(touched << 32));
                    } else {
                        t.set(i0 + j, hosts[j] | Qcow2Image.COPIED);
                    }
                }
                k = m;
            }
            src.position(src.limit());
            maybeFlush();
            return WriteResult.DONE;
        } finally {
            alloc.unlock();
        }
    }

    /** Whether the cluster needs a new host cluster and nothing else: no host, not compressed, whole. */
    private boolean needsNewCluster(L2Table t, int i, long clusterStart) {
        if (clusterSpan(clusterStart) != img.clusterSize) {
            return false; // the last, partial cluster: the one-cluster path pads it to a whole one
        }
        long e = t == null ? 0 : t.word(img.extL2 ? 2 * i : i);
        return !img.compressed(e) && !img.hasHost(e);
    }

    /** Writes clusters [k, m) of the run from {@code src}: one call per stretch of contiguous hosts. */
    private void writeStretches(ByteBuffer src, long[] hosts, int k, int m) throws IOException {
        long cs = img.clusterSize;
        for (int a = k; a < m; ) {
            int b = a + 1;
            while (b < m && hosts[b] == hosts[b - 1] + cs) {
                b++;
            }
            int from = src.position() + (int) (a * cs);
            int to = (int) Math.min(src.position() + b * cs, src.limit());
            img.dataStorage.write(src.duplicate().limit(to).position(from), hosts[a]);
            noteWritten(hosts[a] + (to - from));
            a = b;
        }
    }

    /**
     * Writes the run in place if every cluster of it is owned here and allocated (for extended
     * L2 entries: every subcluster), under the read side of {@link #reuse}; false (nothing written)
     * otherwise.
     */
    private boolean writeRunInPlace(long offset, ByteBuffer src, int n) throws IOException {
        long cs = img.clusterSize;
        ReentrantReadWriteLock.ReadLock r = reuse.readLock();
        r.lock();
        try {
            long[] hosts = new long[n];
            for (int k = 0; k < n; k++) {
                long at = offset + k * cs;
                hosts[k] = inPlaceHost(at, (int) Math.min(cs, offset + src.remaining() - at));
                if (hosts[k] < 0) {
                    return false;
                }
            }
            writeStretches(src, hosts, 0, n);
            src.position(src.limit());
            return true;
        } finally {
            r.unlock();
        }
    }

    /** The host cluster if the range can be written in place, else -1. */
    private long inPlaceHost(long offset, int len) throws IOException {
        int l1i = img.l1Index(offset);
        if ((img.l1Entry(l1i) & Qcow2Image.COPIED) == 0) {
            return -1;
        }
        L2Table t = img.l2For(l1i);
        if (t == null) {
            return -1;
        }
        int i = img.l2Index(offset);
        long e;
        if (img.extL2) {
            L2Table.Extended pair = t.extended(i);
            e = pair.descriptor();
            long bitmap = pair.bitmap();
            long touched = subclusterMask(offset, len);
            if ((bitmap & touched) != touched) {
                return -1;
            }
        } else {
            e = t.word(i);
            if ((e & Qcow2Image.ZERO_FLAG) != 0) {
                return -1;
            }
        }
        if ((e & Qcow2Image.COPIED) == 0 || img.compressed(e) || !img.hasHost(e)) {
            return -1;
        }
        long host = img.checkedHost(e, t);
        checkNotMetadata(host, t, offset & -img.clusterSize);
        return host;
    }

    /** Bits of the subclusters that {@code [offset, offset+len)} touches (within one cluster). */
    private long subclusterMask(long offset, int len) {
        int in = (int) (offset & (img.clusterSize - 1));
        int first = in >>> img.subclusterBits;
        int last = (in + len - 1) >>> img.subclusterBits;
        return (ALL_SUBCLUSTERS >>> (31 - last + first)) << first;
    }

    /** Bytes of the cluster at {@code clusterStart} that lie inside the virtual disk. */
    private long clusterSpan(long clusterStart) {
        return Math.min(img.clusterSize, img.virtualSize() - clusterStart);
    }

    private WriteResult writeStandard(long offset, ByteBuffer src) throws IOException {
        int len = src.remaining();
        long clusterStart = offset & -img.clusterSize;
        int in = (int) (offset - clusterStart);
        boolean whole = in == 0 && len >= clusterSpan(clusterStart);
        int l1i = img.l1Index(offset);
        int i = img.l2Index(offset);
        L2Table t = img.l2For(l1i);
        long e = t == null ? 0 : t.word(i);
        boolean zero = (e & Qcow2Image.ZERO_FLAG) != 0;
        if (!img.compressed(e) && (!img.hasHost(e) || zero) && !whole) {
            return WriteResult.NEEDS_FILL;
        }
        t = writableL2(l1i);
        e = t.word(i);
        if (img.compressed(e)) {
            ByteBuffer full = decompressedCopy(e, t);
            overlay(full, in, src);
            long host = allocData(clusterStart);
            writeData(full, host);
            t.set(i, host | Qcow2Image.COPIED);
            releaseCompressed(e);
            return WriteResult.DONE;
        }
        if (img.hasHost(e) && (e & Qcow2Image.COPIED) != 0) {
            long host = img.checkedHost(e, t);
            checkNotMetadata(host, t, offset & -img.clusterSize);
            img.dataStorage.write(src, host + in);
            if (zero) {
                t.set(i, host | Qcow2Image.COPIED); // preallocated zero cluster, now fully written
            }
            return WriteResult.DONE;
        }
        ByteBuffer full = cluster.clear();
        if (img.hasHost(e) && !zero) {
            readCluster(img.checkedHost(e, t), full); // shared with a snapshot: copy, then write the copy
        } else {
            zeroCluster(full);
        }
        overlay(full, in, src);
        long host = allocData(clusterStart);
        writeData(full, host);
        t.set(i, host | Qcow2Image.COPIED);
        if (img.hasHost(e) && !img.externalData) {
            refs.releaseLater(e & Qcow2Image.OFFSET_MASK, img.clusterSize);
        }
        return WriteResult.DONE;
    }

    private WriteResult writeExtended(long offset, ByteBuffer src) throws IOException {
        int len = src.remaining();
        long clusterStart = offset & -img.clusterSize;
        int in = (int) (offset - clusterStart);
        long touched = subclusterMask(offset, len);
        int l1i = img.l1Index(offset);
        int i = img.l2Index(offset);
        L2Table t = img.l2For(l1i);
        long e = t == null ? 0 : t.word(2 * i);
        long bitmap = t == null ? 0 : t.word(2 * i + 1);
        if (!img.compressed(e) && partialUnallocated(clusterStart, in, len, bitmap)) {
            return WriteResult.NEEDS_FILL;
        }
        t = writableL2(l1i);
        e = t.word(2 * i);
        bitmap = t.word(2 * i + 1);
        if (img.compressed(e)) {
            ByteBuffer full = decompressedCopy(e, t);
            overlay(full, in, src);
            long host = allocData(clusterStart);
            writeData(full, host);
            t.setPair(2 * i, host | Qcow2Image.COPIED, ALL_SUBCLUSTERS);
            releaseCompressed(e);
            return WriteResult.DONE;
        }
        long newBitmap = (bitmap | touched) & ~(touched << 32);
        if (img.hasHost(e) && (e & Qcow2Image.COPIED) != 0) {
            long host = img.checkedHost(e, t);
            checkNotMetadata(host, t, offset & -img.clusterSize);
            img.dataStorage.write(src, host + in);
            t.setPair(2 * i, e, newBitmap);
            return WriteResult.DONE;
        }
        long host = allocData(clusterStart);
        if (img.hasHost(e)) {
            ByteBuffer full = cluster.clear();
            readCluster(img.checkedHost(e, t), full); // shared: copy the allocated subclusters too
            overlay(full, in, src);
            writeData(full, host);
            if (!img.externalData) {
                refs.releaseLater(e & Qcow2Image.OFFSET_MASK, img.clusterSize);
            }
        } else {
            img.dataStorage.write(src, host + in);
            noteWritten(host + in + len);
        }
        t.setPair(2 * i, host | Qcow2Image.COPIED, newBitmap);
        return WriteResult.DONE;
    }

    /** Whether an end subcluster of the range is only partly covered and not allocated here. */
    private boolean partialUnallocated(long clusterStart, int in, int len, long bitmap) {
        long sub = 1L << img.subclusterBits;
        long span = clusterSpan(clusterStart);
        int first = in >>> img.subclusterBits;
        int last = (in + len - 1) >>> img.subclusterBits;
        boolean firstPartial = in != first * sub;
        boolean lastPartial = in + len != Math.min((last + 1) * sub, span);
        return firstPartial && (bitmap >>> first & 1) == 0 || lastPartial && (bitmap >>> last & 1) == 0;
    }

    // ---- discard ------------------------------------------------------------------------------

    void discard(long offset, long length) throws IOException {
        alloc.lock();
        try {
            prepare();
            boolean backing = img.parent != null;
            for (long off = offset; off < offset + length; off += img.clusterSize) {
                discardCluster(off, backing);
            }
            maybeFlush();
        } finally {
            alloc.unlock();
        }
    }

    private void discardCluster(long off, boolean backing) throws IOException {
        int l1i = img.l1Index(off);
        int i = img.l2Index(off);
        L2Table t = img.l2For(l1i);
        if (t == null && !backing) {
            return; // nothing here, nothing below: already zeros
        }
        if (backing && !img.extL2 && img.header.version() < 3) {
            zeroWrite(off); // version 2 has no zero flag: the cluster must hold zeros
            return;
        }
        t = writableL2(l1i);
        long e = t.word(img.extL2 ? 2 * i : i);
        if (img.compressed(e)) {
            releaseCompressed(e);
        } else if (img.hasHost(e)) {
            long host = img.checkedHost(e, t);
            if (img.externalData) {
                img.dataStorage.zeroRange(host, clusterSpan(off));
            } else {
                refs.releaseLater(host, img.clusterSize);
            }
        }
        if (img.extL2) {
            t.setPair(2 * i, 0, backing ? ALL_SUBCLUSTERS << 32 : 0);
        } else {
            t.set(i, backing ? Qcow2Image.ZERO_FLAG : 0);
        }
    }

    /** A full cluster of zeros through the normal write path (version 2 with a backing file). */
    private void zeroWrite(long clusterStart) throws IOException {
        ByteBuffer zeros = ByteBuffer.allocate((int) clusterSpan(clusterStart));
        if (writeStandard(clusterStart, zeros) != WriteResult.DONE) {
            throw new IllegalStateException("whole-cluster write refused");
        }
    }

    // ---- preallocation (resize --preallocation) ----------------------------------------------

    /**
     * Gives every cluster of {@code [offset, offset + length)} that has no host cluster one, linked
     * with COPIED, as qemu preallocates a grown area; compressed and allocated clusters stay. An
     * extended L2 entry keeps its subcluster bitmap, so nothing reads differently. A new cluster
     * may be one freed earlier: each run of them is made to read as zeros (holes punched, or zeros
     * written), the file grown to cover it, then {@code mode} reserves it or writes zeros over it.
     */
    void preallocate(long offset, long length, Preallocation mode) throws IOException {
        if (img.externalData) {
            throw new UnsupportedFeatureException("qcow2: " + img.path + ": preallocation with an external data file "
                    + "is not supported");
        }
        alloc.lock();
        try {
            prepare();
            long cs = img.clusterSize;
            long runStart = -1;
            long runEnd = -1;
            for (long off = offset & -cs; off < offset + length; off += cs) {
                int l1i = img.l1Index(off);
                int i = img.l2Index(off);
                if (i == 0 && runStart >= 0) {
                    // a table done: its clusters set up before any flush writes the entries naming them
                    readyRun(runStart, runEnd, mode);
                    runStart = -1;
                    runEnd = -1;
                    maybeFlush();
                }
                L2Table t = img.l2For(l1i);
                long e = t == null ? 0 : t.word(img.extL2 ? 2 * i : i);
                if (img.compressed(e) || img.hasHost(e)) {
                    continue;
                }
                t = writableL2(l1i);
                long host = refs.allocate();
                if (host != runEnd) {
                    readyRun(runStart, runEnd, mode);
                    runStart = host;
                }
                runEnd = host + cs;
                if (img.extL2) {
                    t.setPair(2 * i, host | Qcow2Image.COPIED, t.word(2 * i + 1));
                } else {
                    t.set(i, host | Qcow2Image.COPIED);
                }
            }
            readyRun(runStart, runEnd, mode);
            maybeFlush();
        } finally {
            alloc.unlock();
        }
    }

    /** New clusters {@code [start, end)} made to read as zeros, inside the file, then set up by {@code mode}. */
    private void readyRun(long start, long end, Preallocation mode) throws IOException {
        if (start < 0) {
            return;
        }
        long size = img.storage().size();
        if (start < size) {
            img.storage().zeroRange(start, Math.min(end, size) - start);
        }
        if (end > size) {
            img.storage().truncate(end);
        }
        mode.reserve("qcow2", img.storage(), start, end - start);
        noteWritten(end);
    }

    // ---- L1 switch (resize, compaction: see Qcow2Moves) ---------------------------------------

    /**
     * The one L1 switch of resize (a larger table) and compaction (a lower place); qcow2.txt
     * "Header": size 0x18, l1_size 0x24, l1_table_offset 0x28. The {@code clusters} clusters at
     * {@code start} are counted in memory and no table is dirty (the caller flushed, holding the
     * allocation lock). With the dirty bit set: their counts written and forced; the table (the
     * current entries, zeros up to the clusters' end) written and forced; then size, l1_size
     * {@code entries} and l1_table_offset in one header write, forced, the commit point; only
     * then are the old clusters released (forced) and the bit cleared.
     */
    void switchL1(long start, int clusters, long newSize, long entries) throws IOException {
        long cs = img.clusterSize;
        long oldOffset = img.l1Offset;
        long held = (img.l1.length * 8L + cs - 1) / cs * cs;
        markDirty(true);
        refs.writeDirty();
        img.storage().force();
        ByteBuffer table = ByteBuffer.allocate((int) (clusters * cs));
        Bytes b = Bytes.of(table.array());
        for (int i = 0; i < img.l1.length; i++) {
            b.put64be(i * 8, img.l1Entry(i));
        }
        img.storage().write(table, start);
        img.noteEnd(start + clusters * cs);
        img.storage().force();
        Qcow2Resize.writeHeader(img, newSize, entries, start); // the commit point
        img.l1Offset = start;
        if (held > 0 && oldOffset != 0) {
            refs.releaseLater(oldOffset, held);
        }
        refs.applyPendingDecrements(this::freed);
        img.storage().force();
        punchFreed();
        markDirty(false);
    }

    // ---- allocation helpers -------------------------------------------------------------------

    /** The L2 table for {@code l1i}, allocated or copied so this image owns it (refcount 1). */
    L2Table writableL2(int l1i) throws IOException {
        long l1e = img.l1Entry(l1i);
        long off = l1e & Qcow2Image.OFFSET_MASK;
        if (off == 0) {
            long at = refs.allocate();
            L2Table t = new L2Table(at, img.l2Words());
            img.cache.installNew(t.hostOffset, t);
            setL1(l1i, at | Qcow2Image.COPIED);
            return t;
        }
        img.l2For(l1i); // validates the offset
        if ((l1e & Qcow2Image.COPIED) != 0) {
            return img.cache.getForUpdate(off);
        }
        if (refs.get(off) == 1) {
            setL1(l1i, off | Qcow2Image.COPIED); // flag was merely missing
            return img.cache.getForUpdate(off);
        }
        // shared with a snapshot: copy the table; the data clusters keep their counts
        L2Table old = img.cache.get(off);
        long at = refs.allocate();
        L2Table t = old.copyAt(at);
        int step = img.extL2 ? 2 : 1;
        for (int w = 0; w < t.wordCount(); w += step) {
            long e = t.word(w);
            if (!img.compressed(e) && (e & Qcow2Image.OFFSET_MASK) != 0 && !img.externalData) {
                boolean owned = refs.get(e & Qcow2Image.OFFSET_MASK) == 1;
                t.set(w, owned ? e | Qcow2Image.COPIED : e & ~Qcow2Image.COPIED);
            } else if (img.compressed(e)) {
                t.set(w, e & ~Qcow2Image.COPIED);
            }
        }
        img.cache.installNew(t.hostOffset, t);
        setL1(l1i, at | Qcow2Image.COPIED);
        refs.releaseLater(off, img.clusterSize);
        return t;
    }

    void setL1(int l1i, long value) {
        img.setL1Entry(l1i, value);
        dirtyL1Clusters.set((int) (l1i * 8L >>> img.clusterBits));
    }

    /** A host cluster for guest cluster {@code clusterStart}: fixed with a data file, else allocated. */
    private long allocData(long clusterStart) throws IOException {
        return img.externalData ? clusterStart : refs.allocate();
    }

    void writeData(ByteBuffer full, long host) throws IOException {
        full.clear();
        img.dataStorage.write(full, host);
        noteWritten(host + img.clusterSize);
    }

    void noteWritten(long end) {
        if (!img.externalData) {
            img.noteEnd(end);
        }
    }

    private ByteBuffer decompressedCopy(long e, L2Table t) throws IOException {
        ClusterDecompressor d = img.decompress(e, t.hostOffset);
        ByteBuffer full = cluster.clear();
        full.put(d.output.duplicate().clear());
        return full.clear();
    }

    void readCluster(long host, ByteBuffer full) throws IOException {
        full.clear();
        int n = img.dataStorage.read(full, host);
        if (n < full.capacity()) {
            Qcow2Image.zeroFill(full);
        }
        full.clear();
    }

    private static void zeroCluster(ByteBuffer full) {
        full.clear();
        Bytes.of(full.array()).fill(0, full.capacity(), 0);
    }

    private static void overlay(ByteBuffer full, int at, ByteBuffer src) {
        full.clear().position(at);
        full.put(src);
        full.clear();
    }

    /** Releases the host clusters holding a compressed cluster's data (qcow2.txt: whole sectors). */
    void releaseCompressed(long e) {
        long off = img.compressedOffset(e) & ~511L;
        refs.releaseLater(off, img.compressedLength(e) + (img.compressedOffset(e) & 511));
    }

    /** Whether a host offset holds fixed metadata (header, L1 table, refcount table, snapshots). */
    private boolean isMetadata(long host) {
        Qcow2Header h = img.header;
        return host < img.clusterSize
                || overlaps(host, img.l1Offset, img.l1.length * 8L)
                || overlaps(host, refs == null ? h.refcountTableOffset() : refs.tableOffset(),
                        refs == null ? h.refcountTableClusters() * img.clusterSize : refs.tableBytes())
                || h.nbSnapshots() > 0 && overlaps(host, h.snapshotsOffset(), img.clusterSize);
    }

    private boolean overlaps(long host, long start, long bytes) {
        return bytes > 0 && host < start + bytes && host + img.clusterSize > start;
    }

    /** An existing data cluster about to be written in place must lie in the file, clear of metadata. */
    private void checkNotMetadata(long host, L2Table t, long clusterStart) throws CorruptImageException {
        if (img.externalData) {
            if (host != clusterStart) {
                throw new CorruptImageException("qcow2", img.path, "L2 table", t.hostOffset, "data file offset 0x"
                        + Long.toHexString(host) + " differs from the guest offset 0x" + Long.toHexString(clusterStart));
            }
            return;
        }
        if (isMetadata(host)) {
            throw new CorruptImageException("qcow2", img.path, "L2 table", t.hostOffset, "data cluster 0x"
                    + Long.toHexString(host) + " overlaps image metadata; refusing to write");
        }
        if (host >= img.knownEnd()) {
            throw new CorruptImageException("qcow2", img.path, "L2 table", t.hostOffset, "data cluster 0x"
                    + Long.toHexString(host) + " lies past the end of the file; refusing to write");
        }
    }

    /** The allocation lock, for a metadata change outside the write path ({@link Qcow2Resize}). */
    ReentrantLock allocLock() {
        return alloc;
    }

    /** The refcounts this writer keeps, for {@link Qcow2Resize}. */
    Refcounts refcounts() {
        return refs;
    }

    // ---- header, flush ------------------------------------------------------------------------

    /**
     * Before the first change: clears the autoclear bits this writer does not maintain (bitmaps
     * and unknown ones; qcow2.txt: "may only write ... if it clears the respective bits first").
     */
    void prepare() throws IOException {
        if (prepared) {
            return;
        }
        Qcow2Header h = img.header;
        if (h.version() >= 3) {
            long keep = h.autoclearFeatures() & Qcow2Header.AUTOCLEAR_DATA_FILE_RAW;
            java.util.List<long[]> release = null;
            if (img.ext.bitmapCount() > 0) {
                release = Bitmaps.ranges(img.storage(), img.ext, img.clusterSize);
                if (release != null) {
                    ByteBuffer first = ByteBuffer.allocate((int) Math.min(img.clusterSize, img.storage().size()));
                    img.storage().readFully(first, 0, "qcow2", "header cluster");
                    byte[] area = img.ext.areaWithout(Bytes.of(first.array()), HeaderExtensions.BITMAPS);
                    img.storage().write(ByteBuffer.wrap(area), img.ext.start());
                }
            }
            if (keep != h.autoclearFeatures() || release != null) {
                Qcow2Header.writeFeatures(img.storage(), Qcow2Header.OFF_AUTOCLEAR, keep);
            }
            if (release != null) {
                for (long[] r : release) {
                    refs.releaseLater(r[0], r[1]);
                }
            }
        }
        prepared = true;
    }

    void maybeFlush() throws IOException {
        if (img.cache.heldCount() > maxDirtyTables || refs.pendingCount() > 65536
                || refs.dirtyBlockCount() > 64) {
            flushLocked();
        }
    }

    void flush() throws IOException {
        alloc.lock();
        try {
            flushLocked();
        } finally {
            alloc.unlock();
        }
    }

    void flushLocked() throws IOException {
        if (img.dataStorage != img.storage()) {
            img.dataStorage.force();
        }
        img.storage().force();
        boolean window = refs.hasDirty() || refs.pendingCount() > 0;
        if (window) {
            markDirty(true);
        }
        if (refs.hasDirty()) {
            refs.writeDirty();
            img.storage().force();
        }
        if (img.cache.heldCount() > 0 || !dirtyL1Clusters.isEmpty()) {
            ByteBuffer buf = ByteBuffer.allocate((int) img.clusterSize);
            for (L2Table t : img.cache.heldTables()) {
                buf.clear();
                t.encode(buf);
                img.storage().write(buf, t.hostOffset);
                img.noteEnd(t.hostOffset + img.clusterSize);
                img.cache.release(t.hostOffset, t);
            }
            img.storage().force();
            writeDirtyL1(buf);
            img.storage().force();
        }
        if (refs.pendingCount() > 0) {
            ReentrantReadWriteLock.WriteLock w = reuse.writeLock();
            w.lock();
            try {
                refs.applyPendingDecrements(this::freed);
            } finally {
                w.unlock();
            }
            img.storage().force();
            punchFreed();
        }
        if (window) {
            markDirty(false);
        }
    }

    /**
     * The dirty bit (version 3) brackets the refcount updates of a flush: a crash between the
     * refcount increments and the tables using them, or between the tables and the decrements,
     * leaves counted but unused clusters, and the next writable open sees the bit and rebuilds the
     * refcounts ({@link RefcountRebuild}), freeing them. Set and cleared with a force each.
     */
    void markDirty(boolean dirty) throws IOException {
        Qcow2Header h = img.header;
        if (h.version() < 3) {
            return;
        }
        long bits = h.incompatibleFeatures() & ~Qcow2Header.INCOMPAT_DIRTY;
        Qcow2Header.writeFeatures(img.storage(), Qcow2Header.OFF_INCOMPATIBLE,
                dirty ? bits | Qcow2Header.INCOMPAT_DIRTY : bits);
    }

    /** Gives the freed clusters' space back to the host, one call per contiguous run. */
    private void punchFreed() {
        if (freedCount == 0) {
            return;
        }
        long[] f = java.util.Arrays.copyOf(freedClusters, freedCount);
        freedCount = 0;
        java.util.Arrays.sort(f);
        int i = 0;
        while (i < f.length) {
            int j = i + 1;
            while (j < f.length && f[j] == f[j - 1] + img.clusterSize) {
                j++;
            }
            try {
                img.storage().punchHole(f[i], f[j - 1] + img.clusterSize - f[i]);
            } catch (IOException e) {
                // best effort: the clusters are free either way
            }
            i = j;
        }
    }

    private void writeDirtyL1(ByteBuffer buf) throws IOException {
        long bytes = img.l1.length * 8L;
        for (int c = dirtyL1Clusters.nextSetBit(0); c >= 0; c = dirtyL1Clusters.nextSetBit(c + 1)) {
            long start = (long) c << img.clusterBits;
            int n = (int) Math.min(img.clusterSize, bytes - start);
            Bytes b = Bytes.of(buf.array());
            for (int k = 0; k < n / 8; k++) {
                b.put64be(k * 8, img.l1Entry((int) (start / 8) + k));
            }
            buf.clear().limit(n);
            img.storage().write(buf, img.l1Offset + start);
        }
        dirtyL1Clusters.clear();
    }

    /** A host cluster's refcount reached 0: forget it as a table; its space is punched after. */
    private void freed(long host) {
        img.cache.invalidate(host);
        img.generation++;
        if (freedCount == freedClusters.length) {
            freedClusters = java.util.Arrays.copyOf(freedClusters, freedCount * 2);
        }
        freedClusters[freedCount++] = host;
    }
}
