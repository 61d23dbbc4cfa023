package org.vdmount.vd.compact;

import java.util.function.IntPredicate;

/**
 * The moves of a compaction's packing step for formats whose data lies in equal slots (VDI blocks,
 * Parallels clusters): the highest used slot goes into the lowest free one, a batch at a time.
 * The caller copies a batch, forces it, then records the moves (the target slot used, the source
 * slot free) before asking for the next batch. A vacated slot lies above every later hole, so it is
 * never written again in the same run.
 */
public final class SlotPairing {
    private final IntPredicate used;
    private int lo;
    private int hi;

    /** Slots {@code 0 .. slots-1}; {@code used} says whether one holds data that must stay. */
    public SlotPairing(int slots, IntPredicate used) {
        this.used = used;
        this.hi = slots - 1;
    }

    /** Fills {@code from} and {@code to} with up to {@code from.length} moves; returns how many (0: done). */
    public int next(int[] from, int[] to) {
        int n = 0;
        while (n < from.length) {
            while (lo < hi && used.test(lo)) {
                lo++;
            }
            while (hi > lo && !used.test(hi)) {
                hi--;
            }
            if (lo >= hi) {
                break;
            }
            from[n] = hi--;
            to[n] = lo++;
            n++;
        }
        return n;
    }
}
