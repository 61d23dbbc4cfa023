package org.vdmount.nativetests;

import static org.junit.jupiter.api.Assertions.assertEquals;

import java.io.File;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Assumptions;

/** Running external tools with a timeout: nothing a test starts can hang the suite. */
final class Sh {
    static final int DEFAULT_TIMEOUT_S = 120;

    /** What a finished command left behind. */
    record Result(List<String> cmd, int exit, String out, String err) {
        Result ok() {
            assertEquals(0, exit, () -> String.join(" ", cmd) + " failed (" + exit + "): " + err + out);
            return this;
        }

        String firstWord() {
            String s = out.strip();
            int sp = s.indexOf(' ');
            return sp < 0 ? s : s.substring(0, sp);
        }
    }

    private Sh() {
    }

    static Result run(String... cmd) {
        return run(DEFAULT_TIMEOUT_S, Arrays.asList(cmd));
    }

    static Result run(int timeoutSeconds, List<String> cmd) {
        try {
            File out = File.createTempFile("sh-out", ".txt");
            File err = File.createTempFile("sh-err", ".txt");
            try {
                Process p = new ProcessBuilder(cmd).redirectInput(ProcessBuilder.Redirect.from(new File("/dev/null")))
                        .redirectOutput(out).redirectError(err).start();
                if (!p.waitFor(timeoutSeconds, TimeUnit.SECONDS)) {
                    p.descendants().forEach(ProcessHandle::destroyForcibly);
                    p.destroyForcibly();
                    p.waitFor(10, TimeUnit.SECONDS);
                    throw new AssertionError("timed out after " + timeoutSeconds + " s: " + String.join(" ", cmd));
                }
                return new Result(List.copyOf(cmd), p.exitValue(), Files.readString(out.toPath(), StandardCharsets.UTF_8),
                        Files.readString(err.toPath(), StandardCharsets.UTF_8));
            } finally {
                out.delete();
                err.delete();
            }
        } catch (IOException e) {
            throw new AssertionError("cannot run " + String.join(" ", cmd) + ": " + e, e);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new AssertionError("interrupted: " + String.join(" ", cmd), e);
        }
    }

    static Result ok(String... cmd) {
        return run(cmd).ok();
    }

    static String sha256(Path file) {
        return ok("sha256sum", file.toString()).firstWord();
    }

    /** sha256 of length bytes at offset, read with dd (for slices of a raw file). */
    static String sha256(Path file, long offset, long length) {
        return ok("bash", "-c", "set -o pipefail; dd if='" + file + "' bs=64K iflag=skip_bytes,count_bytes skip=" + offset
                + " count=" + length + " status=none | sha256sum").firstWord();
    }

    static boolean onPath(String tool) {
        for (String dir : System.getenv().getOrDefault("PATH", "/usr/bin:/bin").split(":")) {
            if (Files.isExecutable(Path.of(dir, tool))) {
                return true;
            }
        }
        return Files.isExecutable(Path.of("/usr/sbin", tool)) || Files.isExecutable(Path.of("/sbin", tool));
    }

    /** Skips the test when a tool is truly absent (CI installs them all). */
    static void require(String... tools) {
        List<String> missing = new ArrayList<>();
        for (String t : tools) {
            if (!onPath(t)) {
                missing.add(t);
            }
        }
        Assumptions.assumeTrue(missing.isEmpty(), "tools not installed: " + missing);
    }
}
