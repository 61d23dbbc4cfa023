package org.vdmount.vd.check;

/**
 * One inconsistency a check found: its kind, the structure it is in, where (a file offset, or -1)
 * and a one-line description in the format's own terms.
 */
public record Finding(Kind kind, String structure, long offset, String message) {

    /** The two categories {@code qemu-img check} counts. */
    public enum Kind {
        /** Metadata that is wrong: data may be lost or overwritten by later writes. */
        CORRUPTION,
        /** Space marked in use that nothing uses: wasted, no harm to data. */
        LEAK
    }
}
