package org.vdmount.vd.format.qcow2;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.fail;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Random;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Assumptions;
import org.vdmount.vd.Disk;
import org.vdmount.vd.OpenOptions;

/** qemu-img / qemu-io as the oracle for the qcow2, qcow and qed tests. */
public final class QemuTools {
    private QemuTools() {
    }

    public static boolean available() {
        return onPath("qemu-img") && onPath("qemu-io");
    }

    private static boolean onPath(String tool) {
        for (String dir : System.getenv().getOrDefault("PATH", "/usr/bin").split(":")) {
            if (Files.isExecutable(Path.of(dir, tool))) {
                return true;
            }
        }
        return false;
    }

    public static void assumeQemu() {
        Assumptions.assumeTrue(available(), "qemu-img/qemu-io not installed (apt-get install qemu-utils)");
    }

    /** Runs a command; returns its stdout; fails the test on a non-zero exit unless allowed. */
    public static Result run(Path cwd, boolean allowFailure, String... cmd) throws IOException {
        ProcessBuilder pb = new ProcessBuilder(cmd).directory(cwd.toFile());
        Path out = Files.createTempFile("qt", ".out");
        Path err = Files.createTempFile("qt", ".err");
        pb.redirectOutput(out.toFile()).redirectError(err.toFile());
        Process p = pb.start();
        try {
            if (!p.waitFor(120, TimeUnit.SECONDS)) {
                p.destroyForcibly();
                fail("timeout: " + String.join(" ", cmd));
            }
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IOException(e);
        }
        Result r = new Result(p.exitValue(), Files.readString(out, StandardCharsets.UTF_8),
                Files.readString(err, StandardCharsets.UTF_8));
        Files.delete(out);
        Files.delete(err);
        if (!allowFailure && r.exit != 0) {
            fail(String.join(" ", cmd) + " exited " + r.exit + ": " + r.err + r.out);
        }
        return r;
    }

    public record Result(int exit, String out, String err) {
    }

    public static String img(Path cwd, String... args) throws IOException {
        List<String> cmd = new ArrayList<>(List.of("qemu-img"));
        cmd.addAll(Arrays.asList(args));
        return run(cwd, false, cmd.toArray(new String[0])).out;
    }

    /** qemu-io with one or more -c commands on an image of the given format. */
    public static void io(Path cwd, String format, String image, String... commands) throws IOException {
        List<String> cmd = new ArrayList<>(List.of("qemu-io", "-f", format));
        for (String c : commands) {
            cmd.add("-c");
            cmd.add(c);
        }
        cmd.add(image);
        Result r = run(cwd, false, cmd.toArray(new String[0]));
        if (r.out.contains("error") || r.out.contains("failed")) {
            fail("qemu-io " + String.join(" ", commands) + ": " + r.out);
        }
    }

    /** qemu-img check: exit 0 clean, 3 leaks only, 2 corruptions, 1 not completed. */
    public static Result check(Path cwd, String format, String image) throws IOException {
        return run(cwd, true, "qemu-img", "check", "-f", format, image);
    }

    public static void assertClean(Path cwd, String format, String image) throws IOException {
        Result r = check(cwd, format, image);
        assertEquals(0, r.exit, "qemu-img check " + image + ":\n" + r.out + r.err);
    }

    /** Writes {@code size} bytes of seeded random data (half of it highly compressible) to a raw file. */
    public static void randomRaw(Path file, long size, long seed) throws IOException {
        Random rnd = new Random(seed);
        try (FileChannel ch = FileChannel.open(file, StandardOpenOption.CREATE_NEW, StandardOpenOption.WRITE)) {
            byte[] chunk = new byte[64 * 1024];
            for (long off = 0; off < size; off += chunk.length) {
                int kind = rnd.nextInt(4);
                if (kind == 0) {
                    continue; // hole
                } else if (kind == 1) {
                    rnd.nextBytes(chunk);
                } else {
                    for (int i = 0; i < chunk.length; i++) {
                        chunk[i] = (byte) ((i / (kind * 97 + 1)) ^ off >>> 16);
                    }
                }
                ch.write(ByteBuffer.wrap(chunk, 0, (int) Math.min(chunk.length, size - off)), off);
            }
            if (ch.size() < size) {
                ch.write(ByteBuffer.allocate(1), size - 1);
            }
        }
    }

    /** The disk's bytes as qemu sees them: qemu-img convert -O raw. */
    public static byte[] qemuRaw(Path cwd, String image) throws IOException {
        Path raw = Files.createTempFile(cwd, "oracle", ".raw");
        Files.delete(raw);
        img(cwd, "convert", "-O", "raw", image, raw.toString());
        byte[] b = Files.readAllBytes(raw);
        Files.delete(raw);
        return b;
    }

    public static byte[] readAll(Disk d) throws IOException {
        ByteBuffer b = ByteBuffer.allocate((int) d.size());
        int chunk = 128 * 1024;
        while (b.hasRemaining()) {
            int pos = b.position();
            ByteBuffer slice = b.duplicate().limit(Math.min(b.capacity(), pos + chunk));
            d.read(pos, slice);
            b.position(slice.position());
        }
        return b.array();
    }

    /** Opens {@code image} with the library and compares it whole, then at random unaligned spots. */
    public static void assertSameAsQemu(Path cwd, String image) throws IOException {
        byte[] expect = qemuRaw(cwd, image);
        try (Disk d = Disk.open(cwd.resolve(image), OpenOptions.defaultReadOnly())) {
            assertEquals(expect.length, d.size(), "virtual size of " + image);
            byte[] got = readAll(d);
            assertFirstDifference(expect, got, image);
            Random rnd = new Random(image.hashCode());
            for (int i = 0; i < 200; i++) {
                int len = 1 + rnd.nextInt(Math.min(expect.length, 300_000));
                int off = rnd.nextInt(expect.length - len + 1);
                ByteBuffer b = ByteBuffer.allocate(len);
                d.read(off, b);
                if (!Arrays.equals(expect, off, off + len, b.array(), 0, len)) {
                    fail(image + ": read at " + off + "+" + len + " differs from qemu");
                }
            }
        }
    }

    public static void assertFirstDifference(byte[] expect, byte[] got, String what) {
        assertEquals(expect.length, got.length, what + ": length");
        int m = Arrays.mismatch(expect, got);
        if (m >= 0) {
            fail(what + ": first difference at byte " + m + " (0x" + Long.toHexString(m) + "): expected "
                    + (expect[m] & 0xFF) + ", got " + (got[m] & 0xFF));
        }
    }
}
