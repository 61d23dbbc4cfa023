package org.vdmount.vd;

/**
 * How many threads may be inside one image at once (nbdkit's thread models). The {@link Disk}
 * honours it: images of a {@link #PARALLEL} format are called with no lock at all; the others
 * are called through a gate that serialises what the model asks.
 */
public enum ThreadModel {
    /** Any number of calls at once (the {@link Image} contract's default). */
    PARALLEL,
    /** Reads ({@code map}, {@code readData}) in parallel; writes, discards and flushes alone. */
    SERIALIZE_WRITES,
    /** One call at a time (decoders with shared state, for example). */
    SERIALIZE_ALL
}
