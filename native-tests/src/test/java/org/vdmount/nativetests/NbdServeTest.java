package org.vdmount.nativetests;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStreamReader;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.BlockingQueue;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/**
 * {@code vd serve} as a user runs it: the launcher in the foreground, real clients, SIGTERM to
 * stop (requests finish, the image is flushed and its locks released), the overlay for evidence,
 * and the kernel's own NBD client where the machine has one.
 */
@Timeout(value = 240, unit = TimeUnit.SECONDS)
class NbdServeTest {
    private static final String VD = Fuse.REPO.resolve("vd").toString();
    private static final long SIZE = 8L * Images.MIB;

    @TempDir
    Path dir;
    private final List<Process> servers = new ArrayList<>();

    @BeforeEach
    void tools() {
        Sh.require("qemu-img", "qemu-io");
    }

    @AfterEach
    void stop() throws InterruptedException {
        for (Process p : servers) {
            p.destroyForcibly().waitFor(30, TimeUnit.SECONDS);
        }
    }

    /** A running {@code vd serve} and the URI it printed for its first export. */
    record Served(Process process, String uri) {
    }

    /** Starts {@code vd serve ARGS}; returns once it prints that it serves (its stderr lines go to {@code lines}). */
    private Served serve(BlockingQueue<String> lines, String... args) throws Exception {
        List<String> cmd = new ArrayList<>(List.of(VD, "serve"));
        cmd.addAll(List.of(args));
        Process p = new ProcessBuilder(cmd).redirectOutput(ProcessBuilder.Redirect.DISCARD).start();
        servers.add(p);
        Thread t = new Thread(() -> {
            try (BufferedReader r = new BufferedReader(new InputStreamReader(p.getErrorStream(), StandardCharsets.UTF_8))) {
                for (String l; (l = r.readLine()) != null; ) {
                    lines.add(l);
                }
            } catch (IOException ignored) {
                // the process ended
            }
        });
        t.setDaemon(true);
        t.start();
        while (true) {
            String l = lines.poll(120, TimeUnit.SECONDS);
            assertTrue(l != null, "vd serve printed nothing in 120 s");
            if (l.startsWith("vd: serving ")) {
                return new Served(p, l.substring(l.lastIndexOf(" at ") + 4));
            }
            assertTrue(p.isAlive() || !lines.isEmpty(), "vd serve ended: " + l);
        }
    }

    private static int terminate(Process p) throws InterruptedException {
        p.destroy(); // SIGTERM
        assertTrue(p.waitFor(60, TimeUnit.SECONDS), "vd serve did not stop on SIGTERM");
        return p.exitValue();
    }

    @Test
    void writesThroughTheServerAreInTheImageAfterSigterm() throws Exception {
        Path raw = Images.pattern(dir.resolve("x.raw"), SIZE, 4);
        Path img = dir.resolve("x.vdi");
        Sh.ok(VD, "convert", "-O", "vdi", raw.toString(), img.toString());
        Path sock = dir.resolve("nbd.sock");
        BlockingQueue<String> lines = new LinkedBlockingQueue<>();
        Served s = serve(lines, "--rw", "--socket", sock.toString(), img.toString());
        String uri = s.uri();
        assertEquals("nbd+unix:///x.vdi?socket=" + sock, uri);

        // the image is locked for as long as it is served, as QEMU locks what it serves
        Sh.Result info = Sh.run("qemu-img", "info", img.toString());
        assertNotEquals(0, info.exit(), "qemu-img info beside a writer: " + info.out());

        Sh.ok("qemu-io", "-f", "raw", "-c", "write -P 0x42 1000 70000", "-c", "write -z 3M 1M",
                "-c", "discard 6M 1M", uri);
        Sh.ok("qemu-io", "-f", "raw", "-c", "write -P 0x42 1000 70000", "-c", "write -z 3M 1M",
                "-c", "discard 6M 1M", raw.toString());
        terminate(s.process());
        assertTrue(!Files.exists(sock), "the socket file is removed");
        Sh.ok("qemu-img", "check", "-f", "vdi", img.toString());
        Sh.ok("qemu-img", "compare", "-f", "vdi", "-F", "raw", img.toString(), raw.toString());
    }

    @Test
    void evidenceServedWithAnOverlayStaysUnchanged() throws Exception {
        Sh.require("nbdcopy");
        Path raw = Images.pattern(dir.resolve("e.raw"), SIZE, 8);
        Path evidence = dir.resolve("e.vmdk");
        Sh.ok("qemu-img", "convert", "-O", "vmdk", raw.toString(), evidence.toString());
        String sha = Sh.sha256(evidence);
        long mtime = Files.getLastModifiedTime(evidence).toMillis();
        Path overlay = dir.resolve("case.qcow2");
        Path sock = dir.resolve("e.sock");
        BlockingQueue<String> lines = new LinkedBlockingQueue<>();
        Served s = serve(lines, "--overlay", overlay.toString(), "--socket", sock.toString(), evidence.toString());
        String uri = s.uri();
        Sh.ok("qemu-io", "-f", "raw", "-c", "write -P 0x66 2M 4096", uri);
        Sh.ok("qemu-io", "-f", "raw", "-c", "write -P 0x66 2M 4096", raw.toString());
        Path copy = dir.resolve("copy.raw");
        Sh.ok("nbdcopy", uri, copy.toString());
        assertEquals(Sh.sha256(raw), Sh.sha256(copy));
        terminate(s.process());
        assertEquals(sha, Sh.sha256(evidence), "evidence bytes");
        assertEquals(mtime, Files.getLastModifiedTime(evidence).toMillis(), "evidence mtime");
        Sh.ok("qemu-img", "compare", "-F", "raw", overlay.toString(), raw.toString());
    }

    @Test
    void tcpExportsAndTheirUsageErrors() throws Exception {
        Path raw = Images.pattern(dir.resolve("t.raw"), SIZE, 2);
        Path img = dir.resolve("t.qcow2");
        Sh.ok("qemu-img", "convert", "-O", "qcow2", raw.toString(), img.toString());
        Served s = serve(new LinkedBlockingQueue<>(), "--port", "0", "--export", "disk0", img.toString());
        assertTrue(s.uri().matches("nbd://127\\.0\\.0\\.1:\\d+/disk0"), s.uri());
        Sh.ok("qemu-img", "compare", "-f", "raw", "-F", "raw", s.uri(), raw.toString());
        Sh.Result second = Sh.run(VD, "serve", "--port", "0", "--rw", img.toString());
        assertEquals(1, second.exit(), "a second, writable server of a served image: " + second.err());
        assertTrue(second.err().contains("in use by another process"), second.err());
        terminate(s.process());
        Sh.Result both = Sh.run(VD, "serve", "--port", "1", "--socket", dir.resolve("s").toString(), img.toString());
        assertEquals(2, both.exit(), both.err());
        assertTrue(both.err().startsWith("vd: --port and --socket exclude each other"), both.err());
        Sh.Result ow = Sh.run(VD, "serve", "--rw", "--overlay", dir.resolve("o.qcow2").toString(), img.toString());
        assertEquals(2, ow.exit(), ow.err());
    }

    @Test
    void theKernelClientSeesTheDiskAndItsPartitions() throws Exception {
        Assumptions.assumeTrue(Files.exists(Path.of("/dev/nbd0")) && Sh.onPath("nbd-client"),
                "no kernel NBD client here (/dev/nbd0 or nbd-client missing: modprobe nbd; apt install nbd-client)");
        Sh.require("sfdisk");
        Path raw = Images.pattern(dir.resolve("k.raw"), SIZE, 6);
        Sh.ok("bash", "-c", "printf 'label: dos\\nstart=2048, size=4096, type=83\\n' | sfdisk -q '" + raw + "'");
        Path img = dir.resolve("k.qcow2");
        Sh.ok("qemu-img", "convert", "-O", "qcow2", raw.toString(), img.toString());
        Path sock = dir.resolve("k.sock");
        Served s = serve(new LinkedBlockingQueue<>(), "--socket", sock.toString(), img.toString());
        Sh.ok("nbd-client", "-unix", sock.toString(), "/dev/nbd0", "-name", "k.qcow2", "-readonly");
        try {
            Sh.ok("blockdev", "--rereadpt", "/dev/nbd0");
            assertEquals(Sh.sha256(raw), Sh.sha256(Path.of("/dev/nbd0")));
            assertEquals(Sh.sha256(raw, 2048L * 512, 4096L * 512), Sh.sha256(Path.of("/dev/nbd0p1")));
        } finally {
            Sh.run("nbd-client", "-d", "/dev/nbd0");
        }
        terminate(s.process());
    }
}
