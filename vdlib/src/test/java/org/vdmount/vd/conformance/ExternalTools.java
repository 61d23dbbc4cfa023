package org.vdmount.vd.conformance;

import static org.junit.jupiter.api.Assertions.fail;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Assumptions;

/**
 * The real tools (qemu-img, qemu-io, vhdimount, vmdkmount, sfdisk, ...) for every test: found on
 * the PATH or in the sbin directories, run with a time limit, stdout and stderr kept apart.
 */
public final class ExternalTools {
    /** No tool here takes longer on the kit's small images; a hang fails the test instead. */
    private static final long TIMEOUT_SECONDS = 120;
    private static final List<String> SBIN = List.of("/usr/sbin", "/sbin");

    private ExternalTools() {
    }

    /** What a tool did: its exit status and both output streams. */
    public record Result(int exit, String out, String err) {
        /** stdout then stderr, for messages. */
        public String output() {
            return out + err;
        }
    }

    /** The tool's full path, or null when it is not installed. */
    public static Path find(String tool) {
        List<String> dirs = new ArrayList<>(List.of(System.getenv().getOrDefault("PATH", "/usr/bin:/bin").split(":")));
        dirs.addAll(SBIN);
        for (String dir : dirs) {
            if (!dir.isEmpty() && Files.isExecutable(Path.of(dir, tool))) {
                return Path.of(dir, tool);
            }
        }
        return null;
    }

    public static boolean has(String tool) {
        return find(tool) != null;
    }

    /** Skips the test when a tool is truly absent (CI installs them all, so there nothing skips). */
    public static void assume(String... tools) {
        for (String t : tools) {
            Assumptions.assumeTrue(has(t), t + " is not installed");
        }
    }

    /** Whether FUSE mounts can work here (vhdimount, vmdkmount). */
    public static boolean fuseUsable() {
        return has("fusermount") && Files.exists(Path.of("/dev/fuse"));
    }

    /** Runs {@code cmd} in {@code cwd} (null: the current directory), with {@code input} on stdin. */
    public static Result execWithInput(Path cwd, String input, String... cmd) throws IOException {
        List<String> c = new ArrayList<>(List.of(cmd));
        Path exe = find(c.get(0));
        if (exe != null) {
            c.set(0, exe.toString());
        }
        ProcessBuilder pb = new ProcessBuilder(c);
        if (cwd != null) {
            pb.directory(cwd.toFile());
        }
        Path out = Files.createTempFile("tool", ".out");
        Path err = Files.createTempFile("tool", ".err");
        try {
            pb.redirectOutput(out.toFile()).redirectError(err.toFile());
            Process p = pb.start();
            if (input != null) {
                p.getOutputStream().write(input.getBytes(StandardCharsets.UTF_8));
            }
            p.getOutputStream().close();
            if (!p.waitFor(TIMEOUT_SECONDS, TimeUnit.SECONDS)) {
                p.destroyForcibly();
                throw new IOException("timeout after " + TIMEOUT_SECONDS + " s: " + String.join(" ", cmd));
            }
            return new Result(p.exitValue(), Files.readString(out, StandardCharsets.UTF_8),
                    Files.readString(err, StandardCharsets.UTF_8));
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IOException("interrupted: " + String.join(" ", cmd), e);
        } finally {
            Files.deleteIfExists(out);
            Files.deleteIfExists(err);
        }
    }

    public static Result exec(Path cwd, String... cmd) throws IOException {
        return execWithInput(cwd, null, cmd);
    }

    /** Runs a command that must succeed (else the test fails with its output); returns stdout. */
    public static String run(Path cwd, String... cmd) throws IOException {
        Result r = execWithInput(cwd, null, cmd);
        if (r.exit() != 0) {
            fail(String.join(" ", cmd) + " exited " + r.exit() + ":\n" + r.output());
        }
        return r.out();
    }

    /**
     * A {@code qemu-img create} of a LUKS container (plain or inside qcow2) whose image file is
     * {@code image}. qemu calibrates the key derivation on the thread's CPU time and gives up with
     * "Unable to get accurate CPU usage" when that clock does not move (seen on busy VMs, several
     * times in a row): tried up to 20 times, then the test is skipped with qemu's words, since
     * without qemu's image there is nothing to compare with. Any other failure fails the test.
     */
    public static void qemuLuksCreate(Path cwd, Path image, String... cmd) throws IOException {
        for (int attempt = 1; ; attempt++) {
            Result r = exec(cwd, cmd);
            if (r.exit() == 0) {
                return;
            }
            if (!r.output().contains("accurate CPU usage")) {
                fail(String.join(" ", cmd) + " exited " + r.exit() + ":\n" + r.output());
            }
            Files.deleteIfExists(image);
            if (attempt == 20) {
                org.junit.jupiter.api.Assumptions.abort("qemu-img could not calibrate LUKS key derivation here "
                        + "(20 tries): " + r.output().strip());
            }
            try {
                Thread.sleep(50);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                throw new IOException("interrupted", e);
            }
        }
    }
}
