package org.vdmount.vd.format.dmg;

import java.nio.file.Path;
import java.util.Arrays;
import java.util.EnumMap;
import java.util.Map;
import org.vdmount.vd.CorruptImageException;

/**
 * Every chunk that covers sectors, all block tables together, sorted by first sector: kind, media
 * range, where its bytes lie in the file and which table entry named it (for messages). Built
 * once at open; overlaps are refused there. Its size is bounded by the property list's (each
 * chunk took 40 bytes of it).
 */
final class ChunkMap {
    private final long[] firstSector;
    private final long[] sectors;
    private final long[] fileOffset;
    private final long[] storedLength;
    private final byte[] kind;
    private final int[] table;
    private final int[] entry;
    private static final ChunkKind[] KINDS = ChunkKind.values();

    private ChunkMap(int n) {
        firstSector = new long[n];
        sectors = new long[n];
        fileOffset = new long[n];
        storedLength = new long[n];
        kind = new byte[n];
        table = new int[n];
        entry = new int[n];
    }

    int count() {
        return firstSector.length;
    }

    long firstSector(int i) {
        return firstSector[i];
    }

    long sectors(int i) {
        return sectors[i];
    }

    long endSector(int i) {
        return firstSector[i] + sectors[i];
    }

    long fileOffset(int i) {
        return fileOffset[i];
    }

    long storedLength(int i) {
        return storedLength[i];
    }

    ChunkKind kind(int i) {
        return KINDS[kind[i]];
    }

    /** "blkx entry T, chunk E", as the property list numbers them (from 0). */
    String name(int i) {
        return "blkx entry " + table[i] + ", chunk " + entry[i];
    }

    /** The chunk holding {@code sector}, or {@code -(insertion point) - 1} when none does. */
    int find(long sector) {
        int lo = 0;
        int hi = firstSector.length - 1;
        while (lo <= hi) {
            int mid = (lo + hi) >>> 1;
            if (firstSector[mid] > sector) {
                hi = mid - 1;
            } else if (endSector(mid) <= sector) {
                lo = mid + 1;
            } else {
                return mid;
            }
        }
        return -lo - 1;
    }

    /** How many chunks of each kind there are (kinds with none left out). */
    Map<ChunkKind, Integer> countsByKind() {
        Map<ChunkKind, Integer> m = new EnumMap<>(ChunkKind.class);
        for (byte k : kind) {
            m.merge(KINDS[k], 1, Integer::sum);
        }
        return m;
    }

    /** Bytes of the media that chunks with stored data cover. */
    long dataBytes() {
        long n = 0;
        for (int i = 0; i < count(); i++) {
            n += kind(i).zeros() ? 0 : sectors[i] * 512;
        }
        return n;
    }

    /** Collects chunks in table order; {@link #build} sorts and checks them. */
    static final class Builder {
        private long[] rows = new long[64 * 4];
        private int[] names = new int[64 * 3];
        private int n;

        void add(ChunkKind k, long first, long count, long offset, long length, int table, int entry) {
            if (n * 4 == rows.length) {
                rows = Arrays.copyOf(rows, rows.length * 2);
                names = Arrays.copyOf(names, names.length * 2);
            }
            rows[n * 4] = first;
            rows[n * 4 + 1] = count;
            rows[n * 4 + 2] = offset;
            rows[n * 4 + 3] = length;
            names[n * 3] = k.ordinal();
            names[n * 3 + 1] = table;
            names[n * 3 + 2] = entry;
            n++;
        }

        ChunkMap build(Path file, long plistOffset) throws CorruptImageException {
            Integer[] order = new Integer[n];
            for (int i = 0; i < n; i++) {
                order[i] = i;
            }
            Arrays.sort(order, (a, b) -> Long.compare(rows[a * 4], rows[b * 4]));
            ChunkMap m = new ChunkMap(n);
            for (int i = 0; i < n; i++) {
                int r = order[i];
                m.firstSector[i] = rows[r * 4];
                m.sectors[i] = rows[r * 4 + 1];
                m.fileOffset[i] = rows[r * 4 + 2];
                m.storedLength[i] = rows[r * 4 + 3];
                m.kind[i] = (byte) names[r * 3];
                m.table[i] = names[r * 3 + 1];
                m.entry[i] = names[r * 3 + 2];
                if (i > 0 && m.firstSector[i] < m.endSector(i - 1)) {
                    throw new CorruptImageException("dmg", file, m.name(i), plistOffset, "sectors " + m.firstSector[i]
                            + "-" + (m.endSector(i) - 1) + " overlap " + m.name(i - 1) + " (sectors "
                            + m.firstSector[i - 1] + "-" + (m.endSector(i - 1) - 1) + ")");
                }
            }
            return m;
        }
    }
}
