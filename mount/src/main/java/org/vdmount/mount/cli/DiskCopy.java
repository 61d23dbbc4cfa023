package org.vdmount.mount.cli;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.util.Arrays;
import java.util.concurrent.atomic.AtomicLong;
import java.util.function.LongConsumer;
import org.vdmount.vd.Allocation;
import org.vdmount.vd.CompressedWriter;
import org.vdmount.vd.Disk;
import org.vdmount.vd.Run;
import org.vdmount.vd.ThreadModel;

/**
 * Sparse copy of a whole disk into a freshly created one (which reads as zeros everywhere), or
 * into an existing one or one over a backing file ({@link Target}).
 * Ranges that no layer of the source holds (and ZERO runs) are skipped without reading; data
 * ranges are read in chunks of {@link #CHUNK_BYTES} and only their non-zero grains are written, so
 * zeros never allocate space in the target. A grain is {@link #GRAIN_BYTES}, or the target's fill
 * unit where that is larger (a qcow2 cluster, a VDI block: what a write there allocates and fills
 * anyway), so a partly zero cluster is one whole-cluster write rather than a fill and some pieces.
 *
 * <p>The copy is a pipeline of {@link #workers()} threads, each with its own direct buffer of one
 * chunk, reused for the whole copy: a worker claims the next chunk, reads it and finds its non-zero
 * grains while the others do the same with theirs, then writes it. Writes go in chunk order, one
 * at a time (as {@code qemu-img convert} does without {@code -W}), so an allocating format lays
 * its blocks out in the same order on every run; only when the target's format is
 * {@link ThreadModel#PARALLEL} and allocates nothing on write (raw) may chunks be written at once.
 * Progress is reported in chunk order.
 */
final class DiskCopy {
    static final int CHUNK_BYTES = 4 << 20;
    static final int GRAIN_BYTES = 4096;
    /** Chunks in flight at most: qemu-img runs 8 coroutines; a few threads keep 2 cores busy. */
    static final int MAX_WORKERS = 4;

    /** What a copy did: bytes read from data runs, bytes written to the target. */
    record Stats(long bytesRead, long bytesWritten) {
    }

    /**
     * How a copy runs: {@code sparse}, zeros found in aligned grains of that many bytes at least
     * (qemu-img convert -S; 0: every byte written); {@code workers}, chunks in flight (-m);
     * {@code outOfOrder}, chunks written as they are read, in any order, whatever the target's
     * format (-W: an allocating format's layout then depends on timing); {@code salvage}, when
     * not null, reads what the source cannot read as zeros (--salvage).
     */
    record Tuning(int sparse, int workers, boolean outOfOrder, Salvage salvage) {
        static final Tuning DEFAULT = new Tuning(GRAIN_BYTES, DiskCopy.workers(), false, null);
    }

    /**
     * What the target holds before the copy. FRESH: a new image reading as zeros, so zeros are
     * skipped. DIRTY: an existing image or device ({@code vd convert -n}): every range the copy
     * does not write is made zero ({@link Disk#discard}: holes where the host can). OVER_BACKING:
     * a new image over a backing file with the source's backing content ({@code -B}): only what
     * the source's top layer holds is copied (its zeros made zero), the rest is left to the
     * backing file, as qemu-img convert -B does.
     */
    enum Target { FRESH, DIRTY, OVER_BACKING }

    /** All zeros, shared (read only) by every worker's zero detection. */
    private static final ByteBuffer ZEROS = ByteBuffer.allocateDirect(CHUNK_BYTES).asReadOnlyBuffer();

    private final Disk source;
    private final Disk target;
    private final LongConsumer progress;
    private final Target mode;
    /** {@code -S 0}: every byte written, zeros included (a fully allocated target). */
    private final boolean allocateAll;
    private final boolean inOrder;
    /** --salvage: unreadable ranges read as zeros; null: a read error fails the copy. */
    private final Salvage salvage;
    private final long size;
    /** Bytes of a grain: zero detection and writes go by whole grains aligned on the disk. */
    private final int grain;
    private final AtomicLong bytesRead = new AtomicLong();
    private final AtomicLong bytesWritten = new AtomicLong();
    /** Chunk claims, the write (or progress) turn, and the copy's failure. */
    private final ChunkTurns turns = new ChunkTurns();

    private DiskCopy(Disk source, Disk target, LongConsumer progress, Target mode, int sparse, boolean inOrder,
                     Salvage salvage) {
        this.source = source;
        this.salvage = salvage;
        this.target = target;
        this.progress = progress;
        // a source without a backing file: what its top does not hold reads as zeros, so it is written
        this.mode = mode == Target.OVER_BACKING && source.layers().size() < 2 ? Target.DIRTY : mode;
        this.inOrder = inOrder;
        this.size = source.size();
        this.allocateAll = sparse == 0;
        int least = sparse > 0 ? sparse : GRAIN_BYTES;
        long unit = target.top().fillUnit();
        this.grain = unit > least && unit <= CHUNK_BYTES && CHUNK_BYTES % unit == 0 ? (int) unit : least;
    }

    /** How many chunks are in flight: one per core, at least 2 (reading overlaps writing), at most 4. */
    static int workers() {
        return Math.max(2, Math.min(MAX_WORKERS, Runtime.getRuntime().availableProcessors()));
    }

    /** Copies all of {@code source} to {@code target} (at least as large); reports progress in bytes. */
    static Stats copy(Disk source, Disk target, LongConsumer progress) throws IOException {
        return copy(source, target, progress, workers());
    }

    /** As {@link #copy(Disk, Disk, LongConsumer)} with {@code workers} chunks in flight (1 = no threads). */
    static Stats copy(Disk source, Disk target, LongConsumer progress, int workers) throws IOException {
        return copy(source, target, Target.FRESH, progress, workers);
    }

    private static Stats copy(Disk source, Disk target, Target mode, LongConsumer progress, int workers)
            throws IOException {
        return copy(source, target, mode, new Tuning(GRAIN_BYTES, workers, false, null), progress);
    }

    /** Copies all of {@code source} into {@code target}, which holds what {@code mode} says, as {@code tuning} says. */
    static Stats copy(Disk source, Disk target, Target mode, Tuning tuning, LongConsumer progress) throws IOException {
        // raw allocates nothing on write: its layout is the same whatever order the chunks land in
        boolean parallelWrites = tuning.outOfOrder() || target.layers().size() == 1
                && target.top().format().threadModel() == ThreadModel.PARALLEL
                && target.top().format().name().equals("raw");
        DiskCopy c = new DiskCopy(source, target, progress, mode, tuning.sparse(), !parallelWrites, tuning.salvage());
        c.turns.run(Math.max(1, tuning.workers()), c.chunks(), "vd-copy", c::work);
        return new Stats(c.bytesRead.get(), c.bytesWritten.get());
    }

    /** One worker: claims chunks until none is left or another worker failed. */
    private void work() {
        ByteBuffer buf = chunkBuffer((int) Math.min(CHUNK_BYTES, Math.max(1, size)));
        Extents extents = new Extents();
        Extents kept = new Extents();
        long chunk = -1;
        try {
            while ((chunk = turns.claim(chunks())) >= 0) {
                long start = chunk * CHUNK_BYTES;
                int length = (int) Math.min(CHUNK_BYTES, size - start);
                readChunk(start, length, buf, extents, kept);
                if (inOrder) {
                    turns.awaitTurn(chunk);
                    writeChunk(start, length, buf, extents, kept);
                } else {
                    writeChunk(start, length, buf, extents, kept);
                    turns.awaitTurn(chunk);
                }
                try {
                    progress.accept(start + length);
                } finally {
                    turns.passTurn(chunk);
                }
            }
        } catch (Throwable t) {
            turns.fail(chunk, t);
        }
    }

    private long chunks() {
        return (size + CHUNK_BYTES - 1) / CHUNK_BYTES;
    }

    /**
     * A direct buffer of {@code bytes} whose address is a multiple of {@link #GRAIN_BYTES}: grains
     * are aligned on the disk, so every write of whole grains from it can go O_DIRECT
     * ({@link org.vdmount.vd.storage.Storage#directWrites()}).
     */
    static ByteBuffer chunkBuffer(int bytes) {
        return ByteBuffer.allocateDirect(bytes + 2 * GRAIN_BYTES).alignedSlice(GRAIN_BYTES).limit(bytes).slice();
    }

    /**
     * Reads the DATA runs of [start, start+length) into {@code buf} (at their offset in the chunk)
     * and records the non-zero grains among them in {@code extents}, merged into runs (with
     * {@link #allocateAll}: every run, read whole); with OVER_BACKING, the runs the source's top
     * layer does not hold go to {@code kept} instead.
     */
    private void readChunk(long start, int length, ByteBuffer buf, Extents extents, Extents kept) throws IOException {
        extents.clear();
        kept.clear();
        for (int pos = 0; pos < length; ) {
            int ownEnd = length; // OVER_BACKING: the end of the top layer's own run at pos
            if (mode == Target.OVER_BACKING) {
                long own = Salvage.map(salvage, source.top()::map, start + pos, length - pos);
                ownEnd = pos + (int) Math.min(Run.length(own), length - pos);
                if (Run.kind(own) == Allocation.UNALLOCATED) {
                    kept.add(pos, ownEnd);
                    pos = ownEnd;
                    continue;
                }
            }
            long run = Salvage.map(salvage, source::map, start + pos, ownEnd - pos);
            int runEnd = pos + (int) Math.min(Run.length(run), ownEnd - pos);
            if (allocateAll || Run.kind(run) == Allocation.DATA) {
                buf.limit(runEnd).position(pos);
                Salvage.read(salvage, source, start + pos, buf);
                bytesRead.addAndGet(runEnd - pos);
                if (allocateAll) {
                    extents.add(pos, runEnd); // holes and zeros written too
                } else {
                    findData(buf, start, pos, runEnd, extents);
                }
            }
            pos = runEnd;
        }
    }

    /** Adds the non-zero grains of buf[from, to) (grains aligned on the disk, clipped to the range). */
    private void findData(ByteBuffer buf, long chunkStart, int from, int to, Extents extents) {
        int i = from;
        while (i < to) {
            int firstNonZero = buf.slice(i, to - i).mismatch(ZEROS.slice(0, to - i));
            if (firstNonZero < 0) {
                return;
            }
            int start = Math.max(i, grainStart(chunkStart, i + firstNonZero));
            int stop = grainEnd(chunkStart, start, to);
            while (stop < to) {
                int next = grainEnd(chunkStart, stop, to);
                if (isZero(buf, stop, next)) {
                    break;
                }
                stop = next;
            }
            extents.add(start, stop);
            i = stop;
        }
    }

    /** Whether buf[from, to) is all zeros; a grain of data is told by its first long, mostly. */
    private static boolean isZero(ByteBuffer buf, int from, int to) {
        if (to - from >= Long.BYTES && buf.getLong(from) != 0) {
            return false;
        }
        return buf.slice(from, to - from).mismatch(ZEROS.slice(0, to - from)) < 0;
    }

    private void writeChunk(long start, int length, ByteBuffer buf, Extents extents, Extents kept)
            throws IOException {
        for (int e = 0; e < extents.count; e++) {
            int from = extents.bounds[2 * e];
            int to = extents.bounds[2 * e + 1];
            buf.limit(to).position(from);
            target.write(start + from, buf);
            bytesWritten.addAndGet(to - from);
        }
        if (mode == Target.FRESH) {
            return;
        }
        // the rest of the chunk, but for what is kept, reads as zeros in the source: make it so
        int d = 0;
        int k = 0;
        for (int pos = 0; pos < length; ) {
            int dataFrom = d < extents.count ? extents.bounds[2 * d] : length;
            int keptFrom = k < kept.count ? kept.bounds[2 * k] : length;
            if (pos == dataFrom) {
                pos = extents.bounds[2 * d++ + 1];
            } else if (pos == keptFrom) {
                pos = kept.bounds[2 * k++ + 1];
            } else {
                int end = Math.min(dataFrom, keptFrom);
                target.discard(start + pos, end - pos);
                pos = end;
            }
        }
    }

    /** Start/end pairs (indices in a worker's chunk buffer) of the ranges to write; reused. */
    private static final class Extents {
        int[] bounds = new int[64];
        int count;

        void clear() {
            count = 0;
        }

        void add(int from, int to) {
            if (count > 0 && bounds[2 * count - 1] == from) {
                bounds[2 * count - 1] = to; // adjacent to the last one (next data run)
                return;
            }
            if (2 * count + 2 > bounds.length) {
                bounds = Arrays.copyOf(bounds, bounds.length * 2);
            }
            bounds[2 * count] = from;
            bounds[2 * count + 1] = to;
            count++;
        }
    }

    /** {@code n} (at most {@link #CHUNK_BYTES}) bytes of zeros, read-only, for comparisons. */
    static ByteBuffer zeros(int n) {
        return ZEROS.slice(0, n);
    }

    /** Index in the buffer of the start of the grain holding index {@code i}. */
    private int grainStart(long offset, int i) {
        return (int) (Math.floorDiv(offset + i, grain) * grain - offset);
    }

    /** Index of the end of the grain holding index {@code i}, clipped to {@code length}. */
    private int grainEnd(long offset, int i, int length) {
        return (int) Math.min(length, Math.floorDiv(offset + i, grain) * grain + grain - offset);
    }
}
