package org.vdmount.mount.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.fail;

import java.io.File;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Assumptions;

/** External tools used as oracles and fixture makers; a test is skipped only if a tool is absent. */
final class Tools {
    private Tools() {
    }

    static void require(String tool) {
        Assumptions.assumeTrue(onPath(tool), tool + " not installed");
    }

    static boolean onPath(String tool) {
        for (String dir : System.getenv().getOrDefault("PATH", "").split(File.pathSeparator)) {
            if (!dir.isEmpty() && Files.isExecutable(Path.of(dir, tool))) {
                return true;
            }
        }
        return false;
    }

    /** Runs a command (stdin closed), asserts exit 0, returns stdout+stderr. */
    static String run(String... cmd) throws IOException, InterruptedException {
        Output o = exec(List.of(cmd));
        assertEquals(0, o.exit(), String.join(" ", cmd) + " failed:\n" + o.out() + o.err());
        return o.out();
    }

    record Output(int exit, String out, String err) {
    }

    static Output exec(List<String> cmd) throws IOException, InterruptedException {
        return exec(cmd, null, Map.of());
    }

    /** Runs a command with stdin from /dev/null; fails the test if it runs longer than 10 minutes. */
    static Output exec(List<String> cmd, Path dir, Map<String, String> env) throws IOException, InterruptedException {
        ProcessBuilder pb = new ProcessBuilder(cmd).redirectInput(ProcessBuilder.Redirect.from(new File("/dev/null")));
        if (dir != null) {
            pb.directory(dir.toFile());
        }
        pb.environment().putAll(env);
        Path outFile = Files.createTempFile("vdtest", ".out");
        Path errFile = Files.createTempFile("vdtest", ".err");
        try {
            Process p = pb.redirectOutput(outFile.toFile()).redirectError(errFile.toFile()).start();
            if (!p.waitFor(10, TimeUnit.MINUTES)) {
                p.destroyForcibly();
                fail(String.join(" ", cmd) + " did not finish in 10 minutes");
            }
            return new Output(p.exitValue(), Files.readString(outFile), Files.readString(errFile));
        } finally {
            Files.deleteIfExists(outFile);
            Files.deleteIfExists(errFile);
        }
    }

    /** qemu-img info --output=json, parsed. */
    static Map<String, Object> qemuInfo(Path image) throws IOException, InterruptedException {
        return qemuInfo(image, null);
    }

    /** qemu-img info --output=json with -f FORMAT (null: qemu probes), parsed. */
    @SuppressWarnings("unchecked")
    static Map<String, Object> qemuInfo(Path image, String format) throws IOException, InterruptedException {
        require("qemu-img");
        String json = format == null
                ? run("qemu-img", "info", "--output=json", image.toString())
                : run("qemu-img", "info", "--output=json", "-f", format, image.toString());
        return (Map<String, Object>) JsonParser.parse(json);
    }

    /** Host bytes allocated to a file, as stat(1) reports them. */
    static long allocatedBytes(Path file) throws IOException, InterruptedException {
        String[] f = run("stat", "-c", "%b %B", file.toString()).trim().split(" ");
        return Long.parseLong(f[0]) * Long.parseLong(f[1]);
    }
}
