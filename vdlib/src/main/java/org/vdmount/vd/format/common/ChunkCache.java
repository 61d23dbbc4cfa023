package org.vdmount.vd.format.common;

import java.io.IOException;
import java.nio.ByteBuffer;

/**
 * The decoded chunks of one image (EWF chunks, DMG chunks), in a fixed pool of buffers bounded in
 * bytes: readers copy out of it, so a buffer is reused for the next chunk instead of each decoded
 * chunk being a new array.
 *
 * <p>That matters beyond the allocation itself. Every decoded chunk used to be a fresh array in an
 * LRU of linked entries: reading a disk at 1 GB/s made 1 GB/s of garbage, entries still cached at
 * a young collection were promoted, and an evicted entry in the old generation kept the entries
 * linked after it alive through the next young collections. G1 then let the heap grow towards its
 * limit before marking: `vd compare` of a 16 GiB E01 grew to 2.9 GB resident once nothing else
 * (the humongous arrays of the old EWF chunk table) happened to start a marking. Now a miss decodes
 * into the reading thread's own scratch buffer (no lock held) and copies the chunk into a pool
 * buffer; nothing is allocated per chunk.
 *
 * <p>The pool is set-associative (four ways, a round-robin victim per set), one lock per set, held
 * only to look up and to copy a chunk in or out (microseconds), never while decoding; readers of
 * chunks in different sets never wait for each other. Buffers are allocated when first filled, at
 * the size of the chunk (growing for a larger one), so a small image never takes the whole budget.
 */
public final class ChunkCache {
    private static final int WAYS = 4;
    /** Chunks held at most, whatever the budget: the sets are made up front (tiny chunks: a smaller budget). */
    private static final int MAX_ENTRIES = 4096;

    /**
     * Decodes chunk {@code chunk} into {@code out} (at least {@code size} long) and answers how many
     * bytes it holds (0 to {@code size}: a format may allow a short one), or throws. {@code tag} is
     * what the caller passed along with the key (a grain number for messages), not part of it.
     */
    @FunctionalInterface
    public interface Decoder {
        int decode(long chunk, long tag, byte[] out, int size) throws IOException;
    }

    private final int maxChunkBytes;
    private final Decoder decoder;
    private final Set[] sets;
    private final ThreadLocal<byte[]> scratch;

    /** One set: its ways' chunk numbers (-1: empty), lengths and buffers; guarded by itself. */
    private static final class Set {
        final long[] keys;
        final int[] lengths;
        final byte[][] data;
        int victim;

        Set(int ways) {
            keys = new long[ways];
            java.util.Arrays.fill(keys, -1);
            lengths = new int[ways];
            data = new byte[ways][];
        }

        int find(long chunk) {
            for (int w = 0; w < keys.length; w++) {
                if (keys[w] == chunk) {
                    return w;
                }
            }
            return -1;
        }
    }

    /** About {@code budgetBytes} of chunks of up to {@code maxChunkBytes} each (at least one set of them). */
    public ChunkCache(int maxChunkBytes, long budgetBytes, Decoder decoder) {
        this.maxChunkBytes = maxChunkBytes;
        this.decoder = decoder;
        long entries = Math.max(1, Math.min(budgetBytes / Math.max(1, maxChunkBytes), MAX_ENTRIES));
        int ways = (int) Math.min(WAYS, entries);
        int n = (int) Math.max(1, entries / ways);
        this.sets = new Set[n];
        for (int i = 0; i < n; i++) {
            sets[i] = new Set(ways);
        }
        this.scratch = ThreadLocal.withInitial(() -> new byte[0]);
    }

    /**
     * Copies {@code n} bytes of chunk {@code chunk} (of {@code size} bytes decoded, at most the
     * largest chunk's), from byte {@code from}, into {@code dst} at its position (which advances),
     * decoding the chunk on a miss. Buffers grow to the chunks they get, so the scratch a thread
     * keeps is as large as the largest chunk it decoded.
     */
    public void read(long chunk, int size, int from, int n, ByteBuffer dst) throws IOException {
        int length = read(chunk, chunk, size, from, n, dst);
        if (from > length - n) {
            throw new IllegalStateException("chunk " + chunk + " decoded to " + length + " of its " + size + " bytes");
        }
    }

    /**
     * As above for formats whose chunks may decode short: answers the chunk's decoded length, and
     * copies only when the range lies within it (else nothing: the caller reports the short chunk).
     * {@code tag} goes to the decoder with {@code chunk}.
     */
    public int read(long chunk, long tag, int size, int from, int n, ByteBuffer dst) throws IOException {
        if (size < 0 || size > maxChunkBytes || from < 0 || n < 0 || from > size - n) {
            throw new IllegalArgumentException("bytes [" + from + ", +" + n + ") of a chunk of " + size + " (at most "
                    + maxChunkBytes + ")");
        }
        Set s = sets[(int) Math.floorMod(chunk * 0x9E3779B97F4A7C15L >>> 32, (long) sets.length)];
        synchronized (s) {
            int w = s.find(chunk);
            if (w >= 0) {
                return copyOut(s, w, from, n, dst);
            }
        }
        byte[] buf = scratch.get();
        if (buf.length < size) {
            buf = new byte[size];
            scratch.set(buf);
        }
        int length = decoder.decode(chunk, tag, buf, size);
        if (length < 0 || length > size) {
            throw new IllegalStateException("chunk " + chunk + " decoded to " + length + " bytes, at most " + size);
        }
        synchronized (s) {
            int w = s.find(chunk);
            if (w < 0) {
                w = s.victim;
                s.victim = (w + 1) % s.keys.length;
                if (s.data[w] == null || s.data[w].length < length) {
                    s.data[w] = new byte[Math.max(length, 1)];
                }
                System.arraycopy(buf, 0, s.data[w], 0, length);
                s.keys[w] = chunk;
                s.lengths[w] = length;
            }
            return copyOut(s, w, from, n, dst);
        }
    }

    /** Copies the range when the cached chunk holds it; answers the chunk's length either way. */
    private static int copyOut(Set s, int w, int from, int n, ByteBuffer dst) {
        int length = s.lengths[w];
        if (from <= length - n) {
            dst.put(s.data[w], from, n);
        }
        return length;
    }
}
