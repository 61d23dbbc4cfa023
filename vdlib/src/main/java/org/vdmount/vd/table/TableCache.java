package org.vdmount.vd.table;

import java.io.IOException;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.AtomicReferenceArray;
import java.util.concurrent.locks.Lock;
import java.util.concurrent.locks.ReentrantLock;

/**
 * The one cache of second-level tables: QCOW, QED and qcow2 L2 tables, VMDK grain tables. Keys are
 * {@code long}s the owner chooses (an L1 or directory index, or a table's host offset). The cache is
 * bounded and 4-way set-associative, with a round-robin victim in each set.
 *
 * <p>A hit takes no lock and allocates nothing (at most four volatile reads). A miss loads under a
 * lock, so a table is never loaded twice at once: one of 64 stripe locks, or the owner's metadata
 * lock when its loader reads state that its writers change under that lock (VMDK sparse extents).
 *
 * <p>A writer holds the tables it changes ({@link #getForUpdate}, {@link #installNew}): a held
 * table also sits in a side map until {@link #release}, so evicting it from its slot never loses
 * it, and a miss finds the held copy before going to the file. Write-back owners (qcow2) release
 * a table once flush has written it; write-through owners (QCOW, QED) once the changed entry is in
 * the file, so a later miss reloads a current copy.
 *
 * @param <T> the table type
 */
public final class TableCache<T> {
    private static final int WAYS = 4;
    private static final int STRIPES = 64;
    /** The most tables an owner may ask for (a million L2 tables is 64 TiB of 64 KiB clusters). */
    private static final int MAX_TABLES = 1 << 20;

    public interface Loader<T> {
        T load(long key) throws IOException;
    }

    private record Slot<T>(long key, T table) {
    }

    private final AtomicReferenceArray<Slot<T>> slots;
    private final int setMask;
    private final int[] nextVictim;
    private final Lock[] locks;
    private final ConcurrentHashMap<Long, T> held = new ConcurrentHashMap<>();
    private final Loader<T> loader;

    /**
     * A cache for {@code tables} tables, striped locks. It has twice as many slots (rounded up to a
     * power of two, at least 4), so that {@code tables} keys that follow each other (L1 or
     * directory indexes) never evict each other: with exactly one slot each, a set of four ways
     * got five of eight such keys, and that table was read again on most of its lookups. So it may
     * hold up to twice {@code tables}; see {@link #sizeFor}.
     */
    public TableCache(int tables, Loader<T> loader) {
        this(tables, null, loader);
    }

    /** As above; misses load under {@code ownerLock} (null: striped locks). */
    public TableCache(int tables, Lock ownerLock, Loader<T> loader) {
        long want = 2L * Math.max(1, tables);
        int sets = Integer.highestOneBit((int) Math.min(1 << 29, Math.max(1, (want + WAYS - 1) / WAYS) * 2 - 1));
        this.slots = new AtomicReferenceArray<>(sets * WAYS);
        this.setMask = sets - 1;
        this.nextVictim = new int[sets];
        this.loader = loader;
        if (ownerLock != null) {
            this.locks = new Lock[] {ownerLock};
        } else {
            this.locks = new Lock[STRIPES];
            for (int i = 0; i < STRIPES; i++) {
                locks[i] = new ReentrantLock();
            }
        }
    }

    /**
     * What to ask for when an owner has {@code keys} tables in all and may keep about
     * {@code budget} of them in memory: all of them where they fit (none is ever evicted, and no
     * more than {@code keys} are ever held), else half the budget (the cache may hold twice that).
     */
    public static int sizeFor(long keys, long budget) {
        long n = keys <= budget ? keys : budget / 2;
        return (int) Math.max(1, Math.min(n, MAX_TABLES));
    }

    public int capacity() {
        return slots.length();
    }

    private int setOf(long key) {
        long h = key * 0x9E3779B97F4A7C15L;
        return (int) (h >>> 40) & setMask;
    }

    private Lock lockOf(int set) {
        return locks[set & (locks.length - 1)];
    }

    /** The table of {@code key}, loading it on a miss. */
    public T get(long key) throws IOException {
        int set = setOf(key);
        T t = cached(set, key);
        if (t != null) {
            return t;
        }
        Lock lock = lockOf(set);
        lock.lock();
        try {
            return canonical(set, key);
        } finally {
            lock.unlock();
        }
    }

    /** The table of {@code key}, held until {@link #release}: the caller is about to change it. */
    public T getForUpdate(long key) throws IOException {
        int set = setOf(key);
        Lock lock = lockOf(set);
        lock.lock();
        try {
            T t = canonical(set, key);
            held.put(key, t);
            return t;
        } finally {
            lock.unlock();
        }
    }

    /** Adds a table made in memory (new, or a copy), held until {@link #release}. */
    public void installNew(long key, T t) {
        place(key, t, true);
    }

    /** Replaces the cached copy of {@code key}, not held: the owner keeps its own changed set. */
    public void put(long key, T t) {
        place(key, t, false);
    }

    private void place(long key, T t, boolean hold) {
        int set = setOf(key);
        Lock lock = lockOf(set);
        lock.lock();
        try {
            if (hold) {
                held.put(key, t);
            }
            install(set, key, t);
        } finally {
            lock.unlock();
        }
    }

    /** Ends the hold on {@code t} (written to the file, or its change is); it may be evicted now. */
    public void release(long key, T t) {
        held.remove(key, t);
    }

    /** Forgets the table of {@code key} (its space was freed and may come back as something else). */
    public void invalidate(long key) {
        int set = setOf(key);
        Lock lock = lockOf(set);
        lock.lock();
        try {
            held.remove(key);
            int base = set * WAYS;
            for (int w = 0; w < WAYS; w++) {
                Slot<T> s = slots.get(base + w);
                if (s != null && s.key == key) {
                    slots.set(base + w, null);
                }
            }
        } finally {
            lock.unlock();
        }
    }

    /** A snapshot of the held tables. */
    public List<T> heldTables() {
        return new ArrayList<>(held.values());
    }

    public int heldCount() {
        return held.size();
    }

    private T cached(int set, long key) {
        int base = set * WAYS;
        for (int w = 0; w < WAYS; w++) {
            Slot<T> s = slots.get(base + w);
            if (s != null && s.key == key) {
                return s.table;
            }
        }
        return null;
    }

    /** The cached, held or freshly loaded table (caller holds the set's lock). */
    private T canonical(int set, long key) throws IOException {
        T t = cached(set, key);
        if (t != null) {
            return t;
        }
        t = held.get(key);
        if (t == null) {
            t = loader.load(key);
        }
        install(set, key, t);
        return t;
    }

    private void install(int set, long key, T t) {
        int base = set * WAYS;
        int free = -1;
        for (int w = 0; w < WAYS; w++) {
            Slot<T> cur = slots.get(base + w);
            if (cur != null && cur.key == key) {
                slots.set(base + w, new Slot<>(key, t));
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
        slots.set(base + free, new Slot<>(key, t));
    }
}
