package org.vdmount.vd.format.vmdk;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.util.Arrays;
import java.util.Comparator;
import java.util.List;
import java.util.function.LongConsumer;
import org.vdmount.vd.Disk;
import org.vdmount.vd.UnsupportedFeatureException;
import org.vdmount.vd.compact.Verdict;
import org.vdmount.vd.storage.Storage;

/**
 * The compaction of one hosted sparse extent (VMware "Virtual Disk Format 5.0", "Hosted Sparse
 * Extents": grain directory, grain tables and their redundant copies), each step ordered so that a
 * kill leaves an extent that reads the same, at worst with leaked grains:
 * <ol>
 * <li>every redundant grain table that differs from its primary (an earlier kill between the two
 *     writes) takes the primary's entries;</li>
 * <li>every allocated grain that is all zeros (base) or equals what the parent chain shows gets
 *     entry 0 ("not allocated"); zeros over a non-zero parent get entry 1, the zeroed-grain entry,
 *     where the header's flag (bit 2) allows it, and stay otherwise. Both table copies are written
 *     and forced before any freed grain is reused;</li>
 * <li>grains from the end of the file move into the lowest free grain-aligned slots (between the
 *     metadata and the grains still in use): copied and forced first, then both table copies point
 *     at the copy and are forced; the old place is never reused in the same run;</li>
 * <li>the file is cut after the last grain or metadata in use.</li>
 * </ol>
 * Grain tables stay where they are (QEMU and VMware put them all before the first grain).
 */
final class SparseCompaction {
    /** Grains copied before the tables that point at them are written. */
    private static final int BATCH = 256;
    /** Bits of a sorted key that hold the grain number (the rest: the grain's host sector). */
    private static final int GRAIN_BITS = 31;

    private final SparseExtent extent;
    private final Storage storage;
    private final long startBytes;
    private final long grainBytes;
    private long freed;
    private long zeroed;
    private long moved;

    private SparseCompaction(SparseExtent extent, long startBytes) {
        this.extent = extent;
        this.storage = extent.storage();
        this.startBytes = startBytes;
        this.grainBytes = extent.grainBytes();
    }

    /**
     * Compacts {@code extent}, which starts {@code startBytes} into the virtual disk; {@code parent}
     * is the chain below the image (null: a base image). Returns {freed, zeroed, moved}.
     */
    static long[] compact(SparseExtent extent, long startBytes, Disk parent, LongConsumer progress)
            throws IOException {
        SparseCompaction c = new SparseCompaction(extent, startBytes);
        if ((long) extent.tableCount() * extent.tableEntries() >= 1L << GRAIN_BITS) {
            throw new UnsupportedFeatureException("vmdk: compact of " + extent.storage().path() + " is not supported: "
                    + "more than 2^31 grains");
        }
        c.layout(); // refuses overlapping grains before anything is written
        extent.healRedundantTables();
        extent.writeMetadata();
        c.release(parent, progress);
        c.pack();
        return new long[] {c.freed, c.zeroed, c.moved};
    }

    private long grains() {
        long g = (extent.sizeBytes() + grainBytes - 1) / grainBytes;
        return Math.min(g, (long) extent.tableCount() * extent.tableEntries());
    }

    /** Step 2: frees (or marks zeroed) the grains the chain does not need; tables written and forced. */
    private void release(Disk parent, LongConsumer progress) throws IOException {
        ByteBuffer data = ByteBuffer.allocate((int) grainBytes);
        ByteBuffer scratch = ByteBuffer.allocate((int) grainBytes);
        long grains = grains();
        for (long g = 0; g < grains; g++) {
            long off = g * grainBytes;
            if (extent.lookup(g) > GrainMapExtent.ZERO) {
                data.clear().limit((int) Math.min(grainBytes, extent.sizeBytes() - off));
                extent.read(off, data);
                data.flip();
                Verdict v = Verdict.of(data, startBytes + off, parent, scratch);
                if (v == Verdict.UNALLOCATED) {
                    extent.remap(g, 0);
                    freed++;
                } else if (v == Verdict.ZERO && extent.zeroGrainEntries()) {
                    extent.remap(g, 1);
                    zeroed++;
                }
            }
            if ((g + 1) % extent.tableEntries() == 0 || g + 1 == grains) {
                progress.accept(startBytes + Math.min(extent.sizeBytes(), (g + 1) * grainBytes));
            }
        }
        progress.accept(startBytes + extent.sizeBytes());
        extent.writeMetadata();
    }

    /**
     * The extent's allocated grains, sorted by host position, as keys {@code sector << 31 | grain},
     * and the free grain-aligned slots below the last one in use.
     */
    private record Layout(long[] grains, long[] slots, long metadataEnd) {
    }

    /** Reads the tables; refuses grains that overlap each other or the metadata. */
    private Layout layout() throws IOException {
        Longs keys = new Longs();
        long grains = grains();
        for (long g = 0; g < grains; g++) {
            long where = extent.lookup(g);
            if (where > GrainMapExtent.ZERO) {
                keys.add((where >>> 9) << GRAIN_BITS | g);
            }
        }
        long[] sorted = keys.toArray();
        Arrays.sort(sorted);
        List<long[]> meta = extent.metadataRanges();
        meta.sort(Comparator.comparingLong(r -> r[0]));
        Longs slots = new Longs();
        long cursor = 0;
        long metaEnd = 0;
        long grainEnd = 0;
        int mi = 0;
        for (int gi = 0; gi <= sorted.length; ) {
            long s;
            long e;
            boolean grain = mi >= meta.size() || gi < sorted.length && hostOf(sorted[gi]) < meta.get(mi)[0];
            if (grain && gi == sorted.length) {
                break;
            }
            if (grain) {
                s = hostOf(sorted[gi]);
                e = s + grainBytes;
                if (s < Math.max(metaEnd, grainEnd)) {
                    throw extent.corrupt("grain table", s, "grain " + (sorted[gi] & ((1L << GRAIN_BITS) - 1))
                            + " at 0x" + Long.toHexString(s) + " overlaps " + (s < metaEnd ? "the metadata" : "another grain")
                            + "; run vd check");
                }
                grainEnd = e;
                gi++;
            } else {
                s = meta.get(mi)[0];
                e = meta.get(mi)[1];
                if (s < grainEnd) {
                    throw extent.corrupt("grain directory", s, "metadata at 0x" + Long.toHexString(s)
                            + " overlaps a grain; run vd check");
                }
                metaEnd = Math.max(metaEnd, e);
                mi++;
            }
            for (; cursor + grainBytes <= s; cursor += grainBytes) {
                slots.add(cursor);
            }
            cursor = Math.max(cursor, (e + grainBytes - 1) / grainBytes * grainBytes);
        }
        return new Layout(sorted, slots.toArray(), metaEnd);
    }

    private static long hostOf(long key) {
        return (key >>> GRAIN_BITS) << 9;
    }

    /** Steps 3 and 4: grains from the end into the lowest free slots, then the cut. */
    private void pack() throws IOException {
        Layout l = layout();
        long[] keys = l.grains();
        long[] slots = l.slots();
        ByteBuffer buf = ByteBuffer.allocate((int) grainBytes);
        long[][] batch = new long[BATCH][];
        int inBatch = 0;
        int si = 0;
        long end = l.metadataEnd();
        int top = keys.length - 1;
        for (; top >= 0; top--) {
            long from = hostOf(keys[top]);
            if (si >= slots.length || slots[si] >= from) {
                break; // no free slot below this grain, nor below any lower one
            }
            long to = slots[si++];
            long grain = keys[top] & ((1L << GRAIN_BITS) - 1);
            buf.clear();
            storage.readFully(buf, from, "vmdk", "grain " + grain);
            storage.write(buf.flip(), to);
            end = Math.max(end, to + grainBytes);
            batch[inBatch++] = new long[] {grain, to};
            if (inBatch == BATCH) {
                commit(batch, inBatch);
                inBatch = 0;
            }
        }
        commit(batch, inBatch);
        if (top >= 0) {
            end = Math.max(end, hostOf(keys[top]) + grainBytes);
        }
        if (end < storage.size()) {
            extent.cut(end);
        }
    }

    /** The copies forced, then both table copies point at them and are forced. */
    private void commit(long[][] batch, int n) throws IOException {
        if (n == 0) {
            return;
        }
        storage.force();
        for (int i = 0; i < n; i++) {
            extent.remap(batch[i][0], batch[i][1] >>> 9);
        }
        extent.writeMetadata();
        moved += n;
    }

    /** A growable array of longs (bounded by the grains a file of 2 TiB holds). */
    private static final class Longs {
        private long[] a = new long[64];
        private int n;

        void add(long v) {
            if (n == a.length) {
                a = Arrays.copyOf(a, n * 2);
            }
            a[n++] = v;
        }

        long[] toArray() {
            return Arrays.copyOf(a, n);
        }
    }
}
