package org.vdmount.vd.format.ewf;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.util.Arrays;
import org.vdmount.vd.storage.Storage;
import org.vdmount.vd.table.TableCache;

/**
 * Where every chunk lies: its address in the segment set's address space (the segments laid end
 * to end, as the {@code SplitStorage} sees them), its stored size and whether it is compressed.
 *
 * <p>The walk at open reads and checks every table section once (spec: "Table section") and keeps
 * only where each one is and which chunks it covers: a few dozen bytes per table of up to 65534
 * chunks. The entries are read again when a chunk of their table is read, into a bounded cache of
 * tables. So memory does not grow with the media: keeping every chunk's address and size took 12
 * bytes per chunk, 768 MiB for a 2 TiB disk in 32 KiB chunks (and open held twice that while its
 * arrays grew). A table re-read is the one found sound at open, or its "table2" mirror where that
 * stood in; each size is computed as at open (the next entry's offset, or the end of the chunk data
 * for a table's last entry), so a file changed behind the reader still cannot send a read outside
 * its segment (the decoder checks every chunk against the segment's end).
 */
final class ChunkTable {
    /** Tables kept decoded at once (EnCase writes 16375 or 65534 entries a table: 64 or 256 KiB). */
    static final int CACHED_TABLES = 32;

    /** One chunk: its address, its stored bytes (-1: its entries give no valid size) and whether it is compressed. */
    record Chunk(long address, int storedBytes, boolean compressed) {
    }

    private final Storage storage;
    private final int cachedTables;
    /** Per table, in chunk order: its first chunk, where entry 0 lies, what the entries are relative to. */
    private long[] firstChunk = new long[16];
    private long[] entriesAt = new long[16];
    private long[] base = new long[16];
    /** Where the chunk data of the table's last entry ends (its "sectors" section's end). */
    private long[] dataEnd = new long[16];
    /** Entries the table section holds, and how many of them are chunks of the media. */
    private int[] entries = new int[16];
    private int[] used = new int[16];
    private int tables;
    private long count;
    private long compressedCount;
    private int sizeLimit = Integer.MAX_VALUE;
    private TableCache<int[]> cache;

    /** A table of chunks in {@code storage} that keeps about {@code cachedTables} tables' entries in memory. */
    ChunkTable(Storage storage, int cachedTables) {
        this.storage = storage;
        this.cachedTables = cachedTables;
    }

    /**
     * A table read and checked at open: {@code raw} are its {@code n} entries as stored (bit 31
     * compressed, bits 0-30 the offset from {@code base}), which lie at {@code entriesAt};
     * {@code dataEnd} ends its last chunk; the first {@code take} entries are the media's next chunks.
     */
    void add(long entriesAt, long base, long dataEnd, int[] raw, int n, int take) {
        if (take <= 0) {
            return;
        }
        if (tables == firstChunk.length) {
            int m = tables * 2;
            firstChunk = Arrays.copyOf(firstChunk, m);
            this.entriesAt = Arrays.copyOf(this.entriesAt, m);
            this.base = Arrays.copyOf(this.base, m);
            this.dataEnd = Arrays.copyOf(this.dataEnd, m);
            entries = Arrays.copyOf(entries, m);
            used = Arrays.copyOf(used, m);
        }
        firstChunk[tables] = count;
        this.entriesAt[tables] = entriesAt;
        this.base[tables] = base;
        this.dataEnd[tables] = dataEnd;
        entries[tables] = n;
        used[tables] = take;
        tables++;
        count += take;
        for (int i = 0; i < take; i++) {
            compressedCount += raw[i] < 0 ? 1 : 0;
        }
    }

    /**
     * Ends the walk: sizes above {@code sizeLimit} (a chunk plus slack) are invalid from now on,
     * and the entries go into a cache sized for the tables there are.
     */
    void seal(int sizeLimit) {
        this.sizeLimit = sizeLimit;
        this.cache = new TableCache<>(TableCache.sizeFor(tables, cachedTables), this::load);
    }

    long count() {
        return count;
    }

    int tables() {
        return tables;
    }

    /** Tables whose entries may be in memory at once. */
    int cacheCapacity() {
        return cache.capacity();
    }

    /** How many chunks are stored compressed. */
    long compressedCount() {
        return compressedCount;
    }

    /** Where chunk {@code chunk} (below {@link #count()}) lies. */
    Chunk chunk(long chunk) throws IOException {
        int t = tableOf(chunk);
        int[] raw = cache.get(t);
        int i = (int) (chunk - firstChunk[t]);
        long offset = raw[i] & 0x7fffffffL;
        long end = i + 1 < entries[t] ? base[t] + (raw[i + 1] & 0x7fffffffL) : dataEnd[t];
        long size = end - (base[t] + offset);
        return new Chunk(base[t] + offset, size <= 0 || size > sizeLimit ? -1 : (int) size, raw[i] < 0);
    }

    /** The table holding {@code chunk}: the last one starting at or before it. */
    private int tableOf(long chunk) {
        int i = Arrays.binarySearch(firstChunk, 0, tables, chunk);
        return i >= 0 ? i : -i - 2;
    }

    /** Table {@code t}'s entries, re-read: the used ones and the one after them that ends the last. */
    private int[] load(long key) throws IOException {
        int t = (int) key;
        int n = Math.min(entries[t], used[t] + 1);
        ByteBuffer b = ByteBuffer.allocate(4 * n).order(ByteOrder.LITTLE_ENDIAN);
        storage.readFully(b, entriesAt[t], "ewf", "table section entries");
        int[] raw = new int[n];
        b.flip().asIntBuffer().get(raw);
        return raw;
    }
}
