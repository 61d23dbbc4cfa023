package org.vdmount.vd.table;

import java.io.IOException;
import java.lang.invoke.MethodHandles;
import java.lang.invoke.VarHandle;
import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicReferenceArray;
import java.util.concurrent.locks.ReentrantLock;

/**
 * The loaded L2 tables, one slot per L1 index: a hit is one volatile read. Tables are written
 * through (the file is always current), so any slot may be dropped; dropping happens only while
 * holding the writers' lock, so a writer never updates a table that a reader is replacing with a
 * stale copy. At most {@code max} tables stay loaded (a few more while writers are busy).
 * Shared by the formats with two-level cluster tables of 64-bit entries (QCOW v1, QED).
 */
public final class TableSlots {
    private static final VarHandle WORDS = MethodHandles.arrayElementVarHandle(long[].class);

    public interface Loader {
        long[] load(int l1Index) throws IOException;
    }

    private final AtomicReferenceArray<long[]> slots;
    private final AtomicInteger loaded = new AtomicInteger();
    private final ConcurrentLinkedQueue<Integer> order = new ConcurrentLinkedQueue<>();
    private final int max;
    private final ReentrantLock writers;
    private final Loader loader;

    public TableSlots(int l1Entries, int max, ReentrantLock writers, Loader loader) {
        this.slots = new AtomicReferenceArray<>(l1Entries);
        this.max = Math.max(2, max);
        this.writers = writers;
        this.loader = loader;
    }

    /** The table of L1 index {@code i} (which must name an allocated table). */
    public long[] get(int i) throws IOException {
        long[] t = slots.get(i);
        if (t != null) {
            return t;
        }
        t = loader.load(i);
        if (!slots.compareAndSet(i, null, t)) {
            return slots.get(i);
        }
        order.add(i);
        if (loaded.incrementAndGet() > max && writers.tryLock()) {
            try {
                evict(i);
            } finally {
                writers.unlock();
            }
        }
        return t;
    }

    /** Installs a table the writer just created (under the writers' lock). */
    public void put(int i, long[] t) {
        if (slots.getAndSet(i, t) == null) {
            loaded.incrementAndGet();
            order.add(i);
        }
    }

    /** Drops the oldest loaded tables (not {@code keep}) until at most {@code max} are loaded. */
    private void evict(int keep) {
        int tries = loaded.get() + 8;
        while (loaded.get() > max && tries-- > 0) {
            Integer j = order.poll();
            if (j == null) {
                return;
            }
            if (j == keep) {
                order.add(j);
            } else if (slots.getAndSet(j, null) != null) {
                loaded.decrementAndGet();
            }
        }
    }

    public static long entry(long[] t, int i) {
        return (long) WORDS.getAcquire(t, i);
    }

    public static void setEntry(long[] t, int i, long v) {
        WORDS.setRelease(t, i, v);
    }
}
