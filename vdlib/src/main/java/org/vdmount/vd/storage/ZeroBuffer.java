package org.vdmount.vd.storage;

import java.nio.ByteBuffer;

/** One read-only megabyte of zeros, shared by every {@link Storage#writeZeros} and zero fill. */
final class ZeroBuffer {
    static final int CHUNK = 1 << 20;
    private static final ByteBuffer ZEROS = ByteBuffer.allocateDirect(CHUNK).asReadOnlyBuffer();

    private ZeroBuffer() {
    }

    /** A view of {@code length} (at most {@link #CHUNK}) zero bytes. */
    static ByteBuffer chunk(int length) {
        return ZEROS.duplicate().limit(length);
    }

    /** Fills {@code dst} from its position to its limit with zeros. */
    static void fill(ByteBuffer dst) {
        while (dst.hasRemaining()) {
            dst.put(chunk(Math.min(CHUNK, dst.remaining())));
        }
    }
}
