package org.vdmount.vd.format.qcow2;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.BitSet;
import java.util.List;
import org.vdmount.vd.Bytes;
import org.vdmount.vd.VdException;
import org.vdmount.vd.storage.Storage;

/**
 * Repairs an image left with the dirty bit set (lazy refcounts, not closed cleanly) when it is
 * opened writable: the refcounts are rebuilt from the metadata ({@link ClusterCensus}) and written
 * as a new refcount structure, the way {@code qemu-img check -r all} would. Damaged metadata is
 * refused by the census, before anything is written.
 *
 * <p>Every step leaves an image that is either still dirty (so the next writable open repairs it
 * again) or clean, and never touches guest data:
 * <ol>
 * <li>bit 63 (COPIED) of the active L1 and L2 entries is set to "refcount is 1" in place (while
 *     the image is dirty, either value is safe: a clear flag only means copy-on-write);</li>
 * <li>the new refcount table and blocks go to fresh clusters past the end of the file; forced;</li>
 * <li>the header switches to the new table (one 12-byte write); forced;</li>
 * <li>the dirty bit is cleared; forced.</li>
 * </ol>
 * The old refcount table and blocks become free clusters.
 */
final class RefcountRebuild {
    /** Test hook: stop (as a crash would) before write number N + 1 of the repair; -1 = never. */
    static volatile int stopAfterWrites = -1;
    /** How many writes the last repair made. */
    static volatile int lastWrites;

    private static final int MAX_WRITE_BYTES = 1 << 20;

    /** The header after the repair and the one-line warning that reports it. */
    record Result(Qcow2Header header, String message) {
    }

    private final Storage storage;
    private final Path path;
    private final Qcow2Header h;
    private final ClusterCensus census;
    private final int clusterBits;
    private final long clusterSize;
    private final int order;
    private final int blockShift;     // log2(entries per refcount block)
    private int writes;

    private RefcountRebuild(Storage storage, Qcow2Header h, ClusterCensus census) {
        this.storage = storage;
        this.path = storage.path();
        this.h = h;
        this.census = census;
        this.clusterBits = h.clusterBits();
        this.clusterSize = h.clusterSize();
        this.order = h.refcountOrder();
        this.blockShift = clusterBits + 3 - order;
    }

    static Result run(Storage storage, Qcow2Header h, HeaderExtensions ext, List<Qcow2Snapshot> snapshots)
            throws IOException {
        ClusterCensus census = ClusterCensus.take(storage, h, ext, snapshots);
        RefcountRebuild r = new RefcountRebuild(storage, h, census);
        long[] stats = r.compareWithOld();
        int flags = r.fixCopiedFlags();
        Qcow2Header repaired = r.writeNewStructure();
        lastWrites = r.writes;
        String fixed = stats[0] + " refcounts corrected, " + stats[1] + " leaked clusters freed"
                + (flags > 0 ? ", " + flags + " COPIED flags fixed" : "");
        return new Result(repaired, "qcow2: " + storage.path() + " was not closed cleanly (dirty bit set): "
                + "refcounts rebuilt from the metadata (" + fixed + ")");
    }

    /**
     * Reads the old refcounts as far as they are readable (a damaged block counts as zeros) and
     * returns {wrong, leaked}: clusters whose count changes while in use, clusters that held a
     * count but are used by nothing (the old refcount structure itself excepted).
     */
    private long[] compareWithOld() throws IOException {
        long fileSize = storage.size();
        long entries = h.refcountTableClusters() * clusterSize / 8;
        long clusters = census.clusters();
        long blocks = Math.min(entries, ((clusters - 1) >>> blockShift) + 1);
        ByteBuffer table = ByteBuffer.allocate((int) blocks * 8);
        storage.readFully(table, h.refcountTableOffset(), "qcow2", "refcount table");
        Bytes t = Bytes.of(table.array());
        BitSet oldStructure = new BitSet();
        for (long c = h.refcountTableOffset() >>> clusterBits; c < clusters
                && c < (h.refcountTableOffset() + entries * 8 + clusterSize - 1) >>> clusterBits; c++) {
            oldStructure.set((int) c);
        }
        byte[] block = new byte[(int) clusterSize];
        long wrong = 0;
        long leaked = 0;
        long perBlock = 1L << blockShift;
        for (long bi = 0; bi * perBlock < clusters; bi++) {
            long off = bi < blocks ? t.u64be((int) bi * 8) & ~511L : 0;
            boolean readable = off >= clusterSize && (off & (clusterSize - 1)) == 0 && off <= fileSize - clusterSize;
            if (readable) {
                storage.readFully(ByteBuffer.wrap(block), off, "qcow2", "refcount block");
                oldStructure.set((int) (off >>> clusterBits));
            }
            for (long c = bi * perBlock; c < Math.min(clusters, (bi + 1) * perBlock); c++) {
                long was = readable ? Refcounts.entry(block, order, (int) (c - bi * perBlock)) : 0;
                long now = census.count(c);
                if (now > 0 && was != now) {
                    wrong++;
                } else if (now == 0 && was > 0 && !oldStructure.get((int) c)) {
                    leaked++;
                }
            }
        }
        return new long[] {wrong, leaked};
    }

    /** Sets bit 63 of the active L1 and L2 entries to "refcount is exactly 1"; returns how many changed. */
    private int fixCopiedFlags() throws IOException {
        long l1Size = h.l1Size();
        if (l1Size == 0) {
            return 0;
        }
        ByteBuffer l1Buf = ByteBuffer.allocate((int) l1Size * 8);
        storage.readFully(l1Buf, h.l1TableOffset(), "qcow2", "L1 table");
        Bytes l1 = Bytes.of(l1Buf.array());
        ByteBuffer l2Buf = ByteBuffer.allocate((int) clusterSize);
        Bytes l2 = Bytes.of(l2Buf.array());
        BitSet dirtyL1 = new BitSet();
        int step = h.extendedL2() ? 16 : 8;
        int fixed = 0;
        for (int i = 0; i < l1Size; i++) {
            long e = l1.u64be(i * 8);
            long off = e & Qcow2Image.OFFSET_MASK;
            if (off == 0) {
                continue;
            }
            long want = census.count(off >>> clusterBits) == 1 ? Qcow2Image.COPIED : 0;
            if ((e & Qcow2Image.COPIED) != want) {
                l1.put64be(i * 8, e & ~Qcow2Image.COPIED | want);
                dirtyL1.set((int) ((long) i * 8 >>> clusterBits));
                fixed++;
            }
            l2Buf.clear();
            storage.readFully(l2Buf, off, "qcow2", "L2 table");
            boolean changed = false;
            for (int p = 0; p < clusterSize; p += step) {
                long d = l2.u64be(p);
                long host = d & Qcow2Image.OFFSET_MASK;
                long flag;
                if ((d & Qcow2Image.COMPRESSED) != 0) {
                    flag = 0; // never set on compressed clusters
                } else if (host == 0) {
                    continue; // unallocated or zero (data file offset 0 keeps its flag)
                } else {
                    flag = h.externalDataFile() || census.count(host >>> clusterBits) == 1 ? Qcow2Image.COPIED : 0;
                }
                if ((d & Qcow2Image.COPIED) != flag) {
                    l2.put64be(p, d & ~Qcow2Image.COPIED | flag);
                    changed = true;
                    fixed++;
                }
            }
            if (changed) {
                l2Buf.clear();
                write(l2Buf, off);
            }
        }
        for (int c = dirtyL1.nextSetBit(0); c >= 0; c = dirtyL1.nextSetBit(c + 1)) {
            long start = (long) c << clusterBits;
            l1Buf.clear().position((int) start).limit((int) Math.min(l1Size * 8, start + clusterSize));
            write(l1Buf, h.l1TableOffset() + start);
        }
        if (fixed > 0) {
            storage.force();
        }
        return fixed;
    }

    /**
     * Places the new table and blocks past the end of the file: the table first, then one block
     * for every range of clusters with a nonzero count (the new structure counts itself). Writes
     * them, then switches the header and clears the dirty bit.
     */
    private Qcow2Header writeNewStructure() throws IOException {
        long first = census.clusters();              // the first cluster past the file
        BitSet used = new BitSet();                  // block indices covering counted clusters
        for (long c = 0; c < first; c++) {
            if (census.count(c) > 0) {
                used.set((int) (c >>> blockShift));
                c = ((c >>> blockShift) + 1 << blockShift) - 1;
            }
        }
        long tableClusters = 1;
        long blocks = 0;
        BitSet all;
        while (true) {
            long end = first + tableClusters + blocks;
            all = (BitSet) used.clone();
            all.set((int) (first >>> blockShift), (int) ((end - 1) >>> blockShift) + 1);
            long entries = ((end - 1) >>> blockShift) + 1;
            long needTable = (entries * 8 + clusterSize - 1) >>> clusterBits;
            if (needTable == tableClusters && all.cardinality() == blocks) {
                break;
            }
            tableClusters = Math.max(tableClusters, needTable);
            blocks = Math.max(blocks, all.cardinality());
        }
        if (tableClusters * clusterSize > Qcow2Header.MAX_REFTABLE_BYTES) {
            throw new VdException("qcow2: " + path + ": the rebuilt refcount table would exceed "
                    + Qcow2Header.MAX_REFTABLE_BYTES + " bytes");
        }
        long end = first + tableClusters + blocks;   // clusters [first, end) hold the new structure
        ByteBuffer table = ByteBuffer.allocate((int) (tableClusters * clusterSize));
        Bytes tb = Bytes.of(table.array());
        long at = first + tableClusters;
        for (int bi = all.nextSetBit(0); bi >= 0; bi = all.nextSetBit(bi + 1)) {
            tb.put64be(bi * 8, at++ << clusterBits);
        }
        writeBlocks(all, first, end);
        write(table, first << clusterBits);
        storage.force();
        ByteBuffer ptr = ByteBuffer.allocate(12);
        Bytes.of(ptr.array()).put64be(0, first << clusterBits).put32be(8, tableClusters);
        write(ptr, Qcow2Header.OFF_REFCOUNT_TABLE);
        storage.force();
        ByteBuffer bits = ByteBuffer.allocate(8);
        Bytes.of(bits.array()).put64be(0, h.incompatibleFeatures() & ~Qcow2Header.INCOMPAT_DIRTY);
        write(bits, Qcow2Header.OFF_INCOMPATIBLE);
        storage.force();
        return h.repaired(first << clusterBits, tableClusters);
    }

    /** The blocks of {@code all}, consecutive from cluster {@code first + table clusters}, in large writes. */
    private void writeBlocks(BitSet all, long first, long end) throws IOException {
        int perWrite = (int) Math.max(1, MAX_WRITE_BYTES >>> clusterBits);
        ByteBuffer buf = ByteBuffer.allocate((int) (Math.min(perWrite, all.cardinality()) * clusterSize));
        byte[] a = buf.array();
        long perBlock = 1L << blockShift;
        long at = end - all.cardinality();
        int filled = 0;
        for (int bi = all.nextSetBit(0); bi >= 0; bi = all.nextSetBit(bi + 1)) {
            int base = (int) (filled * clusterSize);
            Arrays.fill(a, base, (int) (base + clusterSize), (byte) 0);
            int firstEntry = base * 8 >>> order;
            for (long i = 0; i < perBlock; i++) {
                long c = (long) bi * perBlock + i;
                long v = c < first ? census.count(c) : c < end ? 1 : 0;
                if (v != 0) {
                    Refcounts.putEntry(a, order, firstEntry + (int) i, v);
                }
            }
            if (++filled * clusterSize == a.length) {
                buf.clear();
                write(buf, at << clusterBits);
                at += filled;
                filled = 0;
            }
        }
        if (filled > 0) {
            buf.clear().limit((int) (filled * clusterSize));
            write(buf, at << clusterBits);
        }
    }

    private void write(ByteBuffer src, long pos) throws IOException {
        if (writes == stopAfterWrites) {
            throw new VdException("qcow2: repair of " + path + " stopped after " + writes + " writes (test hook)");
        }
        storage.write(src, pos);
        writes++;
    }
}
