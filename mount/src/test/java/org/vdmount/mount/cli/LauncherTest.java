package org.vdmount.mount.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The real {@code ./vd} launcher as a process: it builds the shaded jar on first use (about a
 * minute; later runs start at once), then behaves like the in-process runs.
 */
class LauncherTest {
    @TempDir
    Path dir;

    private static Path launcher() {
        Path module = Path.of(System.getProperty("user.dir")).toAbsolutePath();
        Path vd = module.getParent().resolve("vd");
        assertTrue(Files.isExecutable(vd), "launcher " + vd);
        return vd;
    }

    private static Tools.Output vd(Object... args) throws Exception {
        List<String> cmd = new java.util.ArrayList<>(List.of(launcher().toString()));
        for (Object a : args) {
            cmd.add(a.toString());
        }
        return Tools.exec(cmd, null, Map.of());
    }

    @Test
    void launcherRunsTheCommandsWithTheirExitCodes() throws Exception {
        Tools.require("qemu-img");
        Tools.Output version = vd("--version"); // may build the jar first
        assertEquals(0, version.exit(), version.err());
        assertTrue(version.out().matches("vd \\d+\\.\\d+\\.\\d+(-SNAPSHOT)?\n"), version.out());

        Path img = dir.resolve("l.raw");
        Tools.run("qemu-img", "create", "-q", "-f", "raw", img.toString(), "20M");
        Tools.run("qemu-io", "-f", "raw", "-c", "write -P 0x42 5M 1M", img.toString());
        Tools.Output info = vd("info", "--json", img);
        assertEquals(0, info.exit(), info.err());
        assertEquals("", info.err());
        @SuppressWarnings("unchecked")
        Map<String, Object> json = (Map<String, Object>) JsonParser.parse(info.out());
        assertEquals(Tools.qemuInfo(img).get("virtual-size"), json.get("virtual-size"));

        Path copy = dir.resolve("copy.raw");
        Tools.Output convert = vd("convert", img, copy);
        assertEquals(0, convert.exit(), convert.err());
        assertEquals("", convert.out() + convert.err(), "no progress bar into a pipe");
        assertEquals(-1, Files.mismatch(img, copy));

        Tools.Output missing = vd("info", dir.resolve("missing.vdi"));
        assertEquals(1, missing.exit());
        assertEquals("vd: " + dir.resolve("missing.vdi") + ": no such file or directory\n", missing.err());
        assertEquals("", missing.out());
    }

    @Test
    void stoppedConversionLeavesNoPartialOutput() throws Exception {
        assertEquals(0, vd("--version").exit()); // the jar is built before timing anything
        Path src = dir.resolve("huge.raw");
        try (java.nio.channels.FileChannel ch = java.nio.channels.FileChannel.open(src,
                java.nio.file.StandardOpenOption.CREATE_NEW, java.nio.file.StandardOpenOption.WRITE)) {
            ch.write(java.nio.ByteBuffer.wrap(new byte[] {1}), (64L << 30) - 1); // 64 GiB, all holes
        }
        Path dst = dir.resolve("partial.raw");
        Process p = new ProcessBuilder(launcher().toString(), "convert", src.toString(), dst.toString())
                .redirectInput(ProcessBuilder.Redirect.from(new java.io.File("/dev/null")))
                .redirectOutput(ProcessBuilder.Redirect.DISCARD)
                .redirectError(ProcessBuilder.Redirect.DISCARD).start();
        try {
            long deadline = System.nanoTime() + 60_000_000_000L;
            while (!Files.exists(dst) && p.isAlive() && System.nanoTime() < deadline) {
                Thread.sleep(20);
            }
            assertTrue(Files.exists(dst) && p.isAlive(), "conversion under way");
            Thread.sleep(300);
            assertTrue(p.isAlive(), "64 GiB take longer than that");
            p.destroy(); // SIGTERM
            assertTrue(p.waitFor(30, java.util.concurrent.TimeUnit.SECONDS));
            assertEquals(143, p.exitValue(), "terminated by SIGTERM");
            assertTrue(!Files.exists(dst), "the shutdown hook deleted the partial output");
        } finally {
            p.destroyForcibly();
        }
    }
}
