package org.vdmount.vd.format.parallels;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.BitSet;
import java.util.List;
import org.vdmount.vd.Bytes;
import org.vdmount.vd.CorruptImageException;
import org.vdmount.vd.storage.Storage;
import org.vdmount.vd.table.Tables;

/**
 * The Block Allocation Table held in memory (parallels.txt "BAT"): entry i, a u32 right after the
 * header, locates guest cluster i in the file, counted in clusters ("WithouFreSpacExt") or sectors
 * ("WithoutFreeSpace"); 0 = not allocated. Readers take no lock ({@link Tables} acquire/release);
 * changes happen under the image's allocation lock. Host clusters are numbered from the data area:
 * cluster k starts at {@code dataOffset + k * clusterBytes}.
 */
final class Bat {
    private static final int LOAD_CHUNK_BYTES = 1 << 20;

    private final ParallelsHeader header;
    private final int[] entries;
    private final long unit;
    private final long dataOffset;
    private final long clusterBytes;

    private Bat(ParallelsHeader header, int[] entries) {
        this.header = header;
        this.entries = entries;
        this.unit = header.batUnitBytes();
        this.dataOffset = header.dataOffsetBytes();
        this.clusterBytes = header.clusterBytes();
    }

    /** A BAT of {@code h.batEntries()} zero entries (a new image). */
    static Bat empty(ParallelsHeader h) {
        return new Bat(h, new int[(int) h.batEntries()]);
    }

    /** Reads the BAT of a validated header (so it lies inside the file and its size is bounded by the file). */
    static Bat read(Storage storage, ParallelsHeader h) throws IOException {
        int n = (int) h.batEntries();
        int[] e = new int[n];
        ByteBuffer buf = ByteBuffer.allocate((int) Math.min(LOAD_CHUNK_BYTES, 4L * n));
        for (int first = 0; first < n; first += buf.capacity() / 4) {
            int count = Math.min(buf.capacity() / 4, n - first);
            buf.clear().limit(4 * count);
            storage.readFully(buf, h.batOffset() + 4L * first, "parallels", "BAT");
            Bytes b = Bytes.of(buf.array());
            for (int i = 0; i < count; i++) {
                e[first + i] = b.s32le(4 * i);
            }
        }
        return new Bat(h, e);
    }

    /** What {@link #check} found wrong. */
    record Problems(List<Integer> pastEnd, List<Integer> shared) {
        boolean none() {
            return pastEnd.isEmpty() && shared.isEmpty();
        }
    }

    /**
     * Checks every entry against parallels.txt's rules: not below the data area and aligned to
     * a cluster of it (refused: such an image cannot be read), below the end of the file and unique
     * (reported, for the caller to refuse, warn about or repair; past the end not at all when
     * {@code cutShortAllowed}).
     */
    Problems check(Path file, long fileSize, boolean cutShortAllowed) throws CorruptImageException {
        List<Integer> pastEnd = new ArrayList<>();
        List<Integer> shared = new ArrayList<>();
        BitSet seen = new BitSet();
        for (int i = 0; i < entries.length; i++) {
            long host = host(i);
            if (host == 0) {
                continue;
            }
            if (host < dataOffset || (host - dataOffset) % clusterBytes != 0) {
                throw new CorruptImageException("parallels", file, "BAT", header.batOffset() + 4L * i, "entry " + i
                        + " points to 0x" + Long.toHexString(host) + ", not a cluster of the data area (from 0x"
                        + Long.toHexString(dataOffset) + ", clusters of " + clusterBytes + " bytes)");
            }
            if (host >= fileSize) {
                if (!cutShortAllowed) { // a file opened as cut short reads such clusters as zeros
                    pastEnd.add(i);
                }
                continue;
            }
            int k = (int) ((host - dataOffset) / clusterBytes); // host < fileSize bounds k
            if (seen.get(k)) {
                shared.add(i);
            }
            seen.set(k);
        }
        return new Problems(pastEnd, shared);
    }

    int length() {
        return entries.length;
    }

    /** The host byte offset of guest cluster {@code i}, or 0 if it is not allocated. */
    long host(int i) {
        return Integer.toUnsignedLong(Tables.get(entries, i)) * unit;
    }

    /** The data-area cluster number of a host offset. */
    long clusterNumber(long host) {
        return (host - dataOffset) / clusterBytes;
    }

    /** The host offset of data-area cluster {@code k}. */
    long clusterHost(long k) {
        return dataOffset + k * clusterBytes;
    }

    /** Whether {@code host} can be stored in an entry (a u32 count of units). */
    boolean representable(long host) {
        return host % unit == 0 && host / unit <= 0xFFFF_FFFFL;
    }

    /** Writes entry {@code i} (pointing to {@code host}, or 0) to the file, then publishes it to readers. */
    void store(Storage storage, int i, long host) throws IOException {
        long value = host / unit;
        ByteBuffer four = Bytes.allocate(4).put32le(0, value).buffer();
        storage.write(four, header.batOffset() + 4L * i);
        Tables.set(entries, i, (int) value);
    }

    /** Data-area clusters referenced by some entry (bounded by the file size at open, plus growth). */
    BitSet referenced() {
        BitSet used = new BitSet();
        for (int i = 0; i < entries.length; i++) {
            long host = host(i);
            if (host != 0) {
                used.set((int) clusterNumber(host));
            }
        }
        return used;
    }

    /** Entries that are allocated, over the whole table. */
    long allocatedCount() {
        long n = 0;
        for (int i = 0; i < entries.length; i++) {
            if (Tables.get(entries, i) != 0) {
                n++;
            }
        }
        return n;
    }
}
