package org.vdmount.vd;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Random;
import org.vdmount.vd.format.qcow2.QemuTools;

/** Helpers for chain tests: qemu-built layers with patterns, a byte-array model, comparisons. */
final class ChainTesting {
    static final int KIB = 1024;
    static final int MIB = 1024 * KIB;

    private ChainTesting() {
    }

    /** QEMU's driver name for one of our format names. */
    static String qemuName(String ours) {
        return "vhd".equals(ours) ? "vpc" : ours;
    }

    static String extension(String ours) {
        return "raw".equals(ours) ? "img" : ours;
    }

    /**
     * qemu-io commands that put patterns into one layer: unaligned, overlapping writes (pattern
     * 0xNN distinct per layer and write), unaligned zero writes and one cluster-aligned
     * {@code write -z} (a zero cluster where the format has them).
     */
    static String[] patternCommands(Random rnd, long size, int layer, boolean zeros) {
        List<String> cmds = new ArrayList<>();
        int writes = 6;
        for (int i = 0; i < writes; i++) {
            long len = 1 + rnd.nextInt(i == 0 ? 300 * KIB : 90 * KIB);
            long off = (long) (rnd.nextDouble() * (size - len));
            int pattern = 0x10 * (layer + 1) + i + 1;
            cmds.add("write -P 0x" + Integer.toHexString(pattern & 0xFF) + " " + off + " " + len);
        }
        // the last sector and the first byte: ends of the disk
        cmds.add("write -P 0x" + Integer.toHexString((0x10 * (layer + 1) + 9) & 0xFF) + " " + (size - 700) + " 700");
        if (zeros) {
            long len = 1 + rnd.nextInt(20 * KIB);
            cmds.add("write -z " + (long) (rnd.nextDouble() * (size - len)) + " " + len);
            long cluster = 64 * KIB;
            long c = (long) (rnd.nextDouble() * (size / cluster - 1)) * cluster;
            cmds.add("write -z " + c + " " + cluster);
        }
        return cmds.toArray(new String[0]);
    }

    /** qemu-io on one image of our format {@code fmt}. */
    static void qemuIo(Path dir, String fmt, Path image, String... commands) throws IOException {
        QemuTools.io(dir, qemuName(fmt), image.toString(), commands);
    }

    /**
     * The bytes qemu-img sees through {@code image} of our format {@code fmt} (it follows backing
     * files itself). The format is named: qemu probes a fixed VHD as raw (no footer copy at 0).
     */
    static byte[] qemuRaw(Path image, String fmt) throws IOException {
        Path dir = image.getParent();
        Path raw = Files.createTempFile(dir, "oracle", ".raw");
        Files.delete(raw);
        QemuTools.img(dir, "convert", "-f", qemuName(fmt), "-O", "raw", image.toString(), raw.toString());
        byte[] b = Files.readAllBytes(raw);
        Files.delete(raw);
        return b;
    }

    static byte[] readAll(Disk d) throws IOException {
        return QemuTools.readAll(d);
    }

    /** Whole-disk comparison, then random unaligned reads. */
    static void assertDiskEquals(byte[] expect, Disk d, String what) throws IOException {
        assertEquals(expect.length, d.size(), what + ": size");
        QemuTools.assertFirstDifference(expect, readAll(d), what);
        Random rnd = new Random(expect.length ^ what.hashCode());
        for (int i = 0; i < 40; i++) {
            int len = 1 + rnd.nextInt(Math.min(expect.length, 200 * KIB));
            int off = rnd.nextInt(expect.length - len + 1);
            ByteBuffer b = ByteBuffer.allocate(len);
            d.read(off, b);
            if (!Arrays.equals(expect, off, off + len, b.array(), 0, len)) {
                fail(what + ": read at " + off + "+" + len + " differs");
            }
        }
    }

    /**
     * Disk.map over the whole disk: runs are contiguous, cover it exactly, and never claim zeros
     * (ZERO or UNALLOCATED everywhere) over bytes that are not zero.
     */
    static void assertMapConsistent(byte[] expect, Disk d, String what) throws IOException {
        long off = 0;
        while (off < d.size()) {
            long run = d.map(off, d.size() - off);
            long len = Run.length(run);
            assertTrue(len > 0 && off + len <= d.size(), what + ": run at " + off + " of " + len + " bytes");
            if (Run.kind(run) != Allocation.DATA) {
                for (long i = off; i < off + len; i++) {
                    if (expect[(int) i] != 0) {
                        fail(what + ": map says " + Run.kind(run) + " at " + off + "+" + len + " but byte " + i
                                + " is " + (expect[(int) i] & 0xFF));
                    }
                }
            }
            off += len;
        }
    }

    /**
     * Random writes (unaligned, sector-aligned, block-straddling), discards and zeroing through the
     * disk, mirrored in the model.
     */
    static void randomOps(Disk d, byte[] model, Random rnd, int count) throws IOException {
        int size = model.length;
        long bs = d.top().blockSize();
        for (int i = 0; i < count; i++) {
            int kind = rnd.nextInt(10);
            int len;
            int off;
            if (kind < 5) { // unaligned write
                len = 1 + rnd.nextInt(100 * KIB);
                off = rnd.nextInt(size - len + 1);
            } else if (kind < 7) { // sector-aligned write
                len = 512 * (1 + rnd.nextInt(64));
                off = 512 * rnd.nextInt((size - len) / 512 + 1);
            } else if (kind == 7) { // straddling a block boundary
                long blocks = Math.max(1, size / bs);
                long boundary = bs * (1 + rnd.nextInt((int) Math.max(1, blocks - 1)));
                len = 1 + rnd.nextInt(8 * KIB);
                off = (int) Math.max(0, Math.min(size - len, boundary - len / 2));
            } else { // discard or zero: whole blocks and partial ones
                len = 1 + rnd.nextInt((int) Math.min(size, 2 * bs + 70 * KIB));
                off = rnd.nextInt(size - len + 1);
                if (kind == 8) {
                    d.discard(off, len);
                } else {
                    d.zero(off, len);
                }
                Arrays.fill(model, off, off + len, (byte) 0);
                continue;
            }
            byte[] data = new byte[len];
            rnd.nextBytes(data);
            d.write(off, ByteBuffer.wrap(data));
            System.arraycopy(data, 0, model, off, len);
            if (rnd.nextInt(8) == 0) {
                d.flush();
            }
        }
    }

    /** A file's bytes and mtime, to show a read-only parent was never written. */
    record FileState(byte[] bytes, long mtimeMillis) {
        static FileState of(Path p) throws IOException {
            return new FileState(Files.readAllBytes(p), Files.getLastModifiedTime(p).toMillis());
        }

        void assertUnchanged(Path p) throws IOException {
            assertTrue(Arrays.equals(bytes, Files.readAllBytes(p)), p + " was modified");
            assertEquals(mtimeMillis, Files.getLastModifiedTime(p).toMillis(), p + ": mtime changed");
        }
    }

    /** A refusal is one clear line: a VdException whose message names the format and has no newline. */
    static void assertOneLine(Throwable e, String... mustContain) {
        assertTrue(e instanceof VdException, () -> "not a VdException: " + e);
        String m = e.getMessage();
        assertTrue(m != null && !m.isBlank(), "empty message");
        assertFalse(m.contains("\n") || m.contains("\r"), () -> "message has several lines: " + m);
        for (String s : mustContain) {
            assertTrue(m.contains(s), () -> "message lacks '" + s + "': " + m);
        }
    }
}
