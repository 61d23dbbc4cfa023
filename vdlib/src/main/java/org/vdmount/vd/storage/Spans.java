package org.vdmount.vd.storage;

/** Pieces laid end to end in one address space: the files of a split set, the extents of a VMDK. */
public final class Spans {
    private Spans() {
    }

    /**
     * The piece holding address {@code pos}, where piece i starts at {@code starts[i]} (ascending)
     * for {@code pieces} pieces; the last piece for an address past its start.
     */
    public static int indexOf(long[] starts, int pieces, long pos) {
        int lo = 0;
        int hi = pieces - 1;
        while (lo < hi) {
            int mid = (lo + hi + 1) >>> 1;
            if (starts[mid] <= pos) {
                lo = mid;
            } else {
                hi = mid - 1;
            }
        }
        return lo;
    }
}
