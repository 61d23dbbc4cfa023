package org.vdmount.vd.format.ewf;

import java.util.LinkedHashMap;
import java.util.Map;

/**
 * A small LRU cache of decoded chunks, per image. Striped by chunk number: each stripe is its own
 * LRU with its own lock, so readers of different chunks never wait on one global lock.
 */
final class ChunkCache {
    private static final int STRIPES = 16;
    private final Stripe[] stripes = new Stripe[STRIPES];

    /** At most about {@code budgetBytes} of chunks of {@code chunkBytes}, one per stripe at least. */
    ChunkCache(long chunkBytes, long budgetBytes) {
        int perStripe = (int) Math.max(1, Math.min(1024, budgetBytes / chunkBytes / STRIPES));
        for (int i = 0; i < STRIPES; i++) {
            stripes[i] = new Stripe(perStripe);
        }
    }

    byte[] get(long chunk) {
        Stripe s = stripe(chunk);
        synchronized (s) {
            return s.get(chunk);
        }
    }

    void put(long chunk, byte[] data) {
        Stripe s = stripe(chunk);
        synchronized (s) {
            s.put(chunk, data);
        }
    }

    private Stripe stripe(long chunk) {
        return stripes[(int) (chunk % STRIPES)];
    }

    private static final class Stripe extends LinkedHashMap<Long, byte[]> {
        private static final long serialVersionUID = 1L;
        private final int capacity;

        Stripe(int capacity) {
            super(16, 0.75f, true);
            this.capacity = capacity;
        }

        @Override
        protected boolean removeEldestEntry(Map.Entry<Long, byte[]> eldest) {
            return size() > capacity;
        }
    }
}
