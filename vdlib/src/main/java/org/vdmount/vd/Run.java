package org.vdmount.vd;

/**
 * A homogeneous run answered by {@link Image#map}: an {@link Allocation} and a length, packed into
 * one {@code long} so the read path allocates nothing per request. Bits 0-1 hold the allocation,
 * bits 2-63 the length.
 */
public final class Run {
    private static final Allocation[] KINDS = Allocation.values();

    private Run() {
    }

    public static long of(Allocation kind, long length) {
        if (length <= 0) {
            throw new IllegalArgumentException("run length " + length);
        }
        return length << 2 | kind.ordinal();
    }

    public static long data(long length) {
        return of(Allocation.DATA, length);
    }

    public static long zero(long length) {
        return of(Allocation.ZERO, length);
    }

    public static long unallocated(long length) {
        return of(Allocation.UNALLOCATED, length);
    }

    public static Allocation kind(long run) {
        return KINDS[(int) (run & 3)];
    }

    public static long length(long run) {
        return run >>> 2;
    }
}
