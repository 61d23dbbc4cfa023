package org.vdmount.vd.format.vhdx;

import static org.junit.jupiter.api.Assertions.assertEquals;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.ArrayList;
import java.util.HexFormat;
import java.util.List;
import java.util.Random;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Assumptions;
import org.vdmount.vd.Disk;

/** External tools (qemu-img, vhdimount, sfdisk) and small helpers shared by the VHDX tests. */
final class Tools {
    private Tools() {
    }

    record Result(int exit, String out) {
    }

    static boolean have(String tool) {
        for (String dir : System.getenv().getOrDefault("PATH", "/usr/bin:/bin").split(":")) {
            if (Files.isExecutable(Path.of(dir, tool))) {
                return true;
            }
        }
        return Files.isExecutable(Path.of("/usr/sbin", tool)) || Files.isExecutable(Path.of("/sbin", tool));
    }

    static void assume(String... tools) {
        for (String t : tools) {
            Assumptions.assumeTrue(have(t), t + " is not installed");
        }
    }

    static Result exec(String... cmd) throws IOException {
        return execWithInput(null, cmd);
    }

    static Result execWithInput(String input, String... cmd) throws IOException {
        List<String> c = new ArrayList<>(List.of(cmd));
        for (String dir : List.of("/usr/sbin", "/sbin")) {
            if (Files.isExecutable(Path.of(dir, c.get(0)))) {
                c.set(0, dir + "/" + c.get(0));
            }
        }
        ProcessBuilder pb = new ProcessBuilder(c).redirectErrorStream(true);
        Process p = pb.start();
        if (input != null) {
            p.getOutputStream().write(input.getBytes(StandardCharsets.UTF_8));
        }
        p.getOutputStream().close();
        try {
            String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
            if (!p.waitFor(120, TimeUnit.SECONDS)) {
                p.destroyForcibly();
                throw new IOException("timeout: " + String.join(" ", cmd));
            }
            return new Result(p.exitValue(), out);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IOException(e);
        }
    }

    /** Runs a command that must succeed; returns its output. */
    static String run(String... cmd) throws IOException {
        Result r = exec(cmd);
        assertEquals(0, r.exit(), String.join(" ", cmd) + " failed:\n" + r.out());
        return r.out();
    }

    static byte[] random(int n, long seed) {
        byte[] b = new byte[n];
        new Random(seed).nextBytes(b);
        return b;
    }

    static byte[] readAll(Disk d) throws IOException {
        ByteBuffer b = ByteBuffer.allocate((int) d.size());
        d.read(0, b);
        return b.array();
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
