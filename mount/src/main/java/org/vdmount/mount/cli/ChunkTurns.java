package org.vdmount.mount.cli;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.atomic.AtomicLong;

/**
 * The order of a copy done in chunks by several workers ({@link DiskCopy}): each worker claims
 * the next chunk, works on it beside the others, and commits it when its turn comes, in chunk
 * order. The failure of the lowest chunk that failed is the copy's (so the error reported does
 * not depend on thread timing); workers on later chunks stop at their next step, those on earlier
 * chunks finish theirs.
 */
final class ChunkTurns {
    /** A worker's loop: claims chunks until {@link #claim} says none is left. */
    interface Worker {
        void work();
    }

    private final AtomicLong next = new AtomicLong();
    /** The chunk whose turn it is; guarded by this. */
    private long turn;
    /** The failure of the lowest chunk that failed; guarded by this. */
    private Throwable failure;
    /** The chunk {@link #failure} belongs to ({@code -1}: not a chunk's, everything stops). */
    private long failedChunk = Long.MAX_VALUE;

    /** The next chunk below {@code chunks} to work on, or -1 when none is left or an earlier one failed. */
    long claim(long chunks) {
        long c = next.getAndIncrement();
        return c >= chunks || failedBefore(c) ? -1 : c;
    }

    /** Waits until it is {@code chunk}'s turn; stops the worker (quietly) if an earlier chunk failed. */
    synchronized void awaitTurn(long chunk) throws InterruptedException {
        while (turn != chunk && !failedBefore(chunk)) {
            wait();
        }
        if (failedBefore(chunk)) {
            throw new StoppedException();
        }
    }

    synchronized void passTurn(long chunk) {
        turn = chunk + 1;
        notifyAll();
    }

    /** Whether a chunk before {@code chunk} failed (so {@code chunk} will never get its turn). */
    synchronized boolean failedBefore(long chunk) {
        return failedChunk < chunk;
    }

    /** Records that work on {@code chunk} failed with {@code t} ({@code -1}: everything stops). */
    synchronized void fail(long chunk, Throwable t) {
        if (chunk < failedChunk && !(t instanceof StoppedException)) {
            failure = t instanceof UncheckedIOException u ? u.getCause() : t;
            failedChunk = chunk;
        }
        notifyAll();
    }

    /**
     * Runs {@code worker} on the calling thread and on {@code workers - 1} more (at most one per
     * chunk), waits for all of them, and throws the copy's failure, if any.
     */
    void run(int workers, long chunks, String name, Worker worker) throws IOException {
        List<Thread> threads = new ArrayList<>();
        for (int i = 1; i < workers && i < chunks; i++) {
            Thread t = new Thread(worker::work, name + "-" + i);
            t.setDaemon(true);
            threads.add(t);
            t.start();
        }
        worker.work();
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

    /** Thrown in a worker that stops because another one failed (never leaves the copy). */
    static final class StoppedException extends RuntimeException {
        StoppedException() {
            super("stopped", null, false, false);
        }
    }
}
