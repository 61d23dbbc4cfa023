package org.vdmount.mount.cli;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.ByteBuffer;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
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
    private final AtomicLong nextChunk = new AtomicLong();
    private final AtomicLong bytesRead = new AtomicLong();
    private final AtomicLong bytesWritten = new AtomicLong();
    /** The chunk whose turn it is (to be written, or to report progress); guarded by this. */
    private long turn;
    /**
     * The failure of the lowest chunk that failed (so the error a copy reports does not depend on
     * thread timing); workers on later chunks stop at their next step, those on earlier chunks
     * finish theirs. Guarded by this.
     */
    private Throwable failure;
    /** The chunk {@link #failure} belongs to ({@code -1}: not a chunk's, everything stops). */
    private long failedChunk = Long.MAX_VALUE;

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
        c.run(Math.max(1, tuning.workers()));
        return new Stats(c.bytesRead.get(), c.bytesWritten.get());
    }

    private void run(int workers) throws IOException {
        List<Thread> threads = new ArrayList<>();
        for (int i = 1; i < workers && (long) i * CHUNK_BYTES < size; i++) {
            Thread t = new Thread(this::work, "vd-copy-" + i);
            t.setDaemon(true);
            threads.add(t);
            t.start();
        }
        work(); // the calling thread is a worker too
        boolean interrupted = false;
        for (Thread t : threads) {
            while (true) {
                try {
                    t.join();
                    break;
                } catch (InterruptedException e) {
                    interrupted = true;
                    fail(-1, e);
                }
            }
        }
        if (interrupted) {
            Thread.currentThread().interrupt();
        }
        Throwable f;
        synchronized (this) {
            f = failure;
        }
        if (f instanceof IOException io) {
            throw io;
        } else if (f instanceof RuntimeException re) {
            throw re;
        } else if (f instanceof Error err) {
            throw err;
        } else if (f instanceof InterruptedException) {
            throw new IOException("copy interrupted", f);
        } else if (f != null) {
            throw new IOException(f);
        }
    }

    /** One worker: claims chunks until none is left or another worker failed. */
    private void work() {
        ByteBuffer buf = chunkBuffer((int) Math.min(CHUNK_BYTES, Math.max(1, size)));
        Extents extents = new Extents();
        Extents kept = new Extents();
        long chunk = -1;
        try {
            while (true) {
                chunk = nextChunk.getAndIncrement();
                long start = chunk * CHUNK_BYTES;
                if (start >= size || failedBefore(chunk)) {
                    return;
                }
                int length = (int) Math.min(CHUNK_BYTES, size - start);
                readChunk(start, length, buf, extents, kept);
                if (inOrder) {
                    awaitTurn(chunk);
                    writeChunk(start, length, buf, extents, kept);
                } else {
                    writeChunk(start, length, buf, extents, kept);
                    awaitTurn(chunk);
                }
                try {
                    progress.accept(start + length);
                } finally {
                    passTurn(chunk);
                }
            }
        } catch (Throwable t) {
            fail(chunk, t);
        }
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
                long own = map(source.top()::map, start + pos, length - pos);
                ownEnd = pos + (int) Math.min(Run.length(own), length - pos);
                if (Run.kind(own) == Allocation.UNALLOCATED) {
                    kept.add(pos, ownEnd);
                    pos = ownEnd;
                    continue;
                }
            }
            long run = map(source::map, start + pos, ownEnd - pos);
            int runEnd = pos + (int) Math.min(Run.length(run), ownEnd - pos);
            if (allocateAll || Run.kind(run) == Allocation.DATA) {
                buf.limit(runEnd).position(pos);
                read(source, salvage, start + pos, buf);
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

    /** A run of the source's map; with --salvage a failing map counts as data. */
    private long map(Salvage.Mapper mapper, long offset, long length) throws IOException {
        return salvage == null ? mapper.map(offset, length) : salvage.map(mapper, offset, length);
    }

    /** {@code dst}'s remaining bytes from {@code source} at {@code offset}, through {@code salvage} when not null. */
    private static void read(Disk source, Salvage salvage, long offset, ByteBuffer dst) throws IOException {
        if (salvage == null) {
            source.read(offset, dst);
        } else {
            salvage.read(source, offset, dst);
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

    private synchronized void awaitTurn(long chunk) throws InterruptedException {
        while (turn != chunk && !failedBefore(chunk)) {
            wait();
        }
        if (failedBefore(chunk)) {
            throw new StoppedException();
        }
    }

    private synchronized void passTurn(long chunk) {
        turn = chunk + 1;
        notifyAll();
    }

    /** Whether a chunk before {@code chunk} failed (so {@code chunk} will never get its turn). */
    private synchronized boolean failedBefore(long chunk) {
        return failedChunk < chunk;
    }

    private synchronized void fail(long chunk, Throwable t) {
        if (chunk < failedChunk && !(t instanceof StoppedException)) {
            failure = t instanceof UncheckedIOException u ? u.getCause() : t;
            failedChunk = chunk;
        }
        notifyAll();
    }

    /** Thrown in a worker that stops because another one failed (never leaves this class). */
    private static final class StoppedException extends RuntimeException {
        StoppedException() {
            super("stopped", null, false, false);
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

    /**
     * Copies all of {@code source} into {@code out} cluster by cluster, in order: clusters that
     * hold no DATA run are skipped without reading, read clusters that are all zeros are skipped,
     * the rest are handed to the writer (the tail past the source's end reads as zeros).
     */
    static Stats copyClusters(Disk source, CompressedWriter out, LongConsumer progress) throws IOException {
        return copyClusters(source, out, Target.FRESH, null, progress);
    }

    /**
     * {@link #copyClusters(Disk, CompressedWriter, LongConsumer)} into an {@code out} that holds
     * what {@code mode} says. FRESH: as there. OVER_BACKING ({@code -c -B}): only the clusters the
     * source's top layer touches are read and given; DIRTY (a backing file under {@code out} but
     * none under the source): every cluster is. Given clusters that read as zeros become zero
     * clusters ({@link CompressedWriter#writeZero}), so the backing file does not show through.
     */
    static Stats copyClusters(Disk source, CompressedWriter out, Target mode, Salvage salvage, LongConsumer progress)
            throws IOException {
        if (mode == Target.OVER_BACKING && source.layers().size() < 2) {
            mode = Target.DIRTY; // what the source's only layer does not hold reads as zeros: all of it is given
        }
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
                // FRESH: the chain's DATA runs; OVER_BACKING: what the top layer holds; DIRTY: everything
                Salvage.Mapper mapper = mode == Target.OVER_BACKING ? source.top()::map : source::map;
                long run = mode == Target.DIRTY ? Run.data(end - pos)
                        : salvage == null ? mapper.map(pos, end - pos) : salvage.map(mapper, pos, end - pos);
                long runEnd = pos + Math.min(Run.length(run), end - pos);
                boolean wanted = mode == Target.FRESH ? Run.kind(run) == Allocation.DATA
                        : Run.kind(run) != Allocation.UNALLOCATED;
                if (wanted) {
                    for (long c = Math.max(next, pos / cs); c * cs < runEnd; c++) {
                        long at = c * cs;
                        int len = (int) Math.min(cs, size - at);
                        cluster.clear();
                        read(source, salvage, at, cluster.duplicate().limit(len));
                        cluster.position(len);
                        while (cluster.hasRemaining()) {
                            cluster.put((byte) 0);
                        }
                        cluster.flip();
                        read += len;
                        if (cluster.mismatch(zero) >= 0) {
                            written += out.write(c, cluster);
                        } else if (mode != Target.FRESH) {
                            out.writeZero(c);
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

    /** Index in the buffer of the start of the grain holding index {@code i}. */
    private int grainStart(long offset, int i) {
        return (int) (Math.floorDiv(offset + i, grain) * grain - offset);
    }

    /** Index of the end of the grain holding index {@code i}, clipped to {@code length}. */
    private int grainEnd(long offset, int i, int length) {
        return (int) Math.min(length, Math.floorDiv(offset + i, grain) * grain + grain - offset);
    }
}
