package org.vdmount.vd.table;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotSame;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.locks.ReentrantLock;
import org.junit.jupiter.api.Test;

class TableCacheTest {
    private final AtomicInteger loads = new AtomicInteger();

    private long[] load(long key) {
        loads.incrementAndGet();
        return new long[] {key};
    }

    @Test
    void aHitDoesNotLoadAgain() throws IOException {
        TableCache<long[]> c = new TableCache<>(16, this::load);
        long[] t = c.get(7);
        assertSame(t, c.get(7));
        assertEquals(1, loads.get());
    }

    @Test
    void asManyKeysThatFollowEachOtherAsAskedForAreLoadedOnceEach() throws IOException {
        for (int n = 1; n <= 2048; n = n < 64 ? n + 1 : n * 2 + (n & 1) + 1) {
            TableCache<long[]> c = new TableCache<>(n, this::load);
            loads.set(0);
            for (int round = 0; round < 3; round++) {
                for (long k = 0; k < n; k++) {
                    assertEquals(k, c.get(k)[0]);
                }
            }
            assertEquals(n, loads.get(), n + " indexes: none may evict another");
        }
    }

    @Test
    void sizeForAsksForAllTablesThatFitAndHalfTheBudgetOtherwise() {
        assertEquals(8, TableCache.sizeFor(8, 512));
        assertEquals(512, TableCache.sizeFor(512, 512));
        assertEquals(256, TableCache.sizeFor(513, 512));
        assertEquals(1, TableCache.sizeFor(0, 16));
        assertEquals(1 << 20, TableCache.sizeFor(1L << 40, 1L << 40));
    }

    @Test
    void staysBoundedAndReloadsWhatItEvicted() throws IOException {
        TableCache<long[]> c = new TableCache<>(4, this::load);
        for (long k = 0; k < 1000; k++) {
            assertEquals(k, c.get(k)[0]);
        }
        assertEquals(1000, loads.get());
        int before = loads.get();
        for (long k = 0; k < 1000; k++) {
            c.get(k);
        }
        assertTrue(loads.get() - before >= 1000 - c.capacity());
    }

    @Test
    void aHeldTableSurvivesEvictionUntilReleased() throws IOException {
        TableCache<long[]> c = new TableCache<>(4, new ReentrantLock(), this::load);
        long[] held = c.getForUpdate(1);
        long[] made = new long[] {99};
        c.installNew(2, made);
        for (long k = 3; k < 500; k++) {
            c.get(k);
        }
        assertSame(held, c.get(1));
        assertSame(made, c.get(2));
        assertEquals(2, c.heldCount());
        c.release(1, held);
        c.release(2, made);
        assertEquals(0, c.heldCount());
        for (long k = 3; k < 500; k++) {
            c.get(k);
        }
        assertNotSame(made, c.get(2));
    }

    @Test
    void invalidateForgetsHeldAndCachedCopies() throws IOException {
        TableCache<long[]> c = new TableCache<>(8, this::load);
        long[] made = new long[] {5};
        c.installNew(5, made);
        c.invalidate(5);
        assertEquals(0, c.heldCount());
        assertNotSame(made, c.get(5));
    }
}
