package org.vdmount.vd.compact;

import java.io.IOException;
import java.nio.ByteBuffer;
import org.vdmount.vd.Disk;

/** What compaction does with one allocated block, decided from its contents and the parent's. */
public enum Verdict {
    /** Holds data the chain needs. */
    KEEP,
    /** Give the block up: the parent (or, in a base image, zeros) shows the same bytes. */
    UNALLOCATED,
    /** Differencing image: all zeros over a parent that is not; the format's zero marker. */
    ZERO;

    private static final int CHUNK = 64 * 1024;
    private static final ByteBuffer ZEROS = ByteBuffer.allocateDirect(CHUNK).asReadOnlyBuffer();

    /**
     * The verdict on {@code block} (position to limit: the block's bytes inside the virtual disk)
     * at virtual {@code offset}. {@code parent} is the chain below the image, or null for a base
     * image; where the parent is smaller than the image it reads zeros. {@code scratch} holds at
     * least {@code block.remaining()} bytes.
     */
    public static Verdict of(ByteBuffer block, long offset, Disk parent, ByteBuffer scratch) throws IOException {
        boolean zero = isZero(block);
        if (parent == null) {
            return zero ? UNALLOCATED : KEEP;
        }
        int n = block.remaining();
        scratch.clear().limit(n);
        long inParent = Math.max(0, Math.min(n, parent.size() - offset));
        if (inParent > 0) {
            scratch.limit((int) inParent);
            parent.read(offset, scratch);
            scratch.limit(n);
        }
        while (scratch.hasRemaining()) {
            scratch.put(ZEROS.duplicate().limit(Math.min(CHUNK, scratch.remaining())));
        }
        scratch.flip();
        if (block.duplicate().mismatch(scratch) < 0) {
            return UNALLOCATED;
        }
        return zero ? ZERO : KEEP;
    }

    /** Whether {@code b} (position to limit) is all zero bytes. */
    public static boolean isZero(ByteBuffer b) {
        for (int p = b.position(); p < b.limit(); p += CHUNK) {
            int n = Math.min(CHUNK, b.limit() - p);
            if (b.duplicate().limit(p + n).position(p).mismatch(ZEROS.duplicate().limit(n)) >= 0) {
                return false;
            }
        }
        return true;
    }
}
