package org.vdmount.mount.cli;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.util.function.LongConsumer;
import org.vdmount.vd.Allocation;
import org.vdmount.vd.CompressedWriter;
import org.vdmount.vd.Disk;
import org.vdmount.vd.Run;

/**
 * Sparse copy of a whole disk into a freshly created one (which reads as zeros everywhere).
 * Ranges that no layer of the source holds (and ZERO runs) are skipped without reading; data
 * ranges are read in chunks of {@link #CHUNK_BYTES} and only their non-zero
 * {@link #GRAIN_BYTES}-aligned grains are written, so zeros never allocate space in the target.
 */
final class DiskCopy {
    static final int CHUNK_BYTES = 4 << 20;
    static final int GRAIN_BYTES = 4096;

    /** What a copy did: bytes read from data runs, bytes written to the target. */
    record Stats(long bytesRead, long bytesWritten) {
    }

    private final Disk source;
    private final Disk target;
    private final ByteBuffer buf = ByteBuffer.allocateDirect(CHUNK_BYTES);
    private final ByteBuffer zeros = ByteBuffer.allocateDirect(CHUNK_BYTES);
    private long bytesRead;
    private long bytesWritten;

    private DiskCopy(Disk source, Disk target) {
        this.source = source;
        this.target = target;
    }

    /** Copies all of {@code source} to {@code target} (at least as large); reports progress in bytes. */
    static Stats copy(Disk source, Disk target, LongConsumer progress) throws IOException {
        DiskCopy c = new DiskCopy(source, target);
        c.run(progress);
        return new Stats(c.bytesRead, c.bytesWritten);
    }

    /**
     * Copies all of {@code source} into {@code out} cluster by cluster, in order: clusters that
     * hold no DATA run are skipped without reading, read clusters that are all zeros are skipped,
     * the rest are handed to the writer (the tail past the source's end reads as zeros).
     */
    static Stats copyClusters(Disk source, CompressedWriter out, LongConsumer progress) throws IOException {
        int cs = out.clusterSize();
        long size = source.size();
        ByteBuffer cluster = ByteBuffer.allocateDirect(cs);
        ByteBuffer zero = ByteBuffer.allocateDirect(cs);
        long read = 0;
        long written = 0;
        long next = 0; // first cluster not yet handled
        long chunkBytes = Math.max(CHUNK_BYTES, cs);
        for (long chunk = 0; chunk < size; chunk += chunkBytes) {
            long end = Math.min(size, chunk + chunkBytes);
            for (long pos = chunk; pos < end; ) {
                long run = source.map(pos, end - pos);
                long runEnd = pos + Math.min(Run.length(run), end - pos);
                if (Run.kind(run) == Allocation.DATA) {
                    for (long c = Math.max(next, pos / cs); c * cs < runEnd; c++) {
                        long at = c * cs;
                        int len = (int) Math.min(cs, size - at);
                        cluster.clear();
                        source.read(at, cluster.duplicate().limit(len));
                        cluster.position(len);
                        while (cluster.hasRemaining()) {
                            cluster.put((byte) 0);
                        }
                        cluster.flip();
                        read += len;
                        if (cluster.mismatch(zero) >= 0) {
                            written += out.write(c, cluster);
                        }
                        next = c + 1;
                    }
                }
                pos = runEnd;
            }
            progress.accept(end);
        }
        return new Stats(read, written);
    }

    private void run(LongConsumer progress) throws IOException {
        long size = source.size();
        for (long chunk = 0; chunk < size; chunk += CHUNK_BYTES) {
            long end = Math.min(size, chunk + CHUNK_BYTES);
            long dataStart = -1;
            for (long pos = chunk; pos < end; ) {
                long run = source.map(pos, end - pos);
                boolean data = Run.kind(run) == Allocation.DATA;
                if (data && dataStart < 0) {
                    dataStart = pos;
                } else if (!data && dataStart >= 0) {
                    copyData(dataStart, (int) (pos - dataStart));
                    dataStart = -1;
                }
                pos += Math.min(Run.length(run), end - pos);
            }
            if (dataStart >= 0) {
                copyData(dataStart, (int) (end - dataStart));
            }
            progress.accept(end);
        }
    }

    /** Reads [offset, offset+length) (within one chunk) and writes its non-zero grains. */
    private void copyData(long offset, int length) throws IOException {
        buf.clear().limit(length);
        source.read(offset, buf);
        bytesRead += length;
        int i = 0;
        while (i < length) {
            int firstNonZero = buf.slice(i, length - i).mismatch(zeros.slice(0, length - i));
            if (firstNonZero < 0) {
                return;
            }
            int start = Math.max(i, grainStart(offset, i + firstNonZero));
            int stop = grainEnd(offset, start, length);
            while (stop < length) {
                int next = grainEnd(offset, stop, length);
                if (isZero(stop, next)) {
                    break;
                }
                stop = next;
            }
            target.write(offset + start, buf.duplicate().limit(stop).position(start));
            bytesWritten += stop - start;
            i = stop;
        }
    }

    private boolean isZero(int from, int to) {
        return buf.slice(from, to - from).mismatch(zeros.slice(0, to - from)) < 0;
    }

    /** Index in the buffer of the start of the grain holding index {@code i}. */
    private static int grainStart(long offset, int i) {
        return (int) (Math.floorDiv(offset + i, GRAIN_BYTES) * GRAIN_BYTES - offset);
    }

    /** Index of the end of the grain holding index {@code i}, clipped to {@code length}. */
    private static int grainEnd(long offset, int i, int length) {
        return (int) Math.min(length, Math.floorDiv(offset + i, GRAIN_BYTES) * GRAIN_BYTES + GRAIN_BYTES - offset);
    }
}
