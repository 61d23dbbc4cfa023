package org.vdmount.mount.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
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
        return vdIn(null, args);
    }

    /** The launcher run with {@code cwd} as working directory (null: the test's). */
    private static Tools.Output vdIn(Path cwd, Object... args) throws Exception {
        List<String> cmd = new java.util.ArrayList<>(List.of(launcher().toString()));
        for (Object a : args) {
            cmd.add(a.toString());
        }
        return Tools.exec(cmd, cwd, Map.of());
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

    @Test
    void relativeBackingPathIsRecordedAsGiven() throws Exception {
        assertEquals(0, vd("--version").exit());
        Tools.Output base = vdIn(dir, "create", "-f", "vhd", "base.vhd", "16M");
        assertEquals(0, base.exit(), base.err());
        Tools.Output child = vdIn(dir, "create", "-f", "vhd", "-b", "base.vhd", "child.vhd");
        assertEquals(0, child.exit(), child.err());
        assertEquals("", child.err());

        // from elsewhere, the relative locator resolves against the child's directory
        Tools.Output info = vd("info", "--json", dir.resolve("child.vhd"));
        assertEquals(0, info.exit(), info.err());
        @SuppressWarnings("unchecked")
        Map<String, Object> json = (Map<String, Object>) JsonParser.parse(info.out());
        List<Map<String, Object>> chain = InfoTest.chain(json);
        assertEquals(2, chain.size());
        assertTrue(Files.isSameFile(dir.resolve("base.vhd"), Path.of((String) chain.get(0).get("filename"))));
        assertTrue(((List<?>) chain.get(1).get("parent-locators")).contains("base.vhd"), chain.toString());

        // a relative BACKING is relative to the new image's directory, as in qemu-img
        Files.createDirectory(dir.resolve("sub"));
        Tools.Output lost = vdIn(dir, "create", "-f", "vhd", "-b", "base.vhd", "sub/child.vhd");
        assertEquals(1, lost.exit(), lost.err());
        assertEquals("vd: base.vhd: backing file not found at " + dir.toRealPath().resolve("sub/base.vhd")
                + " (a relative BACKING is relative to the directory of sub/child.vhd, as in qemu-img)\n", lost.err());
        assertTrue(Files.notExists(dir.resolve("sub/child.vhd")));
        assertEquals(0, vdIn(dir, "create", "-f", "vhdx", "base.vhdx", "16M").exit());
        for (String fmt : List.of("vhd", "vhdx", "qcow2")) {
            String parent = fmt.equals("vhdx") ? "vhdx" : "vhd"; // a VHDX child needs a VHDX parent
            // ../ leaves the child's directory: containment wants that directory named (--parent-dir)
            Tools.Output up = vdIn(dir, "create", "--parent-dir", ".", "-f", fmt, "-b", "../base." + parent,
                    "-F", parent, "sub/up." + fmt);
            assertEquals(0, up.exit(), up.err());
            assertEquals("", up.err(), fmt);
            Tools.Output opened = vd("info", "--parent-dir", dir, dir.resolve("sub/up." + fmt));
            assertEquals(0, opened.exit(), fmt + ": " + opened.err());
        }
        Tools.Output qemu = Tools.exec(List.of("qemu-img", "info", "--backing-chain", dir.resolve("sub/up.qcow2").toString()));
        assertEquals(0, qemu.exit(), "qemu opens the recorded ../base.vhd: " + qemu.err());
        Files.copy(dir.resolve("sub/up.vhd"), dir.resolve("sub/child.vhd"));
        Tools.Output found = vdIn(dir, "info", "--parent-dir", ".", "sub/child.vhd");
        assertEquals(0, found.exit(), found.err());
    }

    /**
     * Class data sharing: a start with no archive runs without one and builds it in the background
     * (VDMOUNT_CDS_DIR names where); the next start maps it (-Xshare:on makes the JVM fail when it
     * cannot); an archive that is garbage or was made for another jar is ignored silently.
     */
    @Test
    void classDataArchiveIsBuiltUsedAndIgnoredWhenStaleOrMissing() throws Exception {
        assertEquals(0, vd("--version").exit()); // the jar is built first
        Path cds = dir.resolve("cds");
        Map<String, String> env = Map.of("VDMOUNT_CDS_DIR", cds.toString());
        String version = vd("--version").out();

        // what builds killed midway left: one of two hours ago (removed), one of now (a build running)
        Files.createDirectories(cds);
        Path dead = Files.write(cds.resolve(".vdmount-123.99999.jsa"), new byte[1]);
        Files.setLastModifiedTime(dead, java.nio.file.attribute.FileTime.fromMillis(System.currentTimeMillis() - 7_200_000));
        Path running = Files.write(cds.resolve(".vdmount-123.99998.classlist"), new byte[1]);

        Tools.Output first = run(env, "--version");
        assertEquals(0, first.exit(), first.err());
        assertEquals(version, first.out());
        assertEquals("", first.err());
        Path archive = awaitArchive(cds);
        assertFalse(Files.exists(dead), "a dead build's temporary is removed");
        assertTrue(Files.exists(running), "a running build's temporary is kept");

        Tools.Output mapped = run(withShareOn(env), "--version");
        assertEquals(0, mapped.exit(), "the archive is mapped: " + mapped.err());
        assertEquals(version, mapped.out());
        Path img = dir.resolve("c.raw");
        Files.write(img, new byte[1 << 20]);
        Tools.Output info = run(withShareOn(env), "info", "--json", img);
        assertEquals(0, info.exit(), info.err());
        assertTrue(info.out().contains("\"virtual-size\": 1048576"), info.out());

        byte[] good = Files.readAllBytes(archive);
        for (String stale : List.of("garbage", "another jar")) {
            if (stale.equals("garbage")) {
                Files.write(archive, new byte[64 << 10]);
            } else {
                Path otherJar = dir.resolve("other.jar");
                Path otherArchive = dir.resolve("other.jsa");
                Files.copy(module().getParent().resolve("packaging/target/vdmount-all.jar"), otherJar);
                Tools.Output made = Tools.exec(List.of("java", "-XX:ArchiveClassesAtExit=" + otherArchive,
                        "-Xlog:cds=off", "-Xlog:cds+dynamic=off", "-cp", otherJar.toString(),
                        "org.vdmount.mount.cli.VdMain", "formats"), null, Map.of());
                assertEquals(0, made.exit(), made.err());
                Files.copy(otherArchive, archive, java.nio.file.StandardCopyOption.REPLACE_EXISTING);
            }
            Tools.Output refused = run(withShareOn(env), "--version");
            assertTrue(refused.exit() != 0, stale + ": the JVM itself refuses this archive: " + refused);
            Tools.Output ok = run(env, "--version");
            assertEquals(0, ok.exit(), stale + ": " + ok.err());
            assertEquals(version, ok.out(), stale);
            assertEquals("", ok.err(), stale + ": silently ignored");
        }
        Files.write(archive, good);
        assertEquals(0, run(withShareOn(env), "--version").exit(), "the good archive again");

        Tools.Output off = run(Map.of("VDMOUNT_CDS", "0", "VDMOUNT_JAVA_OPTS", "-Xshare:on"), "--version");
        assertEquals(0, off.exit(), off.err()); // the JDK's own archive only
        assertEquals(version, off.out());
    }

    private static Path module() {
        return Path.of(System.getProperty("user.dir")).toAbsolutePath();
    }

    private static Map<String, String> withShareOn(Map<String, String> env) {
        Map<String, String> m = new java.util.HashMap<>(env);
        m.put("VDMOUNT_JAVA_OPTS", "-Xshare:on");
        return m;
    }

    private static Tools.Output run(Map<String, String> env, Object... args) throws Exception {
        List<String> cmd = new java.util.ArrayList<>(List.of(launcher().toString()));
        for (Object a : args) {
            cmd.add(a.toString());
        }
        return Tools.exec(cmd, null, env);
    }

    /** The one archive the background build leaves in {@code cds} (waits up to two minutes). */
    private static Path awaitArchive(Path cds) throws Exception {
        long deadline = System.nanoTime() + 120_000_000_000L;
        while (System.nanoTime() < deadline) {
            if (Files.isDirectory(cds)) {
                try (var files = Files.list(cds)) {
                    List<Path> done = files.filter(f -> f.getFileName().toString().matches("vdmount-\\d+\\.jsa")).toList();
                    if (!done.isEmpty()) {
                        assertEquals(1, done.size(), done.toString());
                        assertTrue(Files.size(done.get(0)) > 1 << 20, "an archive of the classes: " + Files.size(done.get(0)));
                        return done.get(0);
                    }
                }
            }
            Thread.sleep(200);
        }
        throw new AssertionError("no archive built in " + cds);
    }
}
