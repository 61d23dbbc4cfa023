package org.vdmount.vd.format.raw;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.util.function.LongConsumer;
import org.vdmount.vd.Disk;
import org.vdmount.vd.Image;
import org.vdmount.vd.compact.CompactResult;
import org.vdmount.vd.compact.ImageCompactor;
import org.vdmount.vd.compact.Verdict;

/**
 * Compaction of a raw image: a raw file has no table to shrink, so what compaction can give back is
 * host space: every all-zero run of whole host blocks becomes a hole ({@code fallocate
 * --dig-holes}, {@code virt-sparsify --in-place}). The file keeps its size and reads the same;
 * a kill at any instant leaves a file that reads the same, since a hole reads as the zeros it
 * replaced. Where the host cannot punch, the storage writes zeros over zeros (nothing changes).
 */
final class RawCompact implements ImageCompactor {
    /** The host's allocation unit assumed for holes (ext4, xfs, btrfs, tmpfs: 4 KiB). */
    static final int HOST_BLOCK = 4096;
    private static final int CHUNK = 1 << 20;

    @Override
    public CompactResult compact(Image image, Disk parent, LongConsumer progress) throws IOException {
        ByteBuffer buf = ByteBuffer.allocateDirect(CHUNK);
        long size = image.virtualSize();
        long allocatedBefore = image.storage().allocatedBytes();
        long runStart = -1;
        for (long off = 0; off < size; off += CHUNK) {
            int n = (int) Math.min(CHUNK, size - off);
            buf.clear().limit(n);
            image.readData(off, buf);
            for (int b = 0; b < n; b += HOST_BLOCK) {
                int len = Math.min(HOST_BLOCK, n - b);
                boolean zero = len == HOST_BLOCK && Verdict.isZero(buf.limit(b + len).position(b));
                buf.limit(n);
                if (zero && runStart < 0) {
                    runStart = off + b;
                } else if (!zero && runStart >= 0) {
                    dig(image, runStart, off + b);
                    runStart = -1;
                }
            }
            progress.accept(off + n);
        }
        if (runStart >= 0) {
            dig(image, runStart, size - size % HOST_BLOCK);
        }
        image.flush();
        // What was given back, as the host counts it: punching a run that was a hole already frees nothing.
        long freed = Math.max(0, allocatedBefore - image.storage().allocatedBytes()) / HOST_BLOCK;
        return CompactResult.counts(HOST_BLOCK, freed, 0, 0);
    }

    /** Turns the zero run {@code [from, to)} into a hole. */
    private static void dig(Image image, long from, long to) throws IOException {
        if (to > from) {
            image.discard(from, to - from);
        }
    }
}
