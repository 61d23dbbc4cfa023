package org.vdmount.vd;

/** Answer of {@link Image#write}. */
public enum WriteResult {
    /** All bytes were written. */
    DONE,
    /**
     * Nothing was written: the range partly covers fill units the image does not hold. The caller
     * widens the write to whole fill units with the current content of the chain and writes again.
     */
    NEEDS_FILL
}
