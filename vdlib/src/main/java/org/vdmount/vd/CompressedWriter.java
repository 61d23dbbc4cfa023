package org.vdmount.vd;

import java.io.Closeable;
import java.io.IOException;
import java.nio.ByteBuffer;

/**
 * Sequential writer of a new image whose clusters are stored compressed ({@code vd convert -c},
 * {@code qemu-img convert -c}). Made by {@link ImageFormat#createCompressed}. Clusters are given
 * once each, in increasing order; those never given read as zeros. Nothing is readable before
 * {@link #finish}; closing without finishing leaves an incomplete file for the caller to delete.
 */
public interface CompressedWriter extends Closeable {

    /** Bytes per cluster: the unit {@link #write} takes. */
    int clusterSize();

    /** The virtual size of the image being written (the requested size, rounded up as the format does). */
    long size();

    /**
     * Stores guest cluster {@code index} from {@code data} (position 0, {@link #clusterSize} bytes
     * remaining; past the virtual size zero). {@code index} must exceed every earlier one. Returns
     * the host bytes the cluster took.
     */
    long write(long index, ByteBuffer data) throws IOException;

    /**
     * Compresses one cluster of {@code data} (position 0, {@link #clusterSize} bytes) into
     * {@code dst} at {@code off} for {@link #store}; returns the length, or -1 when the cluster is
     * to be stored as it is. Any number of threads may pack at once (the copy compresses in
     * parallel and stores in order). The default packs nothing.
     */
    default int pack(ByteBuffer data, byte[] dst, int off) throws IOException {
        return -1;
    }

    /**
     * Stores guest cluster {@code index} as {@link #pack} made it ({@code n} bytes at
     * {@code src[off]}), or with {@code n} -1 {@code data} as it is, under {@link #write}'s ordering
     * rule; returns the host bytes it took. The default writes {@code data}.
     */
    default long store(long index, ByteBuffer data, byte[] src, int off, int n) throws IOException {
        return write(index, data);
    }

    /**
     * Makes guest cluster {@code index} read as zeros whatever a backing file holds there (a zero
     * cluster), under {@link #write}'s ordering rule. Needed only by images with a backing file;
     * writers that cannot make one refuse.
     */
    default void writeZero(long index) throws IOException {
        throw new UnsupportedFeatureException("this compressed writer makes no zero clusters (cluster " + index + ")");
    }

    /** Writes the metadata (tables, reference counts, header last) and forces the file to disk. */
    void finish() throws IOException;
}
