package org.vdmount.vd.format.vmdk;

import java.io.IOException;
import java.nio.ByteBuffer;
import org.vdmount.vd.WriteResult;
import org.vdmount.vd.storage.Storage;

/**
 * One extent of a VMDK: a range of the virtual disk backed by a flat file, a sparse file (hosted
 * "KDMV", ESX "COWD", ESXi seSparse) or nothing (ZERO). Offsets are relative to the extent's start.
 * The image splits requests at extent boundaries and, for grain-based extents, at grain boundaries.
 */
interface Extent {

    /** Virtual bytes covered. */
    long sizeBytes();

    /** Allocation granularity in bytes (grain); 0 for extents without one (flat, zero). */
    long grainBytes();

    /** The run at {@code offset} of at most {@code maxLength} bytes (a {@link org.vdmount.vd.Run}). */
    long map(long offset, long maxLength) throws IOException;

    /** Reads a range inside one DATA run. */
    void read(long offset, ByteBuffer dst) throws IOException;

    /**
     * The byte offset in {@link #storage()} of the extent's byte {@code offset}, inside a DATA run,
     * the rest of the run following contiguously; -1 when it has no plain host location
     * (compressed grains).
     */
    default long hostOffset(long offset) throws IOException {
        return -1;
    }

    /** Writes a range inside one grain (anything for grain-less extents). */
    WriteResult write(long offset, ByteBuffer src) throws IOException;

    /**
     * Makes whole grains read as zeros. {@code hideParent}: this image has a parent, so the range
     * must never become "unallocated".
     */
    void discard(long offset, long length, boolean hideParent) throws IOException;

    /** Data first, then the metadata pointing at it. */
    void flush() throws IOException;

    /** The file behind the extent (null for ZERO). */
    Storage storage();

    /** Why this extent cannot be written, or null if it can. */
    default String whyNotWritable() {
        return null;
    }

    /** Short description for details(): "SPARSE", "FLAT", ... */
    String kind();

    /** Releases resources other than the storage (closed by the image); stream writers finish here. */
    default void close() throws IOException {
    }
}
