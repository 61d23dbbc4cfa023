package org.vdmount.vd.format.vhdx;

import static org.junit.jupiter.api.Assertions.assertEquals;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.HexFormat;
import java.util.Random;
import org.vdmount.vd.Disk;
import org.vdmount.vd.conformance.DiskBytes;
import org.vdmount.vd.conformance.ExternalTools;

/** The VHDX tests' names for the kit's tools (output merged) and helpers, plus VHDX-only fixtures. */
final class Tools {
    private Tools() {
    }

    record Result(int exit, String out) {
    }

    static boolean have(String tool) {
        return ExternalTools.has(tool);
    }

    static void assume(String... tools) {
        ExternalTools.assume(tools);
    }

    static Result exec(String... cmd) throws IOException {
        return execWithInput(null, cmd);
    }

    /** Runs {@code cmd}; the result's output is stdout followed by stderr. */
    static Result execWithInput(String input, String... cmd) throws IOException {
        ExternalTools.Result r = ExternalTools.execWithInput(null, input, cmd);
        return new Result(r.exit(), r.output());
    }

    /** Runs a command that must succeed; returns its output. */
    static String run(String... cmd) throws IOException {
        Result r = exec(cmd);
        assertEquals(0, r.exit(), String.join(" ", cmd) + " failed:\n" + r.out());
        return r.out();
    }

    static byte[] random(int n, long seed) {
        return DiskBytes.random(n, seed);
    }

    static byte[] readAll(Disk d) throws IOException {
        return DiskBytes.readAll(d);
    }

    static String sha256(Path p) throws IOException {
        try {
            MessageDigest md = MessageDigest.getInstance("SHA-256");
            return HexFormat.of().formatHex(md.digest(Files.readAllBytes(p)));
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException(e);
        }
    }

    /** A raw disk of {@code size} bytes with random extents and zero holes. */
    static byte[] sparseContent(int size, long seed) {
        Random r = new Random(seed);
        byte[] b = new byte[size];
        for (int i = 0; i < 24; i++) {
            int len = 1 + r.nextInt(3 << 20);
            int off = r.nextInt(size - len);
            byte[] chunk = new byte[len];
            r.nextBytes(chunk);
            System.arraycopy(chunk, 0, b, off, len);
        }
        return b;
    }
}
