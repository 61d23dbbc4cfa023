package org.vdmount.vd.format.vmdk;

import java.io.IOException;
import java.util.concurrent.atomic.AtomicReferenceArray;

/**
 * A direct-mapped cache of grain tables keyed by grain-directory index. A hit takes no lock and
 * allocates nothing; a miss loads under the owner's lock (so a table being updated by a writer is
 * never replaced by a stale copy read from disk).
 *
 * @param <T> the table type (int[] for 32-bit entries, long[] for seSparse)
 */
final class TableCache<T> {
    /** Memory allowed for cached tables of one extent. */
    static final long BUDGET_BYTES = 16L << 20;

    interface Loader<T> {
        T load(int index) throws IOException;
    }

    private record Slot<T>(int index, T table) {
    }

    private final AtomicReferenceArray<Slot<T>> slots;
    private final Object lock;
    private final Loader<T> loader;

    /**
     * @param tables     number of grain-directory entries
     * @param tableBytes size of one table in memory
     * @param lock       the owner's metadata lock
     */
    TableCache(int tables, long tableBytes, Object lock, Loader<T> loader) {
        int n = (int) Math.max(1, Math.min(tables, Math.max(16, BUDGET_BYTES / Math.max(1, tableBytes))));
        this.slots = new AtomicReferenceArray<>(n);
        this.lock = lock;
        this.loader = loader;
    }

    T get(int index) throws IOException {
        int s = index % slots.length();
        Slot<T> slot = slots.get(s);
        if (slot != null && slot.index == index) {
            return slot.table;
        }
        synchronized (lock) {
            slot = slots.get(s);
            if (slot != null && slot.index == index) {
                return slot.table;
            }
            T t = loader.load(index);
            slots.set(s, new Slot<>(index, t));
            return t;
        }
    }

    /** Replaces a cached table (caller holds the lock). */
    void put(int index, T table) {
        slots.set(index % slots.length(), new Slot<>(index, table));
    }
}
