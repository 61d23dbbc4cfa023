package org.vdmount.vd.format.common;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.lang.management.ManagementFactory;
import java.nio.ByteBuffer;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.atomic.AtomicLong;
import org.junit.jupiter.api.Test;

class ChunkCacheTest {
    static final int CHUNK = 4096;

    /** Chunk {@code c}'s byte {@code i}: a function of both, so a wrong chunk or offset shows. */
    static byte expected(long c, int i) {
        return (byte) (c * 31 + i * 7 + (i >> 8));
    }

    /** The last chunk of the test media is short, as an EWF set's last chunk may be. */
    static int size(long c) {
        return c == 999 ? 1000 : CHUNK;
    }

    static final class Counting implements ChunkCache.Decoder {
        final AtomicLong calls = new AtomicLong();

        @Override
        public int decode(long chunk, long tag, byte[] out, int size) {
            calls.incrementAndGet();
            for (int i = 0; i < size; i++) {
                out[i] = expected(chunk, i);
            }
            return size;
        }
    }

    private static void check(ChunkCache cache, long c, int from, int n) throws Exception {
        ByteBuffer dst = ByteBuffer.allocate(n + 3).position(3);
        cache.read(c, size(c), from, n, dst);
        assertEquals(n + 3, dst.position());
        for (int i = 0; i < n; i++) {
            assertEquals(expected(c, from + i), dst.get(3 + i), "chunk " + c + " byte " + (from + i));
        }
    }

    @Test
    void aCachedChunkIsCopiedOutWithoutDecodingAgain() throws Exception {
        Counting d = new Counting();
        ChunkCache cache = new ChunkCache(CHUNK, 64 * CHUNK, d);
        check(cache, 5, 0, CHUNK);
        check(cache, 5, 100, 17);
        check(cache, 999, 990, 10);
        check(cache, 999, 0, 1000);
        assertEquals(2, d.calls.get());
        assertThrows(IllegalArgumentException.class, () -> cache.read(999, 1000, 990, 11, ByteBuffer.allocate(11)));
        assertThrows(IllegalArgumentException.class, () -> cache.read(1, CHUNK + 1, 0, 1, ByteBuffer.allocate(1)));
    }

    /** Far more chunks than the pool holds, from several threads at once: every copy is the right chunk's. */
    @Test
    void buffersReusedUnderConcurrentReadersNeverShowAnotherChunk() throws Exception {
        Counting d = new Counting();
        ChunkCache cache = new ChunkCache(CHUNK, 8 * CHUNK, d); // two sets of four
        ExecutorService pool = Executors.newFixedThreadPool(6);
        try {
            List<Future<?>> fs = new ArrayList<>();
            for (int t = 0; t < 6; t++) {
                long seed = t;
                fs.add(pool.submit(() -> {
                    Random r = new Random(seed);
                    for (int k = 0; k < 20_000; k++) {
                        long c = r.nextInt(40) + (r.nextInt(10) == 0 ? 960 : 0);
                        int from = r.nextInt(size(c));
                        check(cache, c, from, 1 + r.nextInt(size(c) - from));
                    }
                    return null;
                }));
            }
            for (Future<?> f : fs) {
                f.get();
            }
        } finally {
            pool.shutdownNow();
        }
        assertTrue(d.calls.get() > 1000, "the pool was too large to be reused: " + d.calls.get() + " decodes");
    }

    /**
     * Reading allocates nothing per chunk once warm: not the decoded chunk (it goes into a pool
     * buffer) nor the scratch it is decoded into. Measured with the JVM's per-thread allocation
     * counter over 20 000 misses of 4 KiB chunks (80 MiB decoded), against a budget of 256 KiB.
     */
    @Test
    void missesAllocateNothingOnceWarm() throws Exception {
        Counting d = new Counting();
        ChunkCache cache = new ChunkCache(CHUNK, 16 * CHUNK, d);
        ByteBuffer dst = ByteBuffer.allocate(CHUNK);
        for (long c = 0; c < 100; c++) {
            cache.read(c, CHUNK, 0, CHUNK, dst.clear());
        }
        com.sun.management.ThreadMXBean mx = (com.sun.management.ThreadMXBean) ManagementFactory.getThreadMXBean();
        long tid = Thread.currentThread().getId();
        long before = mx.getThreadAllocatedBytes(tid);
        long calls = d.calls.get();
        for (long c = 100; c < 20_100; c++) {
            cache.read(c, CHUNK, 0, CHUNK, dst.clear());
        }
        long allocated = mx.getThreadAllocatedBytes(tid) - before;
        assertEquals(20_000, d.calls.get() - calls);
        assertTrue(allocated < 256 << 10, allocated + " bytes allocated for 20 000 chunks");
    }
}
