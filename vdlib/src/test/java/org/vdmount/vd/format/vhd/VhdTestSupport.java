package org.vdmount.vd.format.vhd;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Random;
import org.vdmount.vd.Disk;
import org.vdmount.vd.conformance.DiskBytes;
import org.vdmount.vd.conformance.ExternalTools;

/** Running the real tools (qemu-img, vhdimount) and comparing bytes. */
final class VhdTestSupport {
    private VhdTestSupport() {
    }

    record Result(int exit, String out) {
    }

    static boolean toolExists(String tool) {
        return ExternalTools.has(tool);
    }

    static void assumeTool(String tool) {
        ExternalTools.assume(tool);
    }

    /** Runs {@code cmd}; the result's output is stdout followed by stderr. */
    static Result run(String... cmd) throws IOException {
        ExternalTools.Result r = ExternalTools.exec(null, cmd);
        return new Result(r.exit(), r.output());
    }

    static String ok(String... cmd) throws IOException {
        Result r = run(cmd);
        assertEquals(0, r.exit(), () -> String.join(" ", cmd) + " failed: " + r.out());
        return r.out();
    }

    /**
     * qemu-img check: clean (0), or 63 "does not support checks" (QEMU's vpc driver has no check;
     * then qemu-img info must still open the image).
     */
    static void qemuCheck(Path img) throws IOException, InterruptedException {
        Result r = run("qemu-img", "check", "-f", "vpc", img.toString());
        if (r.exit() == 63) {
            assertTrue(r.out().contains("does not support checks"), r.out());
            ok("qemu-img", "info", "-f", "vpc", img.toString());
        } else {
            assertEquals(0, r.exit(), "qemu-img check: " + r.out());
        }
    }

    /** Virtual size as qemu-img info reports it. */
    static long qemuSize(Path img) throws IOException, InterruptedException {
        String json = ok("qemu-img", "info", "-f", "vpc", "--output=json", img.toString());
        int i = json.indexOf("\"virtual-size\":");
        String rest = json.substring(i + 15).trim();
        int end = 0;
        while (end < rest.length() && Character.isDigit(rest.charAt(end))) {
            end++;
        }
        return Long.parseLong(rest.substring(0, end));
    }

    /** qemu-img convert -O raw of a VHD, as bytes. */
    static byte[] qemuRaw(Path img, Path dir) throws IOException, InterruptedException {
        Path out = dir.resolve(img.getFileName() + ".qemu.raw");
        Files.deleteIfExists(out);
        ok("qemu-img", "convert", "-f", "vpc", "-O", "raw", img.toString(), out.toString());
        byte[] b = Files.readAllBytes(out);
        Files.delete(out);
        return b;
    }

    /** A source with data, zero runs and random lengths: no structure aligned to anything. */
    static byte[] pattern(long seed, int size) {
        Random r = new Random(seed);
        byte[] b = new byte[size];
        int pos = 0;
        while (pos < size) {
            int len = Math.min(size - pos, 1 + r.nextInt(300_000));
            if (r.nextInt(3) != 0) {
                for (int i = 0; i < len; i++) {
                    b[pos + i] = (byte) r.nextInt();
                }
            }
            pos += len;
        }
        return b;
    }

    /** Reads the whole disk in random, unaligned chunks. */
    static byte[] readAll(Disk d, long seed) throws IOException {
        Random r = new Random(seed);
        byte[] out = new byte[Math.toIntExact(d.size())];
        int pos = 0;
        while (pos < out.length) {
            int len = Math.min(out.length - pos, 1 + r.nextInt(700_000));
            d.read(pos, ByteBuffer.wrap(out, pos, len));
            pos += len;
        }
        return out;
    }

    static void assertBytes(byte[] expected, byte[] actual, String what) {
        DiskBytes.assertSame(expected, actual, what);
    }
}
