package org.vdmount.vd.format.qcow2;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.fail;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Random;
import org.vdmount.vd.Disk;
import org.vdmount.vd.OpenOptions;
import org.vdmount.vd.conformance.DiskBytes;
import org.vdmount.vd.conformance.ExternalTools;

/** qemu-img / qemu-io as the oracle for the qcow2, qcow and qed tests. */
public final class QemuTools {
    private QemuTools() {
    }

    public static boolean available() {
        return ExternalTools.has("qemu-img") && ExternalTools.has("qemu-io");
    }

    public static void assumeQemu() {
        ExternalTools.assume("qemu-img", "qemu-io");
    }

    /** Runs a command in {@code cwd}; fails the test on a non-zero exit unless allowed. */
    public static ExternalTools.Result run(Path cwd, boolean allowFailure, String... cmd) throws IOException {
        ExternalTools.Result r = ExternalTools.exec(cwd, cmd);
        if (!allowFailure && r.exit() != 0) {
            fail(String.join(" ", cmd) + " exited " + r.exit() + ": " + r.err() + r.out());
        }
        return r;
    }

    public static String img(Path cwd, String... args) throws IOException {
        List<String> cmd = new ArrayList<>(List.of("qemu-img"));
        cmd.addAll(Arrays.asList(args));
        return run(cwd, false, cmd.toArray(new String[0])).out();
    }

    /** qemu-io with one or more -c commands on an image of the given format. */
    public static void io(Path cwd, String format, String image, String... commands) throws IOException {
        List<String> cmd = new ArrayList<>(List.of("qemu-io", "-f", format));
        for (String c : commands) {
            cmd.add("-c");
            cmd.add(c);
        }
        cmd.add(image);
        ExternalTools.Result r = run(cwd, false, cmd.toArray(new String[0]));
        if (r.out().contains("error") || r.out().contains("failed")) {
            fail("qemu-io " + String.join(" ", commands) + ": " + r.out());
        }
    }

    /** qemu-img check: exit 0 clean, 3 leaks only, 2 corruptions, 1 not completed. */
    public static ExternalTools.Result check(Path cwd, String format, String image) throws IOException {
        return run(cwd, true, "qemu-img", "check", "-f", format, image);
    }

    public static void assertClean(Path cwd, String format, String image) throws IOException {
        ExternalTools.Result r = check(cwd, format, image);
        assertEquals(0, r.exit(), "qemu-img check " + image + ":\n" + r.output());
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

    /** Opens {@code image} with the library and compares it whole, then at random unaligned spots. */
    public static void assertSameAsQemu(Path cwd, String image) throws IOException {
        byte[] expect = qemuRaw(cwd, image);
        try (Disk d = Disk.open(cwd.resolve(image), OpenOptions.defaultReadOnly())) {
            assertEquals(expect.length, d.size(), "virtual size of " + image);
            byte[] got = DiskBytes.readAll(d);
            DiskBytes.assertSame(expect, got, image);
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
}
