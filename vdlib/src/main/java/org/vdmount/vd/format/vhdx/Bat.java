package org.vdmount.vd.format.vhdx;

import java.io.IOException;
import java.nio.file.Path;
import java.util.concurrent.atomic.AtomicLongArray;
import org.vdmount.vd.Bytes;
import org.vdmount.vd.CorruptImageException;
import org.vdmount.vd.UnsupportedFeatureException;

/**
 * The block allocation table (MS-VHDX 2.5), cached whole. 64-bit entries: bits 0-2 state, bits
 * 20-63 FileOffsetMB. After every {@code chunkRatio} payload entries comes the entry of the sector
 * bitmap block for that chunk. Reads are lock-free; writers change entries under the image's
 * allocation lock and the pages they touch reach the file through the log.
 */
final class Bat {
    // Payload block states (MS-VHDX 2.5.1.1); 5 is UNMAPPED of the 0.95 draft (QEMU reads it too).
    static final int NOT_PRESENT = 0;
    static final int UNDEFINED = 1;
    static final int ZERO = 2;
    static final int UNMAPPED = 3;
    static final int UNMAPPED_V095 = 5;
    static final int FULLY_PRESENT = 6;
    static final int PARTIALLY_PRESENT = 7;
    // Sector bitmap block states (MS-VHDX 2.5.1.2).
    static final int SB_NOT_PRESENT = 0;
    static final int SB_PRESENT = 6;

    static final long OFFSET_MASK = 0xFFFF_FFFF_FFF0_0000L;
    static final int ENTRIES_PER_PAGE = Vhdx.LOG_SECTOR / 8;

    final long blockSize;
    final long chunkRatio;
    final long dataBlocks;
    final long entryCount;
    final long regionOffset;
    private final AtomicLongArray entries;

    private Bat(long blockSize, long chunkRatio, long dataBlocks, long entryCount, long regionOffset, int loaded) {
        this.blockSize = blockSize;
        this.chunkRatio = chunkRatio;
        this.dataBlocks = dataBlocks;
        this.entryCount = entryCount;
        this.regionOffset = regionOffset;
        this.entries = new AtomicLongArray(loaded);
    }

    /** Entries a table needs (MS-VHDX 2.5): differencing images cover every bitmap of the last chunk. */
    static long entriesNeeded(VhdxMetadata m) {
        long bs = m.blockSizeBytes();
        long ratio = m.chunkRatio();
        long data = (m.virtualSizeBytes() + bs - 1) / bs;
        long bitmaps = (data + ratio - 1) / ratio;
        return m.hasParent() ? bitmaps * (ratio + 1) : data + (data - 1) / ratio;
    }

    static Bat read(VhdxFile f, RegionTable.Entry region, VhdxMetadata m) throws IOException {
        Path file = f.path();
        long count = entriesNeeded(m);
        if (count * 8 > region.lengthBytes()) {
            throw new CorruptImageException(Vhdx.FORMAT, file, "BAT region", region.fileOffsetBytes(), count
                    + " entries do not fit in " + region.lengthBytes() + " bytes");
        }
        long pages = (count + ENTRIES_PER_PAGE - 1) / ENTRIES_PER_PAGE;
        if (pages * ENTRIES_PER_PAGE > Integer.MAX_VALUE - 8) {
            throw new UnsupportedFeatureException("vhdx: BAT of " + count + " entries in " + file + " is too large");
        }
        long data = (m.virtualSizeBytes() + m.blockSizeBytes() - 1) / m.blockSizeBytes();
        int loaded = (int) (pages * ENTRIES_PER_PAGE);
        Bat bat = new Bat(m.blockSizeBytes(), m.chunkRatio(), data, count, region.fileOffsetBytes(), loaded);
        int chunk = 256 * ENTRIES_PER_PAGE; // 1 MiB per read
        for (int first = 0; first < loaded; first += chunk) {
            int n = Math.min(chunk, loaded - first);
            Bytes b = Bytes.of(f.read(region.fileOffsetBytes() + first * 8L, n * 8, "BAT"));
            for (int i = 0; i < n; i++) {
                bat.entries.set(first + i, b.u64le(i * 8));
            }
        }
        return bat;
    }

    static int state(long entry) {
        return (int) (entry & 7);
    }

    static long offset(long entry) {
        return entry & OFFSET_MASK;
    }

    static long entry(int state, long fileOffset) {
        return fileOffset & OFFSET_MASK | state;
    }

    /** Index of payload block {@code block}'s entry. */
    int payloadIndex(long block) {
        return (int) (block + block / chunkRatio);
    }

    /** Index of the sector bitmap entry of chunk {@code chunk}. */
    int bitmapIndex(long chunk) {
        return (int) (chunk * (chunkRatio + 1) + chunkRatio);
    }

    boolean isBitmapIndex(long index) {
        return index % (chunkRatio + 1) == chunkRatio;
    }

    long get(int index) {
        return entries.get(index);
    }

    long payload(long block) {
        return entries.get(payloadIndex(block));
    }

    void set(int index, long entry) {
        entries.set(index, entry);
    }

    /** The 4 KiB page {@code page} of the table as it stands in memory. */
    byte[] page(int page) {
        byte[] b = new byte[Vhdx.LOG_SECTOR];
        Bytes w = Bytes.of(b);
        for (int i = 0; i < ENTRIES_PER_PAGE; i++) {
            w.put64le(i * 8, entries.get(page * ENTRIES_PER_PAGE + i));
        }
        return b;
    }

    long pageFileOffset(int page) {
        return regionOffset + (long) page * Vhdx.LOG_SECTOR;
    }
}
