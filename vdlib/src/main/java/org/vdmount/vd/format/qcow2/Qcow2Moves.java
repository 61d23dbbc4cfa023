package org.vdmount.vd.format.qcow2;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.util.Arrays;
import java.util.concurrent.locks.ReentrantLock;

/**
 * The moves compaction makes in a writable qcow2 image ({@link Qcow2Compact}): data clusters,
 * compressed clusters, L2 tables, the L1 table and the refcount structures into free space nearer
 * the front, clusters given up, and the file cut after the last cluster in use. Each move runs
 * under the writer's allocation lock and leaves its writes to {@link Qcow2Writer#flush}'s order
 * (data, refcount increments, tables, refcount decrements, each step forced), so a crash at any
 * point leaves the image as of a flush.
 */
final class Qcow2Moves {
    private final Qcow2Image img;
    private final Qcow2Writer w;
    private final ReentrantLock alloc;
    private final Refcounts refs;

    Qcow2Moves(Qcow2Image img) {
        this.img = img;
        this.w = img.writer;
        this.alloc = w.allocLock();
        this.refs = w.refs;
    }

    /** The writer's allocation lock, for a caller that makes several moves as one step. */
    ReentrantLock allocLock() {
        return alloc;
    }

    /** {@link Qcow2Writer#flush}: what the moves so far left in memory, written in its order. */
    void flush() throws IOException {
        w.flush();
    }

    /**
     * Gives up the host cluster of guest cluster {@code off}: the entry becomes 0 (unallocated) or,
     * with {@code zeroFlag}, the zero flag; the refcount drops once the table is written. Standard
     * clusters with a host and compressed clusters (each host cluster their sectors touch drops by
     * one); returns false (and changes nothing) for any other entry.
     */
    boolean releaseCluster(long off, boolean zeroFlag) throws IOException {
        alloc.lock();
        try {
            w.prepare();
            int l1i = img.l1Index(off);
            int i = img.l2Index(off);
            L2Table t = img.l2For(l1i);
            long e = t == null ? 0 : t.word(i);
            if (t == null || !img.compressed(e) && !img.hasHost(e)) {
                return false;
            }
            long host = img.compressed(e) ? -1 : img.checkedHost(e, t);
            t = w.writableL2(l1i);
            if (host < 0) {
                w.releaseCompressed(e); // every host cluster its sectors touch loses one user
            } else {
                refs.releaseLater(host, img.clusterSize);
            }
            t.set(i, zeroFlag ? Qcow2Image.ZERO_FLAG : 0);
            w.maybeFlush();
            return true;
        } finally {
            alloc.unlock();
        }
    }

    /**
     * Moves the data of guest cluster {@code off}, now in host cluster {@code host} (refcount 1),
     * into the lowest free host cluster if one lies below it: copy, then the L2 entry, then the
     * old cluster's release, in {@link Qcow2Writer#flush}'s order (data forced before the tables that point to
     * it, decrements after them). Returns the new host offset, or -1 if nothing below is free.
     */
    long moveCluster(long off, long host) throws IOException {
        alloc.lock();
        try {
            long to = refs.lowestFree(host);
            if (to < 0) {
                return -1;
            }
            int l1i = img.l1Index(off);
            int i = img.l2Index(off);
            L2Table t = w.writableL2(l1i);
            long e = t.word(i);
            if ((e & Qcow2Image.OFFSET_MASK) != host || img.compressed(e) || (e & Qcow2Image.ZERO_FLAG) != 0) {
                throw new IllegalStateException("qcow2: guest cluster 0x" + Long.toHexString(off)
                        + " is no longer in host cluster 0x" + Long.toHexString(host));
            }
            to = refs.lowestFree(host); // writableL2 may have taken the hole for a table copy
            if (to < 0 || refs.allocate() != to) {
                throw new IllegalStateException("qcow2: host cluster 0x" + Long.toHexString(to) + " was not free");
            }
            w.readCluster(host, w.cluster); // the writer's cluster buffer: we hold its allocation lock
            w.writeData(w.cluster, to);
            t.set(i, to | Qcow2Image.COPIED);
            refs.releaseLater(host, img.clusterSize);
            w.maybeFlush();
            return to;
        } finally {
            alloc.unlock();
        }
    }

    /**
     * Moves compressed guest cluster {@code off}, whose data starts at host byte {@code from},
     * toward the front (qcow2.txt "Compressed Clusters Descriptor"): its bytes are appended, at a
     * 512-byte boundary, to the host cluster {@code pack[0]} being filled (next free byte
     * {@code pack[1]}), which gains one user; when they do not fit, the lowest free host cluster
     * below {@code from} becomes the new one. The copy is forced before the L2 entry by
     * {@link Qcow2Writer#flush}, and the old host clusters lose one user each after the tables. Returns the
     * new host byte offset, or -1 if there is no room below.
     */
    long moveCompressed(long off, long from, long[] pack) throws IOException {
        alloc.lock();
        try {
            int l1i = img.l1Index(off);
            int i = img.l2Index(off);
            long e = img.l2For(l1i).word(i);
            if (!img.compressed(e) || img.compressedOffset(e) != from) {
                throw new IllegalStateException("qcow2: guest cluster 0x" + Long.toHexString(off)
                        + " is no longer compressed at 0x" + Long.toHexString(from));
            }
            long len = img.compressedLength(e);
            long cs = img.clusterSize;
            if (len > cs) {
                return -1; // would straddle two host clusters wherever it goes
            }
            long fromCluster = from & ~(cs - 1);
            long to;
            if (pack[0] >= 0 && pack[0] < fromCluster && pack[1] + len <= pack[0] + cs) {
                to = pack[1];
                refs.increment(pack[0]);
            } else {
                w.writableL2(l1i); // may take a hole for a table copy, so before the hole is chosen
                long hole = refs.lowestFree(fromCluster);
                if (hole < 0) {
                    return -1;
                }
                if (refs.allocate() != hole) {
                    throw new IllegalStateException("qcow2: host cluster 0x" + Long.toHexString(hole)
                            + " was not free");
                }
                pack[0] = hole;
                to = hole;
            }
            pack[1] = (to + len + 511) & ~511L;
            ByteBuffer bytes = ByteBuffer.allocate((int) len);
            img.storage().read(bytes, from); // the file may end inside the last sector (qemu writes no padding)
            Qcow2Image.zeroFill(bytes);
            bytes.clear();
            img.dataStorage.write(bytes, to);
            w.noteWritten(to + len);
            L2Table t = w.writableL2(l1i);
            t.set(i, img.compressedEntry(to, len));
            w.releaseCompressed(e);
            w.maybeFlush();
            return to;
        } finally {
            alloc.unlock();
        }
    }

    /**
     * Compaction: moves the active L1 table into the lowest run of free clusters below it, if
     * there is one, through {@link Qcow2Writer#switchL1}. Returns the new offset, or -1.
     */
    long moveL1() throws IOException {
        alloc.lock();
        try {
            w.flushLocked();
            long cs = img.clusterSize;
            int clusters = (int) ((img.l1.length * 8L + cs - 1) / cs);
            if (clusters == 0) {
                return -1;
            }
            long to = refs.allocateRunBelow(clusters, img.l1Offset);
            if (to < 0) {
                return -1;
            }
            w.switchL1(to, clusters, img.virtualSize(), img.l1.length);
            return to;
        } finally {
            alloc.unlock();
        }
    }

    /**
     * Moves the L2 table of L1 entry {@code l1i} (refcount 1) into the lowest free host cluster if
     * one lies below it: the copy is written by {@link Qcow2Writer#flush} before the L1 entry, the old
     * cluster released after. Returns the new offset, or -1.
     */
    long moveL2(int l1i) throws IOException {
        alloc.lock();
        try {
            long from = img.l1Entry(l1i) & Qcow2Image.OFFSET_MASK;
            long to = refs.lowestFree(from);
            if (from == 0 || to < 0) {
                return -1;
            }
            L2Table old = img.l2For(l1i);
            if (refs.allocate() != to) {
                throw new IllegalStateException("qcow2: host cluster 0x" + Long.toHexString(to) + " was not free");
            }
            img.cache.installNew(to, old.copyAt(to));
            w.setL1(l1i, to | Qcow2Image.COPIED);
            refs.releaseLater(from, img.clusterSize);
            w.maybeFlush();
            return to;
        } finally {
            alloc.unlock();
        }
    }

    /** The host offsets of the refcount blocks (index: refcount table entry) and of the table. */
    long[] refcountStructure() {
        alloc.lock();
        try {
            long[] blocks = refs.blockOffsets();
            long[] all = Arrays.copyOf(blocks, blocks.length + 1);
            all[blocks.length] = refs.tableOffset();
            return all;
        } finally {
            alloc.unlock();
        }
    }

    /**
     * Moves refcount block {@code bi} ({@code bi} = -1: the refcount table) into free clusters
     * below it, if there are; see {@link Refcounts#moveBlock}. The dirty bit is set first, so a
     * crash before the next flush (which releases the old place and clears the bit) makes the next
     * writable open rebuild the refcounts rather than leave a leak. Returns the new offset, or -1.
     */
    long moveRefcounts(int bi) throws IOException {
        alloc.lock();
        try {
            w.prepare();
            w.markDirty(true);
            long to = bi < 0 ? refs.moveTable() : refs.moveBlock(bi);
            w.flushLocked(); // releases the old place, clears the dirty bit
            if (to < 0) {
                w.markDirty(false); // nothing moved, so the flush had nothing to bracket
            }
            return to;
        } finally {
            alloc.unlock();
        }
    }

    /** The refcount of host cluster {@code host}. */
    long refcount(long host) throws IOException {
        alloc.lock();
        try {
            return refs.get(host);
        } finally {
            alloc.unlock();
        }
    }

    /**
     * After a flush (refcounts exact on disk, no pointer to a cluster of refcount 0 left): cuts the
     * file after the last cluster in use. Returns the new size.
     */
    long truncateUnused() throws IOException {
        alloc.lock();
        try {
            w.flushLocked();
            long size = img.storage().size();
            long end = refs.usedEnd(size);
            if (end < size) {
                img.storage().truncate(end);
                img.storage().force();
                img.noteTruncated(end);
            }
            return Math.min(end, size);
        } finally {
            alloc.unlock();
        }
    }
}
