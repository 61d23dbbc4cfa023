package org.vdmount.vd.format.ewf;

import java.util.Arrays;

/**
 * Where every chunk lies: its address in the segment set's address space (the segments laid end
 * to end, as the {@code SplitStorage} sees them), its stored size and whether it is compressed.
 * Filled while the tables are read, in chunk order; never larger than the table entries read
 * (each took 4 bytes of a file), so its memory is bounded by the files' size.
 */
final class ChunkTable {
    private static final long COMPRESSED = 1L << 63;
    private long[] addresses = new long[64];
    private int[] sizes = new int[64];
    private int count;

    void add(long address, int storedBytes, boolean compressed) {
        if (count == addresses.length) {
            int n = (int) Math.min(Integer.MAX_VALUE - 8L, count * 2L);
            addresses = Arrays.copyOf(addresses, n);
            sizes = Arrays.copyOf(sizes, n);
        }
        addresses[count] = address | (compressed ? COMPRESSED : 0);
        sizes[count] = storedBytes;
        count++;
    }

    int count() {
        return count;
    }

    long address(long chunk) {
        return addresses[(int) chunk] & ~COMPRESSED;
    }

    int storedBytes(long chunk) {
        return sizes[(int) chunk];
    }

    boolean compressed(long chunk) {
        return (addresses[(int) chunk] & COMPRESSED) != 0;
    }

    /** How many chunks are stored compressed. */
    long compressedCount() {
        long n = 0;
        for (int i = 0; i < count; i++) {
            n += addresses[i] < 0 ? 1 : 0;
        }
        return n;
    }

    /** Host bytes all chunks take. */
    long storedTotal() {
        long n = 0;
        for (int i = 0; i < count; i++) {
            n += sizes[i];
        }
        return n;
    }
}
