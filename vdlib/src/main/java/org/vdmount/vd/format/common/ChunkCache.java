package org.vdmount.vd.format.common;

import java.util.LinkedHashMap;
import java.util.Map;

/**
 * A small LRU cache of decoded chunks, per image, bounded in bytes (EWF chunks, DMG chunks).
 * Striped by chunk number: each stripe is its own LRU with its own lock, held only to look up or
 * insert (never while decoding), so readers of different chunks never wait on one global lock.
 * The stripes share the byte budget; each keeps at least its most recent chunk, and there are
 * never more stripes than chunks of the largest size fit the budget, so the cache holds at most
 * about {@code max(budgetBytes, maxChunkBytes)}.
 */
public final class ChunkCache {
    private static final int MAX_STRIPES = 16;
    private final Stripe[] stripes;

    /** At most about {@code budgetBytes} of chunks of up to {@code maxChunkBytes} each. */
    public ChunkCache(long maxChunkBytes, long budgetBytes) {
        int n = (int) Math.max(1, Math.min(MAX_STRIPES, budgetBytes / Math.max(1, maxChunkBytes)));
        long perStripe = Math.max(1, budgetBytes / n);
        stripes = new Stripe[n];
        for (int i = 0; i < n; i++) {
            stripes[i] = new Stripe(perStripe);
        }
    }

    public byte[] get(long chunk) {
        Stripe s = stripe(chunk);
        synchronized (s) {
            return s.get(chunk);
        }
    }

    public void put(long chunk, byte[] data) {
        Stripe s = stripe(chunk);
        synchronized (s) {
            s.add(chunk, data);
        }
    }

    private Stripe stripe(long chunk) {
        return stripes[(int) Math.floorMod(chunk, (long) stripes.length)];
    }

    /** One LRU holding up to its byte budget (and always its newest chunk). */
    private static final class Stripe extends LinkedHashMap<Long, byte[]> {
        private static final long serialVersionUID = 1L;
        private final long budgetBytes;
        private long bytes;

        Stripe(long budgetBytes) {
            super(16, 0.75f, true);
            this.budgetBytes = budgetBytes;
        }

        void add(long chunk, byte[] data) {
            byte[] old = put(chunk, data);
            bytes += data.length - (old == null ? 0 : old.length);
            var it = entrySet().iterator();
            while (bytes > budgetBytes && size() > 1) {
                Map.Entry<Long, byte[]> eldest = it.next();
                bytes -= eldest.getValue().length;
                it.remove();
            }
        }
    }
}
