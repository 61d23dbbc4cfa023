package org.vdmount.vd.format.vhdx;

import java.io.IOException;
import java.util.concurrent.atomic.AtomicLongArray;
import java.util.concurrent.atomic.AtomicReferenceArray;
import org.vdmount.vd.Bytes;
import org.vdmount.vd.CorruptImageException;

/**
 * Sector bitmaps of a differencing image (MS-VHDX 2.4.2): one bit per logical sector, 1 = this
 * file holds the sector, bit 0 of byte 0 first. Each 1 MiB sector bitmap block serves one chunk of
 * {@code chunkRatio} payload blocks. The bits of a PARTIALLY_PRESENT block are loaded on first
 * use and cached; cached bits are read without locks and set only under the allocation lock.
 */
final class SectorBitmaps {
    private static final int SEGMENT = 1024;

    private final VhdxFile file;
    private final Bat bat;
    final int sectorSize;
    final int sectorsPerBlock;
    private final int bytesPerBlock;
    private final AtomicReferenceArray<AtomicReferenceArray<AtomicLongArray>> segments;
    private final Object loadLock = new Object();

    SectorBitmaps(VhdxFile file, Bat bat, int sectorSize) {
        this.file = file;
        this.bat = bat;
        this.sectorSize = sectorSize;
        this.sectorsPerBlock = (int) (bat.blockSize / sectorSize);
        this.bytesPerBlock = sectorsPerBlock / 8;
        this.segments = new AtomicReferenceArray<>((int) ((bat.dataBlocks + SEGMENT - 1) / SEGMENT));
    }

    private AtomicReferenceArray<AtomicLongArray> segment(long block, boolean create) {
        int s = (int) (block / SEGMENT);
        AtomicReferenceArray<AtomicLongArray> seg = segments.get(s);
        if (seg == null && create) {
            segments.compareAndSet(s, null, new AtomicReferenceArray<>(SEGMENT));
            seg = segments.get(s);
        }
        return seg;
    }

    AtomicLongArray cached(long block) {
        AtomicReferenceArray<AtomicLongArray> seg = segment(block, false);
        return seg == null ? null : seg.get((int) (block % SEGMENT));
    }

    /** The bits of a PARTIALLY_PRESENT block, read from its sector bitmap block on first use. */
    AtomicLongArray get(long block) throws IOException {
        AtomicLongArray bits = cached(block);
        if (bits != null) {
            return bits;
        }
        synchronized (loadLock) {
            bits = cached(block);
            if (bits == null) {
                bits = load(block);
                segment(block, true).set((int) (block % SEGMENT), bits);
            }
            return bits;
        }
    }

    /** Installs all-zero bits for a block becoming PARTIALLY_PRESENT (caller holds the allocation lock). */
    AtomicLongArray fresh(long block) {
        AtomicLongArray bits = new AtomicLongArray(bytesPerBlock / 8);
        synchronized (loadLock) {
            segment(block, true).set((int) (block % SEGMENT), bits);
        }
        return bits;
    }

    private AtomicLongArray load(long block) throws IOException {
        long chunk = block / bat.chunkRatio;
        long sb = bat.get(bat.bitmapIndex(chunk));
        if (Bat.state(sb) != Bat.SB_PRESENT || Bat.offset(sb) < Vhdx.HEADER_SECTION_BYTES) {
            throw new CorruptImageException(Vhdx.FORMAT, file.path(), "BAT", bat.regionOffset
                    + 8L * bat.bitmapIndex(chunk), "block " + block + " is partially present but the sector"
                    + " bitmap block of its chunk is not (entry " + Vhdx.hex(sb) + ")");
        }
        Bytes b = Bytes.of(file.read(Bat.offset(sb) + byteInBitmapBlock(block), bytesPerBlock, "sector bitmap"));
        AtomicLongArray bits = new AtomicLongArray(bytesPerBlock / 8);
        for (int i = 0; i < bits.length(); i++) {
            bits.set(i, b.u64le(i * 8));
        }
        return bits;
    }

    /** Where block {@code block}'s bits start inside its chunk's sector bitmap block. */
    long byteInBitmapBlock(long block) {
        return (block % bat.chunkRatio) * bytesPerBlock;
    }

    static boolean bit(AtomicLongArray bits, int sector) {
        return (bits.get(sector >>> 6) >>> (sector & 63) & 1) != 0;
    }

    /** The first sector in [from, to) whose bit differs from {@code from}'s, or {@code to}. */
    static int runEnd(AtomicLongArray bits, int from, int to) {
        boolean set = bit(bits, from);
        int s = from;
        while (s < to) {
            long w = bits.get(s >>> 6);
            if (!set) {
                w = ~w;
            }
            w >>>= s & 63; // bits from s on; a 0 now marks a change
            long changes = ~w;
            if ((s & 63) != 0) {
                changes &= -1L >>> (s & 63);
            }
            if (changes != 0) {
                return Math.min(to, s + Long.numberOfTrailingZeros(changes));
            }
            s = (s | 63) + 1;
        }
        return to;
    }

    static boolean allSet(AtomicLongArray bits, int from, int to) {
        return !bit(bits, from) ? false : runEnd(bits, from, to) >= to;
    }

    /** Sets bits [from, to); caller holds the allocation lock. */
    static void set(AtomicLongArray bits, int from, int to) {
        for (int s = from; s < to;) {
            int word = s >>> 6;
            int hi = Math.min(to, (word + 1) << 6);
            int n = hi - s;
            long mask = (n == 64 ? -1L : (1L << n) - 1) << (s & 63);
            bits.set(word, bits.get(word) | mask);
            s = hi;
        }
    }

    /**
     * Page {@code page} (4 KiB) of chunk {@code chunk}'s sector bitmap block at {@code sbOffset}: the
     * file's bytes with the cached bits of every block the page covers laid over them.
     */
    byte[] page(long chunk, long sbOffset, int page) throws IOException {
        long pageStart = (long) page * Vhdx.LOG_SECTOR;
        byte[] out = file.read(sbOffset + pageStart, Vhdx.LOG_SECTOR, "sector bitmap");
        Bytes w = Bytes.of(out);
        long firstInChunk = pageStart / bytesPerBlock;
        long lastInChunk = (pageStart + Vhdx.LOG_SECTOR - 1) / bytesPerBlock;
        for (long j = firstInChunk; j <= lastInChunk && j < bat.chunkRatio; j++) {
            long block = chunk * bat.chunkRatio + j;
            AtomicLongArray bits = block < bat.dataBlocks ? cached(block) : null;
            if (bits == null) {
                continue;
            }
            long blockStart = j * bytesPerBlock;
            for (int i = 0; i < bits.length(); i++) {
                long at = blockStart + i * 8L - pageStart;
                if (at >= 0 && at < Vhdx.LOG_SECTOR) {
                    w.put64le((int) at, bits.get(i));
                }
            }
        }
        return out;
    }

    /** The pages of the chunk's bitmap block holding block {@code block}'s bits. */
    int firstPage(long block) {
        return (int) (byteInBitmapBlock(block) / Vhdx.LOG_SECTOR);
    }

    int lastPage(long block) {
        return (int) ((byteInBitmapBlock(block) + bytesPerBlock - 1) / Vhdx.LOG_SECTOR);
    }

    static long popCount(AtomicLongArray bits) {
        long n = 0;
        for (int i = 0; i < bits.length(); i++) {
            n += Long.bitCount(bits.get(i));
        }
        return n;
    }
}
