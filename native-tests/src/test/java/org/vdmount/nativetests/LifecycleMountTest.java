package org.vdmount.nativetests;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.FileTime;
import java.util.List;
import java.util.TreeSet;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;

/** Read-only guarantees, error messages, several images, unmount and SIGTERM. */
@Timeout(value = 180, unit = TimeUnit.SECONDS)
class LifecycleMountTest {
    @TempDir
    Path dir;
    private final Fuse fuse = new Fuse();

    @BeforeEach
    void fuse() {
        Fuse.assumeFuse();
    }

    @AfterEach
    void cleanup() {
        fuse.cleanup();
    }

    private Path mnt() throws Exception {
        return Files.createDirectories(dir.resolve("mnt"));
    }

    @ParameterizedTest(name = "{0}")
    @EnumSource(value = Images.Variant.class, names = {"RAW", "VDI_DYNAMIC", "VHD_DYNAMIC"})
    void readOnlyNeverChangesTheImage(Images.Variant v) throws Exception {
        v.assumeSupported();
        Path raw = Images.pattern(dir.resolve("src.raw"), 12L * Images.MIB, 71);
        Path img = v == Images.Variant.RAW ? raw : v.convert(raw, dir, "img");
        Files.setLastModifiedTime(img, FileTime.fromMillis(1_500_000_000_000L));
        String sha = Sh.sha256(img);
        Path mnt = mnt();
        fuse.mount(img.toString(), mnt.toString());
        Path disk = mnt.resolve("disk");
        assertEquals("444", Sh.ok("stat", "-c", "%a", disk.toString()).out().strip());
        assertEquals(1_500_000_000L, Long.parseLong(Sh.ok("stat", "-c", "%Y", disk.toString()).out().strip()),
                "mtime = the top image's");
        Sh.ok("dd", "if=" + disk, "of=/dev/null", "bs=1M", "status=none"); // a full read
        Sh.Result dd = Sh.run(60, List.of("dd", "if=/dev/zero", "of=" + disk, "bs=4096", "count=1", "conv=notrunc"));
        assertNotEquals(0, dd.exit(), "dd into a read-only mount succeeded");
        assertTrue(dd.err().contains("Read-only file system") || dd.err().contains("Permission denied"), dd.err());
        assertNotEquals(0, Sh.run(60, List.of("fallocate", "-p", "-o", "0", "-l", "1M", disk.toString())).exit());
        assertNotEquals(0, Sh.run(60, List.of("truncate", "-s", "1M", disk.toString())).exit());
        fuse.unmount(mnt);
        assertEquals(sha, Sh.sha256(img));
        assertEquals(1_500_000_000_000L, Files.getLastModifiedTime(img).toMillis());
    }

    @Test
    void missingImageIsOneClearLine() throws Exception {
        Path mnt = mnt();
        Fuse.assertOneLineFailure(fuse.vdmount(dir.resolve("nope.vdi").toString(), mnt.toString()), "no such file");
        assertFalse(Fuse.isMounted(mnt));
        Fuse.assertOneLineFailure(fuse.vdmount(Images.pattern(dir.resolve("a.raw"), Images.MIB, 1).toString(),
                dir.resolve("nomnt").toString()), "nomnt");
    }

    @Test
    void badMountpointOrFuseOptionIsOneClearLine() throws Exception {
        Path img = Images.pattern(dir.resolve("a.raw"), Images.MIB, 1);
        Path mnt = mnt();
        Files.writeString(mnt.resolve("occupied"), "x");
        Fuse.assertOneLineFailure(fuse.vdmount(img.toString(), mnt.toString()), "not empty");
        Files.delete(mnt.resolve("occupied"));
        Fuse.assertOneLineFailure(fuse.vdmount("-o", "no_such_fuse_option", img.toString(), mnt.toString()),
                "no_such_fuse_option");
        assertFalse(Fuse.isMounted(mnt));
    }

    @ParameterizedTest(name = "{0}")
    @EnumSource(value = Images.Variant.class, names = {"VDI_DYNAMIC", "VHD_DYNAMIC"})
    void corruptImageIsOneClearLine(Images.Variant v) throws Exception {
        v.assumeSupported();
        byte[] data = new byte[4 * Images.MIB];
        new java.util.Random(2).nextBytes(data); // block 0 allocated: opening reads it (partition table)
        Path img = v.convert(Files.write(dir.resolve("src.raw"), data), dir, "img");
        // VDI: signature kept, header cut short; VHD: footer copy and BAT kept, block 0 cut off
        Sh.ok("truncate", "-s", v.qemu.equals("vdi") ? "300" : "5000", img.toString());
        Path mnt = mnt();
        Fuse.assertOneLineFailure(fuse.vdmount(img.toString(), mnt.toString()), img.getFileName().toString());
        assertFalse(Fuse.isMounted(mnt));
    }

    @Test
    void theJnrBindingNamedExplicitlyMountsAndReads() throws Exception {
        Path img = Images.pattern(dir.resolve("j.raw"), 8L * Images.MIB, 17);
        Path mnt = mnt();
        Sh.Result version = Sh.ok(Fuse.LAUNCHER.toString(), "--version");
        assertTrue(version.out().contains("\n  jnr  ") && version.out().contains("[available, default]"), version.out());
        Fuse.assertOneLineFailure(fuse.vdmount("--fuse", "fast", img.toString(), mnt.toString()),
                "unknown FUSE binding 'fast' (known: kernel, jnr)");
        assertFalse(Fuse.isMounted(mnt));
        fuse.mount("--fuse", "jnr", img.toString(), mnt.toString());
        Path disk = mnt.resolve("disk");
        assertEquals(Sh.sha256(img), Sh.sha256(disk));
        assertEquals(Sh.sha256(img, 3L * Images.MIB + 512, 777_000), Sh.sha256(disk, 3L * Images.MIB + 512, 777_000));
        fuse.unmount(mnt);
    }

    @Test
    void missingParentIsOneClearLine() throws Exception {
        Images.Variant v = Images.Variant.VHD_DYNAMIC;
        v.assumeSupported();
        Path base = v.convert(Images.pattern(dir.resolve("src.raw"), 4L * Images.MIB, 3), dir, "base");
        Path child = Images.differencing(v.ours, base, dir.resolve("child.vhd"));
        Path moved = Files.createDirectory(dir.resolve("elsewhere"));
        Files.move(base, moved.resolve("base.vhd"));
        Path mnt = mnt();
        Fuse.assertOneLineFailure(fuse.vdmount(child.toString(), mnt.toString()), "parent");
        assertFalse(Fuse.isMounted(mnt));
        // --parent-dir finds it
        fuse.mount("--parent-dir", moved.toString(), child.toString(), mnt.toString());
        assertEquals(Sh.sha256(dir.resolve("src.raw")), Sh.sha256(mnt.resolve("disk")));
        fuse.unmount(mnt);
    }

    @Test
    void aSecondWritableMountOfTheSameImageIsRefused() throws Exception {
        Images.Variant v = Images.Variant.VDI_DYNAMIC;
        v.assumeSupported();
        Path img = v.convert(Images.pattern(dir.resolve("src.raw"), 4L * Images.MIB, 31), dir, "shared");
        Path first = Files.createDirectories(dir.resolve("m1"));
        Path second = Files.createDirectories(dir.resolve("m2"));
        fuse.mount("--rw", img.toString(), first.toString());
        Fuse.assertOneLineFailure(fuse.vdmount("--rw", img.toString(), second.toString()), "in use");
        assertFalse(Fuse.isMounted(second));
        // a plain reader is refused beside a writer, as qemu-img is; a forced share reads anyway
        Fuse.assertOneLineFailure(fuse.vdmount(img.toString(), second.toString()),
                "(it holds the write permission; QEMU-style lock at byte 101); use --force-share to read it anyway");
        fuse.mount("--force-share", img.toString(), second.toString());
        fuse.unmount(second);
        fuse.unmount(first);
        fuse.mount("--rw", img.toString(), second.toString()); // the lock went with the first daemon
        fuse.unmount(second);
    }

    @Test
    void severalImagesGetADirectoryEach() throws Exception {
        Path a = Images.pattern(dir.resolve("a.raw"), 2L * Images.MIB, 4);
        Path sub = Files.createDirectory(dir.resolve("sub"));
        Path a2 = Images.pattern(sub.resolve("a.img"), 3L * Images.MIB, 5);
        Path b = Images.pattern(dir.resolve("b.raw"), Images.MIB, 6);
        Path mnt = mnt();
        fuse.mount(a.toString(), a2.toString(), b.toString(), mnt.toString());
        try (Stream<Path> s = Files.list(mnt)) {
            assertEquals(new TreeSet<>(List.of("a.raw", "a.img", "b")),
                    new TreeSet<>(s.map(p -> p.getFileName().toString()).toList()));
        }
        assertEquals(Sh.sha256(a), Sh.sha256(mnt.resolve("a.raw/disk")));
        assertEquals(Sh.sha256(a2), Sh.sha256(mnt.resolve("a.img/disk")));
        assertEquals(Sh.sha256(b), Sh.sha256(mnt.resolve("b/disk")));
        fuse.unmount(mnt);
    }

    /**
     * The launcher's way: the JVM it starts is the daemon itself (one JVM, no --daemon-child), in a
     * session of its own, in /, with stdio on /dev/null and no other descriptor of its caller (one
     * it holds open, 5 here), even when the caller closed stdin.
     */
    @Test
    void theLaunchersJvmIsTheDaemonDetachedFromItsCaller() throws Exception {
        Path img = Images.pattern(dir.resolve("a.raw"), 2L * Images.MIB, 17);
        Path mnt = mnt();
        Path held = dir.resolve("held-by-the-caller");
        // the caller also closed stdin: the daemon gets /dev/null there
        Sh.Result r = fuse.vdmountVia(List.of("bash", "-c", "exec 5>>\"$0\"; exec \"$@\" <&-", held.toString()),
                img.toString(), mnt.toString());
        assertEquals(0, r.exit(), r.err());
        assertEquals(Sh.sha256(img), Sh.sha256(mnt.resolve("disk")));
        List<ProcessHandle> jvms = daemons(mnt);
        assertEquals(1, jvms.size(), "one JVM serves the mount");
        long pid = jvms.get(0).pid();
        assertFalse(jvms.get(0).info().arguments().map(List::of).orElseThrow().contains("--daemon-child"));
        String stat = Files.readString(Path.of("/proc/" + pid + "/stat"));
        String[] f = stat.substring(stat.lastIndexOf(')') + 2).split(" ");
        assertEquals(String.valueOf(pid), f[3], "a session leader: " + stat); // field 6, session
        assertEquals("/", Files.readSymbolicLink(Path.of("/proc/" + pid + "/cwd")).toString());
        for (int fd = 0; fd <= 2; fd++) {
            assertEquals("/dev/null", Files.readSymbolicLink(Path.of("/proc/" + pid + "/fd/" + fd)).toString());
        }
        try (Stream<Path> fds = Files.list(Path.of("/proc/" + pid + "/fd"))) {
            for (Path fd : fds.toList()) {
                String target = Files.readSymbolicLink(fd).toString();
                assertFalse(target.equals(held.toString()) || target.startsWith("pipe:"), fd + " -> " + target);
            }
        }
        fuse.unmount(mnt);
        assertTrue(Fuse.awaitExit(pid, 20), "daemon still running after fusermount -u");
    }

    /** Without the launcher's pipe (VDMOUNT_IN_PLACE=0) the command starts a daemon JVM as before. */
    @Test
    void theSpawnedDaemonStillMountsAndFailsInOneLine() throws Exception {
        Path img = Images.pattern(dir.resolve("a.raw"), 2L * Images.MIB, 18);
        Path mnt = mnt();
        List<String> spawned = List.of("env", "VDMOUNT_IN_PLACE=0");
        Sh.Result r = fuse.vdmountVia(spawned, img.toString(), mnt.toString());
        assertEquals(0, r.exit(), r.err());
        assertEquals(Sh.sha256(img), Sh.sha256(mnt.resolve("disk")));
        List<ProcessHandle> jvms = daemons(mnt);
        assertEquals(1, jvms.size());
        assertTrue(jvms.get(0).info().arguments().map(List::of).orElseThrow().contains("--daemon-child"));
        fuse.unmount(mnt);
        Fuse.assertOneLineFailure(fuse.vdmountVia(spawned, img.toString(), dir.resolve("absent").toString()),
                "does not exist");
    }

    /**
     * Whether {@code pid} has exited: gone, or a zombie (all its files closed; the launcher that
     * started it is gone, so it waits for init to reap it; ProcessHandle counts that as alive).
     */
    private static boolean exited(long pid) throws java.io.IOException {
        try {
            String stat = Files.readString(Path.of("/proc/" + pid + "/stat"));
            char state = stat.charAt(stat.lastIndexOf(')') + 2);
            return state == 'Z' || state == 'X';
        } catch (java.nio.file.NoSuchFileException e) {
            return true;
        }
    }

    private static List<ProcessHandle> daemons(Path mnt) {
        try (Stream<ProcessHandle> all = ProcessHandle.allProcesses()) {
            return all.filter(h -> h.info().arguments().map(a -> List.of(a).contains(mnt.toString())
                    && List.of(a).contains("org.vdmount.mount.cli.VdmountMain")).orElse(false)).toList();
        }
    }

    @Test
    void fusermountEndsTheDaemonWithStatusZero() throws Exception {
        Path img = Images.pattern(dir.resolve("a.raw"), 2L * Images.MIB, 7);
        Path mnt = mnt();
        Process p = fuse.mountForeground(img.toString(), mnt.toString());
        Sh.ok("fusermount", "-u", mnt.toString());
        assertTrue(p.waitFor(30, TimeUnit.SECONDS), "daemon still running after fusermount -u");
        assertEquals(0, p.exitValue());
    }

    /**
     * vdmount -u returns only once the daemon has exited: its images are closed and unlocked at
     * that moment (fusermount -u returns before, while the daemon still closes them).
     */
    @Test
    void unmountWaitsUntilTheDaemonHasClosedTheImages() throws Exception {
        Images.Variant v = Images.Variant.QCOW2;
        v.assumeSupported();
        Path raw = Images.pattern(dir.resolve("src.raw"), 4L * Images.MIB, 41);
        Path img = v.convert(raw, dir, "w");
        Path mnt = mnt();
        fuse.mount("--rw", img.toString(), mnt.toString());
        Images.ddPatch(dir, mnt.resolve("disk"), 123_456, 300_000, 42);
        Images.ddPatch(dir, raw, 123_456, 300_000, 42);
        List<ProcessHandle> jvms = daemons(mnt);
        assertEquals(1, jvms.size());
        long pid = jvms.get(0).pid();
        // the daemon is stopped until 3 s from now: -u must unmount meanwhile (looking at nothing
        // inside the mount) and wait for it to exit, not return before
        Sh.ok("kill", "-STOP", String.valueOf(pid));
        long t0 = System.nanoTime();
        Thread resume = new Thread(() -> {
            try {
                Thread.sleep(3000);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
            Sh.ok("kill", "-CONT", String.valueOf(pid));
        });
        resume.start();
        Sh.Result r = fuse.unmountAndWait(mnt.toString());
        long ms = (System.nanoTime() - t0) / 1_000_000;
        resume.join();
        assertEquals(0, r.exit(), r.err());
        assertTrue(ms >= 2900, "vdmount -u returned after " + ms + " ms, while its daemon was stopped");
        assertTrue(exited(pid), "the daemon still runs when vdmount -u returned");
        assertFalse(Fuse.isMounted(mnt));
        // QEMU gets the write lock at once, and the image holds what was written
        Sh.ok("qemu-io", "-f", "qcow2", "-c", "read -P 0 0 512", img.toString());
        Sh.ok("qemu-img", "compare", "-f", "qcow2", "-F", "raw", img.toString(), raw.toString());
        Fuse.assertOneLineFailure(fuse.unmountAndWait(mnt.toString()), "not mounted");
        Fuse.assertOneLineFailure(fuse.unmountAndWait("/proc"), "not a vdmount mount (proc)");
    }

    @Test
    void sigtermFlushesAndUnmounts() throws Exception {
        Path raw = Images.pattern(dir.resolve("a.raw"), 4L * Images.MIB, 8);
        Path img = Files.copy(raw, dir.resolve("img.raw"));
        Path mnt = mnt();
        Process p = fuse.mountForeground("--rw", img.toString(), mnt.toString());
        Images.ddPatch(dir, mnt.resolve("disk"), 12345, 70000, 9);
        Images.ddPatch(dir, raw, 12345, 70000, 9);
        Sh.ok("kill", "-TERM", String.valueOf(p.pid()));
        assertTrue(p.waitFor(30, TimeUnit.SECONDS), "daemon still running after SIGTERM");
        assertEquals(0, p.exitValue());
        assertFalse(Fuse.isMounted(mnt));
        assertEquals(Sh.sha256(raw), Sh.sha256(img));
    }
}
