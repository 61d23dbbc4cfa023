package org.vdmount.mount.cli;

import java.io.IOException;
import java.io.InterruptedIOException;
import java.io.UncheckedIOException;
import java.nio.ByteBuffer;
import java.util.ArrayDeque;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import org.vdmount.vd.Disk;

/**
 * Every byte of a disk, handed to a consumer in order, while the reads of the pieces after it run
 * on other threads. Reading a compressed image (an E01's zlib chunks, a DMG's) is mostly decoding,
 * and a digest must see the bytes in order: so the decoding of the next pieces overlaps the
 * digest of this one and spreads over the cores.
 * A failed read is reported when its piece's turn comes, so the error named is always the first in
 * disk order, whatever the timing.
 */
final class OrderedRead {
    static final int PIECE = 1 << 20;
    /** Reading threads at most (each keeps two pieces in flight). */
    static final int MAX_THREADS = 8;

    /** Takes the pieces in disk order; {@code end} is the disk offset just past the piece. */
    @FunctionalInterface
    interface Sink {
        void accept(ByteBuffer piece, long end) throws IOException;
    }

    private OrderedRead() {
    }

    /** One reading thread per core (at least one, at most {@link #MAX_THREADS}). */
    static int threads() {
        return Math.max(1, Math.min(MAX_THREADS, Runtime.getRuntime().availableProcessors()));
    }

    /** Reads all of {@code disk} with {@code threads} reading threads (1: on the calling thread only). */
    static void read(Disk disk, int threads, Sink sink) throws IOException {
        long size = disk.size();
        if (threads <= 1 || size <= PIECE) {
            ByteBuffer b = ByteBuffer.allocate((int) Math.min(PIECE, Math.max(1, size)));
            for (long off = 0; off < size; ) {
                b.clear().limit((int) Math.min(b.capacity(), size - off));
                disk.read(off, b);
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
            long next = 0;
            long done = 0;
            while (done < size) {
                while (next < size && !free.isEmpty()) {
                    ByteBuffer b = free.poll();
                    long off = next;
                    int len = (int) Math.min(PIECE, size - off);
                    inFlight.add(pool.submit(() -> {
                        b.clear().limit(len);
                        disk.read(off, b);
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
