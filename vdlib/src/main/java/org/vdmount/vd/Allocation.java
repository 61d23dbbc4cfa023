package org.vdmount.vd;

/** What one layer holds for a run of virtual bytes. */
public enum Allocation {
    /** The layer holds the bytes. */
    DATA,
    /** The layer says "zeros" and hides every parent. */
    ZERO,
    /** The layer holds nothing here: ask the next layer down (zeros below the base). */
    UNALLOCATED
}
