package org.vdmount.mount.cli;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.util.concurrent.atomic.AtomicLong;
import java.util.function.LongConsumer;
import org.vdmount.vd.Allocation;
import org.vdmount.vd.CompressedWriter;
import org.vdmount.vd.Disk;
import org.vdmount.vd.Run;

/**
 * {@code vd convert -c}: the source into a {@link CompressedWriter} cluster by cluster. Workers
 * (as many as -m says) each take a chunk of clusters, read them and compress them
 * ({@link CompressedWriter#pack}) beside the others, and store them in chunk order
 * ({@link ChunkTurns}), so the file is the same whatever the number of workers. What the writer
 * is given depends on what it holds ({@link DiskCopy.Target}): FRESH, the clusters holding a DATA
 * run that are not all zeros; OVER_BACKING ({@code -c -B}), the clusters the source's top layer
 * touches; DIRTY (a backing file under the output but none under the source), every cluster.
 * Outside FRESH, given clusters that read as zeros become zero clusters
 * ({@link CompressedWriter#writeZero}) so the backing file does not show through. The tail past
 * the source's end reads as zeros.
 */
final class CompressedCopy {
    private static final byte SKIP = 0;
    private static final byte ZERO = 1;
    private static final byte DATA = 2;

    private final Disk source;
    private final CompressedWriter out;
    private final DiskCopy.Target mode;
    private final Salvage salvage;
    private final LongConsumer progress;
    private final int cs;
    private final long size;
    private final int chunkBytes;
    private final ChunkTurns turns = new ChunkTurns();
    private final AtomicLong read = new AtomicLong();
    private final AtomicLong written = new AtomicLong();

    private CompressedCopy(Disk source, CompressedWriter out, DiskCopy.Target mode, Salvage salvage,
                           LongConsumer progress) {
        this.source = source;
        this.out = out;
        // what the source's only layer does not hold reads as zeros: all of it is given
        this.mode = mode == DiskCopy.Target.OVER_BACKING && source.layers().size() < 2 ? DiskCopy.Target.DIRTY : mode;
        this.salvage = salvage;
        this.progress = progress;
        this.cs = out.clusterSize();
        this.size = source.size();
        this.chunkBytes = Math.max(DiskCopy.CHUNK_BYTES / cs, 1) * cs;
    }

    /** Copies {@code source} into {@code out} (which holds what {@code mode} says) with {@code workers} workers. */
    static DiskCopy.Stats copy(Disk source, CompressedWriter out, DiskCopy.Target mode, Salvage salvage, int workers,
                               LongConsumer progress) throws IOException {
        CompressedCopy c = new CompressedCopy(source, out, mode, salvage, progress);
        long chunks = (c.size + c.chunkBytes - 1) / c.chunkBytes;
        c.turns.run(Math.max(1, workers), chunks, "vd-compress", c::work);
        return new DiskCopy.Stats(c.read.get(), c.written.get());
    }

    /** One worker: its chunk's clusters read and packed, then stored when the chunk's turn comes. */
    private void work() {
        int clusters = chunkBytes / cs;
        ByteBuffer data = ByteBuffer.allocateDirect(chunkBytes);
        byte[] packed = new byte[chunkBytes];
        int[] lengths = new int[clusters];
        byte[] kinds = new byte[clusters];
        long chunks = (size + chunkBytes - 1) / chunkBytes;
        long chunk = -1;
        try {
            while ((chunk = turns.claim(chunks)) >= 0) {
                long start = chunk * chunkBytes;
                long end = Math.min(size, start + chunkBytes);
                prepare(start, end, data, packed, lengths, kinds);
                turns.awaitTurn(chunk);
                try {
                    for (int i = 0; i < clusters; i++) {
                        long index = start / cs + i;
                        if (kinds[i] == DATA) {
                            written.addAndGet(out.store(index, data.slice(i * cs, cs), packed, i * cs, lengths[i]));
                        } else if (kinds[i] == ZERO) {
                            out.writeZero(index);
                        }
                    }
                    progress.accept(end);
                } finally {
                    turns.passTurn(chunk);
                }
            }
        } catch (Throwable t) {
            turns.fail(chunk, t);
        }
    }

    /** Decides what each cluster of {@code [start, end)} is, reads the wanted ones and packs those holding data. */
    private void prepare(long start, long end, ByteBuffer data, byte[] packed, int[] lengths, byte[] kinds)
            throws IOException {
        java.util.Arrays.fill(kinds, SKIP);
        for (long pos = start; pos < end; ) {
            long run = mode == DiskCopy.Target.DIRTY ? Run.data(end - pos) : map(pos, end - pos);
            long runEnd = pos + Math.min(Run.length(run), end - pos);
            boolean wanted = mode == DiskCopy.Target.FRESH ? Run.kind(run) == Allocation.DATA
                    : Run.kind(run) != Allocation.UNALLOCATED;
            if (wanted) {
                for (long at = pos / cs * cs; at < runEnd; at += cs) {
                    int i = (int) ((at - start) / cs);
                    if (kinds[i] == SKIP) {
                        kinds[i] = readCluster(at, data.slice(i * cs, cs), packed, i * cs, lengths, i);
                    }
                }
            }
            pos = runEnd;
        }
    }

    /** Reads the cluster at {@code at} into {@code buf} (zeros past the end); DATA (packed), ZERO or SKIP. */
    private byte readCluster(long at, ByteBuffer buf, byte[] packed, int off, int[] lengths, int i) throws IOException {
        int len = (int) Math.min(cs, size - at);
        ByteBuffer dst = buf.duplicate().position(0).limit(len);
        Salvage.read(salvage, source, at, dst);
        for (int k = len; k < cs; k++) {
            buf.put(k, (byte) 0);
        }
        read.addAndGet(len);
        if (buf.duplicate().position(0).limit(cs).mismatch(DiskCopy.zeros(cs)) < 0) {
            return mode == DiskCopy.Target.FRESH ? SKIP : ZERO;
        }
        lengths[i] = out.pack(buf, packed, off);
        return DATA;
    }

    /** FRESH: the chain's map; OVER_BACKING: the top layer's; with --salvage a failing map counts as data. */
    private long map(long pos, long length) throws IOException {
        return Salvage.map(salvage, mode == DiskCopy.Target.OVER_BACKING ? source.top()::map : source::map, pos, length);
    }
}
