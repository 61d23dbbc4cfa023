package org.vdmount.vd.inspect;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.util.Arrays;
import java.util.List;
import org.vdmount.vd.Disk;
import org.vdmount.vd.Image;

/**
 * Compares the guest-visible contents of two disks the way {@code qemu-img compare} does. Ranges
 * both chains report as zeros are skipped without reading; a range only one side reports as zeros
 * reads just the other side. The first difference is reported at the start of its 512-byte
 * sector, as QEMU reports it. Disks of different sizes compare equal when the longer one reads as
 * zeros past the shorter one's end; in strict mode the sizes must match and so must the
 * allocation ("present": some layer of the chain holds the range, as data or as zeros).
 */
public final class ContentCompare {
    static final int SECTOR = 512;
    private static final int CHUNK = 1 << 20;
    private static final byte[] ZEROS = new byte[CHUNK];

    /** What a comparison found. */
    public enum Verdict {
        IDENTICAL,
        /** Bytes differ at {@link Result#offset()}. */
        CONTENT_MISMATCH,
        /** Strict mode: one side holds the range at {@link Result#offset()}, the other does not. */
        STATUS_MISMATCH,
        /** Strict mode: the virtual sizes differ. */
        SIZE_MISMATCH
    }

    /**
     * The outcome; {@code offset} is -1 unless a mismatch has one. {@code sizesDiffer} says the
     * disks had different sizes (non-strict comparisons go on and report it as a warning).
     */
    public record Result(Verdict verdict, long offset, boolean sizesDiffer) {
    }

    private final Disk a;
    private final Disk b;
    private final boolean strict;
    private final java.util.function.LongConsumer progress;
    private final ByteBuffer bufA = ByteBuffer.allocate(CHUNK);
    private final ByteBuffer bufB = ByteBuffer.allocate(CHUNK);

    private ContentCompare(Disk a, Disk b, boolean strict, java.util.function.LongConsumer progress) {
        this.a = a;
        this.b = b;
        this.strict = strict;
        this.progress = progress;
    }

    /** Compares {@code a} with {@code b}; {@code strict} as {@code qemu-img compare -s}. */
    public static Result compare(Disk a, Disk b, boolean strict) throws IOException {
        return compare(a, b, strict, done -> { });
    }

    /** As {@link #compare(Disk, Disk, boolean)}, telling {@code progress} how many bytes are compared so far. */
    public static Result compare(Disk a, Disk b, boolean strict, java.util.function.LongConsumer progress)
            throws IOException {
        return new ContentCompare(a, b, strict, progress).run();
    }

    private Result run() throws IOException {
        boolean sizesDiffer = a.size() != b.size();
        if (strict && sizesDiffer) {
            return new Result(Verdict.SIZE_MISMATCH, -1, true);
        }
        long common = Math.min(a.size(), b.size());
        List<Image> la = a.layers();
        List<Image> lb = b.layers();
        long off = 0;
        while (off < common) {
            ChainMap.Entry ea = ChainMap.at(la, off, Math.min(CHUNK, common - off));
            ChainMap.Entry eb = ChainMap.at(lb, off, ea.length());
            int n = (int) Math.min(ea.length(), eb.length());
            if (strict && ea.present() != eb.present()) {
                return new Result(Verdict.STATUS_MISMATCH, off, false);
            }
            long diff;
            if (ea.zero() && eb.zero()) {
                diff = -1;
            } else if (ea.zero()) {
                diff = firstNonZero(b, off, n, bufB);
            } else if (eb.zero()) {
                diff = firstNonZero(a, off, n, bufA);
            } else {
                diff = firstDifference(off, n);
            }
            if (diff >= 0) {
                return new Result(Verdict.CONTENT_MISMATCH, sectorOf(diff), sizesDiffer);
            }
            off += n;
            progress.accept(off);
        }
        if (sizesDiffer) {
            Disk longer = a.size() > b.size() ? a : b;
            long diff = firstNonZeroPast(longer, common);
            if (diff >= 0) {
                return new Result(Verdict.CONTENT_MISMATCH, sectorOf(diff), true);
            }
        }
        return new Result(Verdict.IDENTICAL, -1, sizesDiffer);
    }

    private static long sectorOf(long offset) {
        return offset - offset % SECTOR;
    }

    /** The first byte of {@code disk} at or after {@code from} that is not zero, or -1. */
    private long firstNonZeroPast(Disk disk, long from) throws IOException {
        List<Image> layers = disk.layers();
        long off = from;
        while (off < disk.size()) {
            ChainMap.Entry e = ChainMap.at(layers, off, Math.min(CHUNK, disk.size() - off));
            if (!e.zero()) {
                long diff = firstNonZero(disk, off, (int) e.length(), bufA);
                if (diff >= 0) {
                    return diff;
                }
            }
            off += e.length();
        }
        return -1;
    }

    private static long firstNonZero(Disk disk, long off, int n, ByteBuffer buf) throws IOException {
        buf.clear().limit(n);
        disk.read(off, buf);
        int i = Arrays.mismatch(buf.array(), 0, n, ZEROS, 0, n);
        return i < 0 ? -1 : off + i;
    }

    private long firstDifference(long off, int n) throws IOException {
        bufA.clear().limit(n);
        bufB.clear().limit(n);
        a.read(off, bufA);
        b.read(off, bufB);
        int i = Arrays.mismatch(bufA.array(), 0, n, bufB.array(), 0, n);
        return i < 0 ? -1 : off + i;
    }
}
