package org.vdmount.vd.format.qcow2;

import java.io.IOException;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.AtomicReferenceArray;
import java.util.concurrent.locks.ReentrantLock;

/**
 * A bounded set-associative cache of L2 tables keyed by host offset. A hit is lock-free (a few
 * volatile reads, no allocation); a miss loads the table under one of 64 stripe locks, so a table
 * is never loaded twice at once. Tables changed and not yet written ("dirty") are also held in a
 * side map until the next flush: evicting one from its slot never loses it, and a reader that
 * misses finds the dirty copy before going to the file.
 */
final class L2Cache {
    static final int WAYS = 4;
    private static final int STRIPES = 64;

    interface Loader {
        L2Table load(long hostOffset) throws IOException;
    }

    private final AtomicReferenceArray<L2Table> slots;
    private final int setMask;
    private final int[] nextVictim;
    private final ReentrantLock[] stripes = new ReentrantLock[STRIPES];
    private final ConcurrentHashMap<Long, L2Table> dirty = new ConcurrentHashMap<>();
    private final Loader loader;

    /** @param tables how many tables to keep cached (rounded up to a power of two, at least 4) */
    L2Cache(int tables, Loader loader) {
        int sets = Integer.highestOneBit(Math.max(1, (tables + WAYS - 1) / WAYS) * 2 - 1);
        this.slots = new AtomicReferenceArray<>(sets * WAYS);
        this.setMask = sets - 1;
        this.nextVictim = new int[sets];
        this.loader = loader;
        for (int i = 0; i < STRIPES; i++) {
            stripes[i] = new ReentrantLock();
        }
    }

    int capacity() {
        return slots.length();
    }

    private int setOf(long hostOffset) {
        long h = hostOffset * 0x9E3779B97F4A7C15L;
        return (int) (h >>> 40) & setMask;
    }

    /** The table at {@code hostOffset}, loading it on a miss. */
    L2Table get(long hostOffset) throws IOException {
        int set = setOf(hostOffset);
        int base = set * WAYS;
        for (int w = 0; w < WAYS; w++) {
            L2Table t = slots.get(base + w);
            if (t != null && t.hostOffset == hostOffset) {
                return t;
            }
        }
        ReentrantLock lock = stripes[set & (STRIPES - 1)];
        lock.lock();
        try {
            return canonical(hostOffset, set);
        } finally {
            lock.unlock();
        }
    }

    /** The table to change (called under the image's allocation lock); it stays held until flush. */
    L2Table getForUpdate(long hostOffset) throws IOException {
        int set = setOf(hostOffset);
        ReentrantLock lock = stripes[set & (STRIPES - 1)];
        lock.lock();
        try {
            L2Table t = canonical(hostOffset, set);
            dirty.put(hostOffset, t);
            return t;
        } finally {
            lock.unlock();
        }
    }

    /** Adds a table created in memory (new or copied); it is dirty until written. */
    void installNew(L2Table t) {
        int set = setOf(t.hostOffset);
        ReentrantLock lock = stripes[set & (STRIPES - 1)];
        lock.lock();
        try {
            dirty.put(t.hostOffset, t);
            install(set, t);
        } finally {
            lock.unlock();
        }
    }

    /** Forgets a table whose cluster was freed (its offset may come back as something else). */
    void invalidate(long hostOffset) {
        int set = setOf(hostOffset);
        ReentrantLock lock = stripes[set & (STRIPES - 1)];
        lock.lock();
        try {
            dirty.remove(hostOffset);
            int base = set * WAYS;
            for (int w = 0; w < WAYS; w++) {
                L2Table t = slots.get(base + w);
                if (t != null && t.hostOffset == hostOffset) {
                    slots.set(base + w, null);
                }
            }
        } finally {
            lock.unlock();
        }
    }

    /** Snapshot of the dirty tables (writer side, under the allocation lock). */
    List<L2Table> dirtyTables() {
        return new ArrayList<>(dirty.values());
    }

    int dirtyCount() {
        return dirty.size();
    }

    /** Called after {@code t} was written to the file. */
    void markClean(L2Table t) {
        dirty.remove(t.hostOffset, t);
    }

    private L2Table canonical(long hostOffset, int set) throws IOException {
        int base = set * WAYS;
        for (int w = 0; w < WAYS; w++) {
            L2Table t = slots.get(base + w);
            if (t != null && t.hostOffset == hostOffset) {
                return t;
            }
        }
        L2Table t = dirty.get(hostOffset);
        if (t == null) {
            t = loader.load(hostOffset);
        }
        install(set, t);
        return t;
    }

    private void install(int set, L2Table t) {
        int base = set * WAYS;
        int free = -1;
        for (int w = 0; w < WAYS; w++) {
            L2Table cur = slots.get(base + w);
            if (cur != null && cur.hostOffset == t.hostOffset) {
                slots.set(base + w, t);
                return;
            }
            if (cur == null && free < 0) {
                free = w;
            }
        }
        if (free < 0) {
            free = nextVictim[set];
            nextVictim[set] = (free + 1) % WAYS;
        }
        slots.set(base + free, t);
    }
}
