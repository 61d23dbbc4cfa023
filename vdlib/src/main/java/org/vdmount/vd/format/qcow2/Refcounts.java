package org.vdmount.vd.format.qcow2;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.BitSet;
import java.util.Iterator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.function.LongConsumer;
import java.util.function.LongPredicate;
import org.vdmount.vd.Bytes;
import org.vdmount.vd.CorruptImageException;
import org.vdmount.vd.TruncatedImageException;
import org.vdmount.vd.VdException;
import org.vdmount.vd.storage.Storage;

/**
 * Host cluster reference counts (qcow2.txt "Host cluster management"): the refcount table (kept
 * whole in memory, at most 8 MiB) points to refcount blocks of {@code 2^refcount_order}-bit
 * entries, cached here. Used only by writers, under the image's allocation lock.
 *
 * <p>Ordering: increments (allocations) may reach the file before the L2 tables that use the
 * clusters; decrements are kept pending and applied only after the tables that stopped using the
 * clusters were written ({@link #applyPendingDecrements}). A crash therefore leaks clusters at
 * worst, and a freed cluster is never reused before the file no longer points to it.
 */
final class Refcounts {
    private final Storage storage;
    private final Path path;
    private final int clusterBits;
    private final long clusterSize;
    private final int order;
    private final int blockShift;     // log2(entries per refcount block)
    private final long maxRefcount;
    private final int maxCachedBlocks;
    private final LongPredicate reserved;
    private final java.util.function.LongSupplier fileEnd;
    private long allocatedHere;

    private long[] table;
    private long tableOffset;
    private final BitSet dirtyTableClusters = new BitSet();
    private final LinkedHashMap<Long, RefBlock> blocks = new LinkedHashMap<>(16, 0.75f, true);
    private long[] pending = new long[64];
    private int pendingCount;
    private long cursor = 1;

    /** One refcount block: a cluster of packed entries (bit 0 = least significant for sub-byte widths). */
    private final class RefBlock {
        final long hostOffset;
        final byte[] data;
        boolean dirty;

        RefBlock(long hostOffset, byte[] data) {
            this.hostOffset = hostOffset;
            this.data = data;
        }

        long get(int i) {
            return entry(data, order, i);
        }

        void set(int i, long v) {
            putEntry(data, order, i, v);
            dirty = true;
        }
    }

    /** Entry {@code i} of a refcount block of {@code 2^order}-bit entries (qcow2.txt "Refcount block entry"). */
    static long entry(byte[] block, int order, int i) {
        int bits = 1 << order;
        if (bits >= 8) {
            int n = bits / 8;
            long v = 0;
            for (int k = 0; k < n; k++) {
                v = v << 8 | (block[i * n + k] & 0xFF);
            }
            return v;
        }
        int bit = i * bits;
        return (block[bit >>> 3] >>> (bit & 7)) & ((1 << bits) - 1);
    }

    /** Sets entry {@code i}; sub-byte entries fill each byte from its least significant bit. */
    static void putEntry(byte[] block, int order, int i, long v) {
        int bits = 1 << order;
        if (bits >= 8) {
            int n = bits / 8;
            for (int k = n - 1; k >= 0; k--) {
                block[i * n + k] = (byte) v;
                v >>>= 8;
            }
        } else {
            int bit = i * bits;
            int mask = ((1 << bits) - 1) << (bit & 7);
            block[bit >>> 3] = (byte) ((block[bit >>> 3] & ~mask) | (((int) v << (bit & 7)) & mask));
        }
    }

    /** The largest refcount {@code 2^order}-bit entries hold. */
    static long maxRefcount(int order) {
        return order == 6 ? Long.MAX_VALUE : (1L << (1 << order)) - 1;
    }

    Refcounts(Storage storage, int clusterBits, int order, long tableOffset, long tableClusters,
              int maxCachedBlocks, LongPredicate reserved, java.util.function.LongSupplier fileEnd)
            throws IOException {
        this.storage = storage;
        this.path = storage.path();
        this.clusterBits = clusterBits;
        this.clusterSize = 1L << clusterBits;
        this.order = order;
        this.blockShift = clusterBits + 3 - order;
        this.maxRefcount = maxRefcount(order);
        this.maxCachedBlocks = Math.max(4, maxCachedBlocks);
        this.reserved = reserved;
        this.fileEnd = fileEnd;
        this.tableOffset = tableOffset;
        int entries = (int) (tableClusters * clusterSize / 8);
        ByteBuffer raw = ByteBuffer.allocate(entries * 8);
        storage.readFully(raw, tableOffset, "qcow2", "refcount table");
        Bytes b = Bytes.of(raw.array());
        this.table = new long[entries];
        for (int i = 0; i < entries; i++) {
            table[i] = b.u64be(i * 8);
        }
    }

    long tableOffset() {
        return tableOffset;
    }

    long tableBytes() {
        return (long) table.length * 8;
    }

    /** The refcount of the host cluster holding {@code hostOffset}. */
    long get(long hostOffset) throws IOException {
        long c = hostOffset >>> clusterBits;
        long bi = c >>> blockShift;
        if (bi >= table.length || table[(int) bi] == 0) {
            return 0;
        }
        return block((int) bi).get((int) (c & ((1L << blockShift) - 1)));
    }

    /** Allocates one free host cluster with refcount 1 and returns its offset. */
    long allocate() throws IOException {
        long c = cursor;
        // a consistent image claims no more clusters than the file holds plus what we allocated:
        // scanning further means the refcounts are garbage (and would take forever)
        long budget = (fileEnd.getAsLong() >>> clusterBits) + allocatedHere + 1024;
        while (true) {
            if (c >= 1L << (56 - clusterBits)) {
                throw new VdException("qcow2: " + path + " is full: no host cluster below 64 PiB is free");
            }
            long bi = c >>> blockShift;
            if (bi >= table.length) {
                growTable(bi);
                continue;
            }
            if (table[(int) bi] == 0) {
                createBlockAt(c, (int) bi);
                c++;
                continue;
            }
            RefBlock b = block((int) bi);
            long blockEnd = (bi + 1) << blockShift;
            for (; c < blockEnd; c++) {
                int idx = (int) (c & ((1L << blockShift) - 1));
                if (--budget < 0) {
                    throw new CorruptImageException("qcow2", path, "refcount table", tableOffset, "refcounts claim "
                            + "more clusters than the file holds; repair with 'qemu-img check -r all'");
                }
                if (b.get(idx) == 0) {
                    if (reserved.test(c << clusterBits)) {
                        throw new CorruptImageException("qcow2", path, "refcount block", b.hostOffset,
                                "cluster 0x" + Long.toHexString(c << clusterBits) + " holds metadata but has refcount 0");
                    }
                    b.set(idx, 1);
                    cursor = c + 1;
                    allocatedHere++;
                    return c << clusterBits;
                }
            }
        }
    }

    /**
     * The lowest host cluster with refcount 0 below {@code limit} (a host offset), or -1: the one
     * {@link #allocate} returns next if it lies below the limit (compaction asks before it moves).
     */
    long lowestFree(long limit) throws IOException {
        for (long c = cursor; c << clusterBits < limit; c++) {
            long bi = c >>> blockShift;
            if (bi >= table.length || table[(int) bi] == 0) {
                return -1;
            }
            if (block((int) bi).get((int) (c & ((1L << blockShift) - 1))) == 0) {
                return c << clusterBits;
            }
        }
        return -1;
    }

    /** The host offsets of the refcount blocks, by refcount table index (0 = none). */
    long[] blockOffsets() {
        return table.clone();
    }

    /**
     * Compaction: moves refcount block {@code bi} into the lowest free cluster below it, if any.
     * The copy (counting its new cluster) and the block counting that cluster are written and
     * forced before the table entry; the old cluster is released by the next flush, after the
     * tables. A crash in between leaks one cluster. Returns the new offset, or -1.
     */
    long moveBlock(int bi) throws IOException {
        long from = table[bi];
        long to = lowestFree(from);
        if (from == 0 || to < 0) {
            return -1;
        }
        RefBlock old = block(bi);
        if (allocate() != to) {
            throw new IllegalStateException("qcow2: host cluster 0x" + Long.toHexString(to) + " was not free");
        }
        RefBlock moved = new RefBlock(to, old.data.clone());
        moved.dirty = true;
        blocks.put((long) bi, moved); // the old object (and its location) is never written again
        writeDirty();
        storage.force();
        table[bi] = to;
        dirtyTableClusters.set((int) ((long) bi * 8 / clusterSize));
        writeDirty();
        storage.force();
        releaseLater(from, clusterSize);
        return to;
    }

    /**
     * Compaction: moves the refcount table into the lowest run of free clusters below it, if
     * any, as {@link #growTable} switches tables: the copy and the counts of its clusters forced,
     * then the header's pointer forced; the old clusters are released by the next flush. Returns
     * the new offset, or -1.
     */
    long moveTable() throws IOException {
        long n = (tableBytes() + clusterSize - 1) / clusterSize;
        long newOffset = allocateRunBelow((int) n, tableOffset);
        if (newOffset < 0) {
            return -1;
        }
        writeTableCopy(table, n, newOffset);
        writeDirty();
        storage.force();
        pointHeaderAt(newOffset, n);
        long oldOffset = tableOffset;
        tableOffset = newOffset;
        dirtyTableClusters.clear();
        releaseLater(oldOffset, tableBytes());
        return newOffset;
    }

    /**
     * Compaction: the lowest run of {@code n} free clusters that ends at or below {@code limit} (a
     * host offset), counted (refcount 1, in memory until {@link #writeDirty}); -1 if there is none.
     */
    long allocateRunBelow(int n, long limit) throws IOException {
        long run = 0;
        long start = -1;
        for (long c = cursor; (c + n - run) << clusterBits <= limit; c++) {
            long bi = c >>> blockShift;
            if (bi >= table.length || table[(int) bi] == 0) {
                return -1;
            }
            if (block((int) bi).get((int) (c & ((1L << blockShift) - 1))) == 0) {
                start = run == 0 ? c : start;
                if (++run == n) {
                    break;
                }
            } else {
                run = 0;
            }
        }
        if (run < n) {
            return -1;
        }
        for (long c = start; c < start + n; c++) {
            RefBlock b = block((int) (c >>> blockShift));
            b.set((int) (c & ((1L << blockShift) - 1)), 1);
        }
        return start << clusterBits;
    }

    /** One past the last cluster below {@code end} whose refcount is not 0: where the used file ends. */
    long usedEnd(long end) throws IOException {
        for (long c = (end + clusterSize - 1) >>> clusterBits; c > 1; c--) {
            if (get((c - 1) << clusterBits) > 0) {
                return c << clusterBits;
            }
        }
        return clusterSize;
    }

    /**
     * {@code n} contiguous clusters with refcount 1 (in memory until {@link #writeDirty}) past the
     * end of the file, for a table that must be contiguous (a moved L1 table). The refcount blocks
     * the run lacks are created in the clusters just before it, covered by themselves or by each
     * other; a run never has to fit inside one block's reach.
     */
    long allocateRun(int n) throws IOException {
        long end = (Math.max(storage.size(), fileEnd.getAsLong()) + clusterSize - 1) >>> clusterBits;
        long lastBi = (end + 2L * n + 64) >>> blockShift; // generous: blocks plus the run
        if (lastBi >= table.length) {
            growTable(lastBi);
            end = (Math.max(storage.size(), fileEnd.getAsLong()) + clusterSize - 1) >>> clusterBits;
        }
        long first = end;
        List<Long> missing = new ArrayList<>();
        while (true) {
            long runStart = first + missing.size();
            List<Long> now = new ArrayList<>();
            for (long bi = first >>> blockShift; bi <= (runStart + n - 1) >>> blockShift; bi++) {
                if (bi >= table.length) {
                    throw new VdException("qcow2: " + path + ": refcount table too small for a run of " + n
                            + " clusters at 0x" + Long.toHexString(runStart << clusterBits));
                }
                if (table[(int) bi] == 0) {
                    now.add(bi);
                }
            }
            if (now.size() == missing.size()) {
                missing = now;
                break;
            }
            missing = now;
        }
        for (int j = 0; j < missing.size(); j++) {
            long bi = missing.get(j);
            long at = (first + j) << clusterBits;
            table[(int) bi] = at;
            dirtyTableClusters.set((int) (bi * 8 / clusterSize));
            RefBlock b = new RefBlock(at, new byte[(int) clusterSize]);
            b.dirty = true;
            put(bi, b);
        }
        long runStart = first + missing.size();
        for (long c = first; c < runStart + n; c++) {
            RefBlock b = block((int) (c >>> blockShift));
            int idx = (int) (c & ((1L << blockShift) - 1));
            if (b.get(idx) != 0) {
                throw new CorruptImageException("qcow2", path, "refcount block", b.hostOffset, "cluster 0x"
                        + Long.toHexString(c << clusterBits) + " past the end of the file has refcount " + b.get(idx));
            }
            b.set(idx, 1);
        }
        allocatedHere += runStart + n - first;
        return runStart << clusterBits;
    }

    /** Adds one reference to an allocated cluster (copy-on-write of a shared L2 table keeps its data). */
    void increment(long hostOffset) throws IOException {
        long c = hostOffset >>> clusterBits;
        long bi = c >>> blockShift;
        if (bi >= table.length || table[(int) bi] == 0) {
            throw new CorruptImageException("qcow2", path, "refcount table", tableOffset, "cluster 0x"
                    + Long.toHexString(hostOffset) + " is in use but has no refcount block");
        }
        RefBlock b = block((int) bi);
        int idx = (int) (c & ((1L << blockShift) - 1));
        long v = b.get(idx);
        if (v >= maxRefcount) {
            throw new VdException("qcow2: refcount of cluster 0x" + Long.toHexString(hostOffset) + " in " + path
                    + " would overflow " + (1 << order) + " bits");
        }
        b.set(idx, v + 1);
    }

    /** Drops one reference from every host cluster overlapping the range, after the next table write. */
    void releaseLater(long hostOffset, long length) {
        long first = hostOffset >>> clusterBits;
        long last = (hostOffset + length - 1) >>> clusterBits;
        for (long c = first; c <= last; c++) {
            if (pendingCount == pending.length) {
                pending = Arrays.copyOf(pending, pendingCount * 2);
            }
            pending[pendingCount++] = c;
        }
    }

    int pendingCount() {
        return pendingCount;
    }

    int dirtyBlockCount() {
        int n = 0;
        for (RefBlock b : blocks.values()) {
            n += b.dirty ? 1 : 0;
        }
        return n;
    }

    boolean hasDirty() {
        return !dirtyTableClusters.isEmpty() || dirtyBlockCount() > 0;
    }

    /**
     * Writes changed blocks, then (after forcing them) changed refcount table clusters. Increments
     * only: always safe to run before the L2 tables that use the new clusters are written.
     */
    void writeDirty() throws IOException {
        ByteBuffer buf = null;
        for (RefBlock b : blocks.values()) {
            if (b.dirty) {
                storage.write(ByteBuffer.wrap(b.data), b.hostOffset);
                b.dirty = false;
            }
        }
        if (!dirtyTableClusters.isEmpty()) {
            storage.force();
            int perCluster = (int) (clusterSize / 8);
            for (int tc = dirtyTableClusters.nextSetBit(0); tc >= 0; tc = dirtyTableClusters.nextSetBit(tc + 1)) {
                if (buf == null) {
                    buf = ByteBuffer.allocate((int) clusterSize);
                }
                Bytes out = Bytes.of(buf.array());
                for (int i = 0; i < perCluster; i++) {
                    out.put64be(i * 8, table[tc * perCluster + i]);
                }
                buf.clear();
                storage.write(buf, tableOffset + (long) tc * clusterSize);
            }
            dirtyTableClusters.clear();
        }
    }

    /**
     * Applies the pending decrements (the tables that dropped those references are on disk by
     * now) and writes the blocks. {@code freed} receives every cluster whose count reached 0.
     */
    void applyPendingDecrements(LongConsumer freed) throws IOException {
        for (int i = 0; i < pendingCount; i++) {
            long c = pending[i];
            long bi = c >>> blockShift;
            if (bi >= table.length || table[(int) bi] == 0) {
                throw new CorruptImageException("qcow2", path, "refcount table", tableOffset, "freeing cluster 0x"
                        + Long.toHexString(c << clusterBits) + " that has no refcount block");
            }
            RefBlock b = block((int) bi);
            int idx = (int) (c & ((1L << blockShift) - 1));
            long v = b.get(idx);
            if (v == 0) {
                throw new CorruptImageException("qcow2", path, "refcount block", b.hostOffset, "freeing cluster 0x"
                        + Long.toHexString(c << clusterBits) + " whose refcount is already 0");
            }
            b.set(idx, v - 1);
            if (v == 1) {
                freed.accept(c << clusterBits);
                cursor = Math.min(cursor, c);
            }
        }
        pendingCount = 0;
        writeDirty();
    }

    private RefBlock block(int bi) throws IOException {
        RefBlock b = blocks.get((long) bi);
        if (b != null) {
            return b;
        }
        long off = table[bi];
        if ((off & (clusterSize - 1)) != 0 || off < clusterSize) {
            throw new CorruptImageException("qcow2", path, "refcount table", tableOffset + bi * 8L,
                    "refcount block offset 0x" + Long.toHexString(off) + " is not a cluster-aligned position after "
                    + "the header");
        }
        long fileSize = storage.size();
        if (off + clusterSize > fileSize) {
            throw new TruncatedImageException("qcow2", path, "refcount block", off, clusterSize, fileSize);
        }
        byte[] data = new byte[(int) clusterSize];
        storage.readFully(ByteBuffer.wrap(data), off, "qcow2", "refcount block");
        b = new RefBlock(off, data);
        put(bi, b);
        return b;
    }

    private void put(long bi, RefBlock b) {
        blocks.put(bi, b);
        if (blocks.size() > maxCachedBlocks) {
            Iterator<Map.Entry<Long, RefBlock>> it = blocks.entrySet().iterator();
            while (it.hasNext() && blocks.size() > maxCachedBlocks) {
                if (!it.next().getValue().dirty) {
                    it.remove();
                }
            }
        }
    }

    /** A new refcount block in cluster {@code c}, which it covers itself (refcount 1). */
    private void createBlockAt(long c, int bi) {
        allocatedHere++;
        RefBlock b = new RefBlock(c << clusterBits, new byte[(int) clusterSize]);
        b.set((int) (c & ((1L << blockShift) - 1)), 1);
        table[bi] = c << clusterBits;
        dirtyTableClusters.set((int) ((long) bi * 8 / clusterSize));
        put(bi, b);
    }

    /**
     * Moves the refcount table to a larger one placed past everything the current table covers,
     * followed by the new blocks that cover the new table and themselves. Written and forced
     * before the header switches to it; the old table's clusters are released afterwards.
     */
    private void growTable(long neededIndex) throws IOException {
        writeDirty();
        storage.force();
        long perCluster = clusterSize / 8;
        long start = (long) table.length << blockShift; // first cluster nothing covers
        long entries = Math.max(neededIndex + 1, (long) table.length * 2);
        long tableClusters;
        long newBlocks;
        long firstBi = start >>> blockShift;
        while (true) {
            entries = (entries + perCluster - 1) / perCluster * perCluster;
            tableClusters = entries / perCluster;
            newBlocks = 0;
            long needed;
            while ((needed = ((start + tableClusters + newBlocks - 1) >>> blockShift) - firstBi + 1) != newBlocks) {
                newBlocks = needed;
            }
            if (firstBi + newBlocks <= entries) {
                break;
            }
            entries = firstBi + newBlocks;
        }
        if (entries * 8 > Qcow2Header.MAX_REFTABLE_BYTES) {
            throw new VdException("qcow2: " + path + ": refcount table would exceed "
                    + Qcow2Header.MAX_REFTABLE_BYTES + " bytes");
        }
        long[] grown = Arrays.copyOf(table, (int) entries);
        List<RefBlock> made = new ArrayList<>();
        for (long k = 0; k < newBlocks; k++) {
            long at = (start + tableClusters + k) << clusterBits;
            grown[(int) (firstBi + k)] = at;
            made.add(new RefBlock(at, new byte[(int) clusterSize]));
        }
        for (long c = start; c < start + tableClusters + newBlocks; c++) {
            RefBlock b = made.get((int) ((c >>> blockShift) - firstBi));
            b.set((int) (c & ((1L << blockShift) - 1)), 1);
        }
        for (RefBlock b : made) {
            storage.write(ByteBuffer.wrap(b.data), b.hostOffset);
            b.dirty = false;
        }
        long newOffset = start << clusterBits;
        writeTableCopy(grown, tableClusters, newOffset);
        storage.force();
        pointHeaderAt(newOffset, tableClusters);
        long oldOffset = tableOffset;
        long oldBytes = (long) table.length * 8;
        table = grown;
        tableOffset = newOffset;
        dirtyTableClusters.clear();
        for (int k = 0; k < made.size(); k++) {
            put(firstBi + k, made.get(k));
        }
        releaseLater(oldOffset, oldBytes);
    }

    /** Writes {@code entries} as a refcount table of {@code clusters} clusters at {@code offset} (not forced). */
    private void writeTableCopy(long[] entries, long clusters, long offset) throws IOException {
        ByteBuffer t = ByteBuffer.allocate((int) (clusters * clusterSize));
        Bytes tb = Bytes.of(t.array());
        for (int i = 0; i < entries.length; i++) {
            tb.put64be(i * 8, entries[i]);
        }
        storage.write(t, offset);
    }

    /**
     * The header's refcount_table_offset and refcount_table_clusters (qcow2.txt "Header", bytes
     * 48-59) switched to a table already written and forced: one write, forced.
     */
    private void pointHeaderAt(long offset, long clusters) throws IOException {
        ByteBuffer hdr = ByteBuffer.allocate(12);
        Bytes.of(hdr.array()).put64be(0, offset).put32be(8, clusters);
        storage.write(hdr, Qcow2Header.OFF_REFCOUNT_TABLE);
        storage.force();
    }
}
