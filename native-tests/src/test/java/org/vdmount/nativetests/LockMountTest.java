package org.vdmount.nativetests;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/**
 * A mounted image and QEMU's tools (and vd) refuse each other as QEMU's tools refuse among
 * themselves: the daemon holds QEMU-style locks on every image file for as long as it is mounted.
 */
@Timeout(value = 240, unit = TimeUnit.SECONDS)
class LockMountTest {
    private static final String VD = Fuse.REPO.resolve("vd").toString();
    private static final long SIZE = 8L * Images.MIB;

    @TempDir
    Path dir;
    private final Fuse fuse = new Fuse();

    @BeforeEach
    void fuse() {
        Fuse.assumeFuse();
        Sh.require("qemu-img", "qemu-io");
    }

    @AfterEach
    void cleanup() {
        fuse.cleanup();
    }

    private Path mnt() throws Exception {
        Path m = dir.resolve("mnt");
        return Files.isDirectory(m) ? m : Files.createDirectory(m);
    }

    /**
     * Whether /proc/locks lists an OFD lock over byte {@code at} of inode {@code ino} (looking takes
     * no lock). A line: {@code 4: OFDLCK ADVISORY  READ -1 fe:00:2146450 100 101}.
     */
    private static boolean holdsLock(long ino, long at) throws java.io.IOException {
        for (String line : java.nio.file.Files.readAllLines(Path.of("/proc/locks"))) {
            String[] f = line.trim().split("\\s+");
            for (int i = 0; i + 2 < f.length; i++) {
                if (f[1].equals("OFDLCK") && f[i].endsWith(":" + ino) && f[i + 1].matches("[0-9]+")
                        && Long.parseLong(f[i + 1]) <= at && (f[i + 2].equals("EOF") || Long.parseLong(f[i + 2]) >= at)) {
                    return true;
                }
            }
        }
        return false;
    }

    private Path qcow2(String name, Path content) {
        Path img = dir.resolve(name);
        Sh.ok("qemu-img", "convert", "-f", "raw", "-O", "qcow2", content.toString(), img.toString());
        return img;
    }

    /** The case (a): convert --overwrite onto an image mounted --rw must not delete it. */
    @Test
    void convertOverwriteRefusesAnImageMountedReadWrite() throws Exception {
        Path raw = Images.pattern(dir.resolve("x.raw"), SIZE, 7);
        Path img = qcow2("c.qcow2", raw);
        Path expected = Files.copy(raw, dir.resolve("expected.raw"));
        Path mnt = mnt();
        fuse.mount("--rw", img.toString(), mnt.toString());
        Images.ddPatch(dir, mnt.resolve("disk"), 4096, 5000, 11);
        Images.ddPatch(dir, expected, 4096, 5000, 11);

        Sh.Result r = Sh.run(VD, "convert", "--overwrite", "-O", "qcow2", raw.toString(), img.toString());
        assertEquals(1, r.exit(), r.err());
        assertEquals("vd: " + img + ": in use by another process (it holds the write permission; QEMU-style lock "
                + "at byte 101), not replaced", r.err().strip());
        r = Sh.run(VD, "create", "-f", "qcow2", img.toString(), "1M");
        assertEquals(1, r.exit(), r.err());

        // the mount still writes into the file that is the image, not into a deleted inode
        Images.ddPatch(dir, mnt.resolve("disk"), 3L * Images.MIB, 70000, 12);
        Images.ddPatch(dir, expected, 3L * Images.MIB, 70000, 12);
        Sh.ok("sync", mnt.resolve("disk").toString());
        fuse.unmount(mnt);
        Sh.ok("qemu-img", "compare", "-f", "qcow2", "-F", "raw", img.toString(), expected.toString());
        Sh.ok("qemu-img", "check", img.toString());
    }

    @Test
    void qemuToolsBesideAWritableMount() throws Exception {
        Path img = qcow2("w.qcow2", Images.pattern(dir.resolve("w.raw"), SIZE, 3));
        Path mnt = mnt();
        fuse.mount("--rw", img.toString(), mnt.toString());
        Sh.Result w = Sh.run("qemu-io", "-c", "write 0 512", img.toString());
        assertNotEquals(0, w.exit(), w.out());
        assertTrue((w.out() + w.err()).contains("Failed to get \"write\" lock"), w.out() + w.err());
        Sh.Result info = Sh.run("qemu-img", "info", img.toString());
        assertNotEquals(0, info.exit(), "qemu-img info fails beside a writer, as beside QEMU's own");
        assertTrue(info.err().contains("Failed to get shared \"write\" lock"), info.err());
        Sh.ok("qemu-img", "info", "-U", img.toString());
        Sh.ok("qemu-io", "-r", "-U", "-c", "read 0 512", img.toString());
        Sh.Result second = fuse.vdmount("--rw", img.toString(), Files.createDirectory(dir.resolve("m2")).toString());
        Fuse.assertOneLineFailure(second, img + ": in use by another process (it does not share the write permission; "
                + "QEMU-style lock at byte 201)");
        fuse.unmount(mnt);
        Sh.ok("qemu-io", "-c", "write 0 512", img.toString());
    }

    @Test
    void aReadOnlyMountKeepsQemuWritersOut() throws Exception {
        Path img = qcow2("r.qcow2", Images.pattern(dir.resolve("r.raw"), SIZE, 5));
        Path mnt = mnt();
        fuse.mount(img.toString(), mnt.toString());
        Sh.Result w = Sh.run("qemu-io", "-c", "write 0 512", img.toString());
        assertNotEquals(0, w.exit(), w.out());
        assertTrue((w.out() + w.err()).contains("Failed to get \"write\" lock"), w.out() + w.err());
        Sh.ok("qemu-img", "info", img.toString());
        Sh.ok(VD, "info", img.toString());
        fuse.unmount(mnt);
    }

    /** The case (b): a qemu-io writer holds the image. */
    @Test
    void mountsAreRefusedBesideAQemuWriterUnlessTheShareIsForced() throws Exception {
        Path raw = Images.pattern(dir.resolve("q.raw"), SIZE, 9);
        Path img = qcow2("q.qcow2", raw);
        Path qemuOut = dir.resolve("qemu-io.out");
        Process q = new ProcessBuilder("qemu-io", "-c", "sleep 120000", img.toString()).redirectErrorStream(true)
                .redirectInput(ProcessBuilder.Redirect.from(new java.io.File("/dev/null")))
                .redirectOutput(qemuOut.toFile()).start();
        try {
            // wait for qemu-io's locks (byte 101: it writes, 201: it shares no write) in /proc/locks. Probing with
            // `qemu-img info` raced: info's own lock (it shares no write) made a qemu-io that was still
            // opening fail with 'Failed to get "write" lock' (CI, twice), and the mount then succeeded
            long ino = (Long) java.nio.file.Files.getAttribute(img, "unix:ino");
            long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(30);
            while (!holdsLock(ino, 101) || !holdsLock(ino, 201)) {
                if (!q.isAlive() || System.nanoTime() >= deadline) {
                    q.waitFor(1, TimeUnit.SECONDS);
                    throw new AssertionError("qemu-io did not open " + img + " (" + (q.isAlive() ? "still running"
                            : "exit status " + q.exitValue()) + "): " + java.nio.file.Files.readString(qemuOut));
                }
                Thread.sleep(50);
            }
            Path mnt = mnt();
            Sh.Result rw = fuse.vdmount("--rw", img.toString(), mnt.toString());
            if (rw.exit() == 0 && !q.isAlive()) { // say so when the writer vanished, not only "exit 0"
                throw new AssertionError("qemu-io ended (exit status " + q.exitValue() + ") before the mount: "
                        + java.nio.file.Files.readString(qemuOut));
            }
            Fuse.assertOneLineFailure(rw, img
                    + ": in use by another process (it does not share the write permission; QEMU-style lock at byte 201)");
            Fuse.assertOneLineFailure(fuse.vdmount(img.toString(), mnt.toString()), img
                    + ": in use by another process (it holds the write permission; QEMU-style lock at byte 101); "
                    + "use --force-share to read it anyway");
            Fuse.assertOneLineFailure(fuse.vdmount("--rw", "--force-share", img.toString(), mnt.toString()),
                    "--force-share opens the images read-only; it cannot be combined with --rw");

            for (List<String> forced : List.of(List.of("--force-share"), List.of("-o", "force_share"))) {
                String[] args = new String[forced.size() + 2];
                for (int i = 0; i < forced.size(); i++) {
                    args[i] = forced.get(i);
                }
                args[forced.size()] = img.toString();
                args[forced.size() + 1] = mnt.toString();
                Sh.Result r = fuse.vdmount(args);
                assertEquals(0, r.exit(), r.err());
                List<String> lines = r.err().lines().filter(l -> !l.isBlank()).toList();
                assertEquals(List.of("vdmount: warning: " + img + ": opened with --force-share: no locks taken or "
                        + "checked; another program may be changing it while it is read"), lines);
                assertEquals(Sh.sha256(raw), Sh.sha256(mnt.resolve("disk")));
                fuse.unmount(mnt);
            }
        } finally {
            q.destroyForcibly();
            q.waitFor(20, TimeUnit.SECONDS);
        }
    }
}
