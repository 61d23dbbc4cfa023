package org.vdmount.vd.format.common;

import java.util.Map;
import java.util.TreeMap;

/**
 * The byte ranges of an image file in use, for compaction: ranges are added as the tables are
 * walked, and a block moving down asks for the lowest free place below where it is. Byte-granular
 * because QCOW version 1 stores compressed clusters at any byte offset (QEMU block/qcow.c
 * get_cluster_offset: a compressed cluster is written at the end of the file, unaligned); cluster
 * data and tables ask for cluster-aligned places.
 */
final class HostSpace {
    private final TreeMap<Long, Long> used = new TreeMap<>(); // start -> end (exclusive), disjoint, merged

    /**
     * Marks {@code [start, end)} used. Returns false, changing nothing, when part of it is already
     * used and {@code overlapAllowed} is false (two owners of the same bytes).
     */
    boolean use(long start, long end, boolean overlapAllowed) {
        if (end <= start) {
            return true;
        }
        Map.Entry<Long, Long> below = used.floorEntry(start);
        Map.Entry<Long, Long> above = used.ceilingEntry(start);
        boolean overlaps = below != null && below.getValue() > start || above != null && above.getKey() < end;
        if (overlaps && !overlapAllowed) {
            return false;
        }
        long s = start;
        long e = end;
        if (below != null && below.getValue() >= s) {
            s = below.getKey();
            e = Math.max(e, below.getValue());
            used.remove(below.getKey());
        }
        for (Map.Entry<Long, Long> next = used.ceilingEntry(s); next != null && next.getKey() <= e;
             next = used.ceilingEntry(s)) {
            e = Math.max(e, next.getValue());
            used.remove(next.getKey());
        }
        used.put(s, e);
        return true;
    }

    /** Marks {@code [start, end)} free again (it was used by exactly one block). */
    void free(long start, long end) {
        Map.Entry<Long, Long> r = used.floorEntry(start);
        if (r == null || r.getValue() < end) {
            throw new IllegalStateException("range " + start + ".." + end + " is not in use");
        }
        used.remove(r.getKey());
        if (r.getKey() < start) {
            used.put(r.getKey(), start);
        }
        if (end < r.getValue()) {
            used.put(end, r.getValue());
        }
    }

    /**
     * The lowest offset, a multiple of {@code alignment} (a power of two), where {@code length}
     * free bytes lie wholly below {@code limit}; -1 if there is none.
     */
    long lowestFreeBelow(long length, long alignment, long limit) {
        long from = 0;
        for (Map.Entry<Long, Long> r : used.entrySet()) {
            long at = (from + alignment - 1) & -alignment;
            if (at + length > limit) {
                return -1;
            }
            if (at + length <= r.getKey()) {
                return at;
            }
            from = r.getValue();
        }
        long at = (from + alignment - 1) & -alignment;
        return at + length <= limit ? at : -1;
    }

    /** The end of the last used range, 0 if none. */
    long end() {
        return used.isEmpty() ? 0 : used.lastEntry().getValue();
    }
}
