package org.vdmount.vd.check;

/** What {@code check -r} may change ({@code qemu-img check -r}). */
public enum Repair {
    /** Read only. */
    NONE,
    /** Give leaked space back; nothing else is touched. */
    LEAKS,
    /** Leaks and the corruptions that can be fixed without dropping data that may be in use. */
    ALL
}
