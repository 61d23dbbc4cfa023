package org.vdmount.vd;

import java.io.IOException;
import java.io.InterruptedIOException;
import java.io.UncheckedIOException;
import java.nio.ByteBuffer;
import java.util.ArrayDeque;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;

/**
 * Every byte of a disk (or of a range of an image), handed to a consumer in order, while the reads
 * of the pieces after it run on other threads. Reading a compressed image (an E01's zlib chunks, a
 * DMG's) is mostly decoding, and a digest or checksum must see the bytes in order: so the decoding
 * of the next pieces overlaps the digest of this one and spreads over the cores ({@code vd verify},
 * a DMG's block-table CRC-32s).
 * A failed read is reported when its piece's turn comes, so the error named is always the first in
 * disk order, whatever the timing.
 */
public final class OrderedRead {
    public static final int PIECE = 1 << 20;
    /** Reading threads at most (each keeps two pieces in flight). */
    static final int MAX_THREADS = 8;

    /** Takes the pieces in order; {@code end} is the offset just past the piece. */
    @FunctionalInterface
    public interface Sink {
        void accept(ByteBuffer piece, long end) throws IOException;
    }

    /** Fills {@code dst} (to its limit) with the bytes at {@code offset}; called from several threads at once. */
    @FunctionalInterface
    public interface Source {
        void read(long offset, ByteBuffer dst) throws IOException;
    }

    private OrderedRead() {
    }

    /** One reading thread per core (at least one, at most {@link #MAX_THREADS}). */
    public static int threads() {
        return Math.max(1, Math.min(MAX_THREADS, Runtime.getRuntime().availableProcessors()));
    }

    /** Reads all of {@code disk} with {@code threads} reading threads (1: on the calling thread only). */
    public static void read(Disk disk, int threads, Sink sink) throws IOException {
        read(disk::read, 0, disk.size(), threads, sink);
    }

    /**
     * Reads {@code [start, end)} of {@code source} with {@code threads} reading threads (1: on the
     * calling thread only); the sink sees pieces of {@link #PIECE} bytes at most, in order.
     */
    public static void read(Source source, long start, long end, int threads, Sink sink) throws IOException {
        if (threads <= 1 || end - start <= PIECE) {
            ByteBuffer b = ByteBuffer.allocate((int) Math.min(PIECE, Math.max(1, end - start)));
            for (long off = start; off < end; ) {
                b.clear().limit((int) Math.min(b.capacity(), end - off));
                source.read(off, b);
                off += b.flip().limit();
                sink.accept(b, off);
            }
            return;
        }
        ExecutorService pool = Executors.newFixedThreadPool(threads, r -> {
            Thread t = new Thread(r, "vd-read");
            t.setDaemon(true);
            return t;
        });
        ArrayDeque<ByteBuffer> free = new ArrayDeque<>();
        for (int i = 0; i < 2 * threads; i++) {
            free.add(ByteBuffer.allocate(PIECE));
        }
        ArrayDeque<Future<ByteBuffer>> inFlight = new ArrayDeque<>();
        try {
            long next = start;
            long done = start;
            while (done < end) {
                while (next < end && !free.isEmpty()) {
                    ByteBuffer b = free.poll();
                    long off = next;
                    int len = (int) Math.min(PIECE, end - off);
                    inFlight.add(pool.submit(() -> {
                        b.clear().limit(len);
                        source.read(off, b);
                        return b.flip();
                    }));
                    next += len;
                }
                ByteBuffer b = take(inFlight.poll());
                done += b.limit();
                sink.accept(b, done);
                free.add(b);
            }
        } finally {
            // not shutdownNow: interrupting a thread inside a FileChannel read closes the channel,
            // for every user of the image; the pieces still in flight end on their own
            pool.shutdown();
        }
    }

    private static ByteBuffer take(Future<ByteBuffer> f) throws IOException {
        try {
            return f.get();
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new InterruptedIOException("read interrupted");
        } catch (ExecutionException e) {
            Throwable c = e.getCause();
            if (c instanceof IOException io) {
                throw io;
            } else if (c instanceof UncheckedIOException u) {
                throw u.getCause();
            } else if (c instanceof RuntimeException re) {
                throw re;
            } else if (c instanceof Error err) {
                throw err;
            }
            throw new IOException(c);
        }
    }
}
