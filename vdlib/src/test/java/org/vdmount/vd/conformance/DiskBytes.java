package org.vdmount.vd.conformance;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.Random;
import org.vdmount.vd.Allocation;
import org.vdmount.vd.Disk;
import org.vdmount.vd.Run;
import org.vdmount.vd.VdException;

/** Whole-disk reads and comparisons against a byte[] model, with messages that say where. */
public final class DiskBytes {
    private static final int CHUNK = 1 << 20;

    private DiskBytes() {
    }

    /** The disk's bytes, read in 1 MiB pieces. */
    public static byte[] readAll(Disk d) throws IOException {
        byte[] out = new byte[Math.toIntExact(d.size())];
        for (int off = 0; off < out.length; off += CHUNK) {
            d.read(off, ByteBuffer.wrap(out, off, Math.min(CHUNK, out.length - off)));
        }
        return out;
    }

    /** Fails at the first differing byte, naming its offset and both values. */
    public static void assertSame(byte[] expect, byte[] got, String what) {
        assertEquals(expect.length, got.length, what + ": length");
        int m = Arrays.mismatch(expect, got);
        if (m >= 0) {
            fail(what + ": first difference at byte " + m + " (0x" + Integer.toHexString(m) + "): expected "
                    + (expect[m] & 0xFF) + ", got " + (got[m] & 0xFF));
        }
    }

    /** Compares {@code len} bytes of {@code got} with the model at {@code off}. */
    public static void assertRange(byte[] model, int off, byte[] got, int len, String what) {
        int m = Arrays.mismatch(model, off, off + len, got, 0, len);
        if (m >= 0) {
            fail(what + ": read 0x" + Integer.toHexString(off) + "+" + len + " differs at byte 0x"
                    + Integer.toHexString(off + m) + ": expected " + (model[off + m] & 0xFF) + ", got " + (got[m] & 0xFF));
        }
    }

    /** The whole disk, then random unaligned reads, against the model. */
    public static void assertDisk(byte[] expect, Disk d, String what) throws IOException {
        assertEquals(expect.length, d.size(), what + ": virtual size");
        assertSame(expect, readAll(d), what);
        Random rnd = new Random(expect.length ^ what.hashCode());
        for (int i = 0; i < 40 && expect.length > 0; i++) {
            int len = 1 + rnd.nextInt(Math.min(expect.length, 200 * 1024));
            int off = rnd.nextInt(expect.length - len + 1);
            byte[] b = new byte[len];
            d.read(off, ByteBuffer.wrap(b));
            assertRange(expect, off, b, len, what);
        }
    }

    /**
     * {@link Disk#map} over the whole disk: runs are positive, contiguous and cover it exactly,
     * and never claim zeros (ZERO, or UNALLOCATED everywhere) over bytes that are not zero.
     */
    public static void assertMapConsistent(byte[] expect, Disk d, String what) throws IOException {
        long off = 0;
        int runs = 0;
        while (off < d.size()) {
            long run = d.map(off, d.size() - off);
            long len = Run.length(run);
            assertTrue(len > 0 && off + len <= d.size(), what + ": run at " + off + " of " + len + " bytes");
            if (Run.kind(run) != Allocation.DATA) {
                assertZeros(expect, off, len, what + ": map says " + Run.kind(run) + " at " + off + "+" + len);
            }
            off += len;
            assertTrue(++runs <= d.size() / 512 + 1, what + ": more runs than sectors");
        }
    }

    /** Fails if any byte of {@code model[off, off+len)} is not zero. */
    public static void assertZeros(byte[] model, long off, long len, String what) {
        for (long i = off; i < off + len; i++) {
            if (model[(int) i] != 0) {
                fail(what + " but byte " + i + " is " + (model[(int) i] & 0xFF));
            }
        }
    }

    /**
     * A refusal is one clear line: a {@link VdException} whose message is not blank, has no line
     * break, and contains each of {@code mustContain}.
     */
    public static void assertOneLine(Throwable e, String... mustContain) {
        assertTrue(e instanceof VdException, () -> "not a VdException: " + e);
        String m = e.getMessage();
        assertTrue(m != null && !m.isBlank(), "empty message from " + e.getClass().getSimpleName());
        assertFalse(m.contains("\n") || m.contains("\r"), () -> "message has several lines: " + m);
        for (String s : mustContain) {
            assertTrue(m.contains(s), () -> "message lacks '" + s + "': " + m);
        }
    }

    /** Writes the model as a raw file next to the image, for tools that compare with one. */
    public static Path writeRaw(Path file, byte[] model) throws IOException {
        Files.write(file, model);
        return file;
    }

    /** Where {@code needle} first occurs in {@code hay} (a structure's bytes in an image file), or -1. */
    public static int indexOf(byte[] hay, byte[] needle) {
        for (int i = 0; i + needle.length <= hay.length; i++) {
            if (java.util.Arrays.equals(hay, i, i + needle.length, needle, 0, needle.length)) {
                return i;
            }
        }
        return -1;
    }

    /** Seeded random bytes. */
    public static byte[] random(int n, long seed) {
        byte[] b = new byte[n];
        new Random(seed).nextBytes(b);
        return b;
    }
}
