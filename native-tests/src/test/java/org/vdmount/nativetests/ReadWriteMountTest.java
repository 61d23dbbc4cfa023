package org.vdmount.nativetests;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;

/** --rw: writes, chains, discard, a file system made through the mount, and a crash after fsync. */
@Timeout(value = 240, unit = TimeUnit.SECONDS)
class ReadWriteMountTest {
    private static final long SIZE = 24L * Images.MIB;
    /** offset, length: unaligned, across 1 MiB (VDI) and 2 MiB (VHD) block ends, into zero MiBs, at the end. */
    private static final long[][] WRITES = {
        {1, 1000}, {Images.MIB - 700, 3000}, {2L * Images.MIB - 5, 10}, {3L * Images.MIB + 123, 300_000},
        {9L * Images.MIB + 4096, 4096}, {15L * Images.MIB - 65536, 200_000}, {SIZE - 777, 777},
    };

    @TempDir
    Path dir;
    private final Fuse fuse = new Fuse();

    @BeforeEach
    void fuse() {
        Fuse.assumeFuse();
        Sh.require("qemu-img");
    }

    @AfterEach
    void cleanup() {
        fuse.cleanup();
    }

    private Path mnt() throws Exception {
        Path m = dir.resolve("mnt");
        return Files.isDirectory(m) ? m : Files.createDirectory(m);
    }

    /** Applies WRITES to the mounted disk and to the expected raw copy, the same bytes. */
    private void writeBoth(Path disk, Path expected) throws Exception {
        for (int i = 0; i < WRITES.length; i++) {
            Images.ddPatch(dir, disk, WRITES[i][0], (int) WRITES[i][1], 100 + i);
            Images.ddPatch(dir, expected, WRITES[i][0], (int) WRITES[i][1], 100 + i);
        }
    }

    private static void assertQemuCheckClean(Images.Variant v, Path img) {
        if (v.qemuChecks()) {
            Sh.Result r = Sh.run(60, List.of("qemu-img", "check", "-f", v.qemu, img.toString()));
            assertEquals(0, r.exit(), "qemu-img check: " + r.out() + r.err());
        }
    }

    @ParameterizedTest(name = "{0}")
    @EnumSource(Images.Variant.class)
    void writesAtAnyOffsetMatchQemu(Images.Variant v) throws Exception {
        v.assumeSupported();
        Path raw = Images.pattern(dir.resolve("src.raw"), SIZE, 21);
        Path img = v == Images.Variant.RAW ? Files.copy(raw, dir.resolve("img.raw")) : v.convert(raw, dir, "img");
        Path expected = Images.qemuRaw(img, v.qemu, dir.resolve("expected.raw"));
        Path mnt = mnt();
        fuse.mount("--rw", img.toString(), mnt.toString());
        writeBoth(mnt.resolve("disk"), expected);
        assertEquals(Sh.sha256(expected), Sh.sha256(mnt.resolve("disk")), "read back through the mount");
        fuse.unmount(mnt);
        Sh.Result cmp = Sh.run(120, List.of("qemu-img", "compare", "-f", v.qemu, "-F", "raw", img.toString(),
                expected.toString()));
        assertEquals(0, cmp.exit(), "qemu-img compare: " + cmp.out() + cmp.err());
        assertQemuCheckClean(v, img);
    }

    @ParameterizedTest(name = "{0}")
    @EnumSource(value = Images.Variant.class, names = {"VDI_DYNAMIC", "VHD_DYNAMIC"})
    void differencingChainKeepsItsBaseAndReadsZerosAfterPunch(Images.Variant v) throws Exception {
        v.assumeSupported();
        Path raw = Images.pattern(dir.resolve("src.raw"), SIZE, 31);
        Path base = v.convert(raw, dir, "base");
        Path child = Images.differencing(v.ours, base, dir.resolve("child." + v.ext));
        String baseSha = Sh.sha256(base);
        Path expected = Files.copy(raw, dir.resolve("expected.raw"));
        Path mnt = mnt();
        fuse.mount("--rw", child.toString(), mnt.toString());
        writeBoth(mnt.resolve("disk"), expected);
        // punch a whole 2 MiB (a block in both formats) the base holds data for: it must read zeros
        long punch = 4L * Images.MIB;
        Sh.ok("fallocate", "-p", "-o", String.valueOf(punch), "-l", String.valueOf(2 * Images.MIB),
                mnt.resolve("disk").toString());
        Sh.ok("dd", "if=/dev/zero", "of=" + expected, "bs=1M", "seek=4", "count=2", "conv=notrunc", "status=none");
        Sh.ok("sync", mnt.resolve("disk").toString());
        assertEquals(Sh.sha256(expected), Sh.sha256(mnt.resolve("disk")));
        fuse.unmount(mnt);
        assertEquals(baseSha, Sh.sha256(base), "the base image changed");

        fuse.mount(child.toString(), mnt.toString());
        assertEquals(Sh.sha256(expected), Sh.sha256(mnt.resolve("disk")), "chain content after remount");
        fuse.unmount(mnt);
    }

    @ParameterizedTest(name = "{0}")
    @EnumSource(value = Images.Variant.class, names = {"RAW", "VDI_DYNAMIC", "VHD_DYNAMIC"})
    void punchingWholeBlocksGivesSpaceBack(Images.Variant v) throws Exception {
        v.assumeSupported();
        Path raw = Images.pattern(dir.resolve("src.raw"), SIZE, 41);
        Path img = v == Images.Variant.RAW ? Files.copy(raw, dir.resolve("img.raw")) : v.convert(raw, dir, "img");
        Path mnt = mnt();
        fuse.mount("--rw", img.toString(), mnt.toString());
        Path disk = mnt.resolve("disk");
        long before = Long.parseLong(Sh.ok("stat", "-c", "%b", disk.toString()).out().strip());
        // MiB 4..8 hold random data in the pattern (4, 5, 7, 8) -- whole blocks of 1 or 2 MiB
        Sh.ok("fallocate", "-p", "-o", String.valueOf(4L * Images.MIB), "-l", String.valueOf(4L * Images.MIB),
                disk.toString());
        Sh.ok("sync", disk.toString());
        Sh.ok("cmp", "-n", String.valueOf(4L * Images.MIB), "-i", 4L * Images.MIB + ":0", disk.toString(), "/dev/zero");
        Thread.sleep(1100); // attributes are cached for a second
        long after = Long.parseLong(Sh.ok("stat", "-c", "%b", disk.toString()).out().strip());
        assertTrue(after < before, "st_blocks " + before + " -> " + after);
        fuse.unmount(mnt);
        Path expected = Files.copy(raw, dir.resolve("expected.raw"), StandardCopyOption.REPLACE_EXISTING);
        Sh.ok("dd", "if=/dev/zero", "of=" + expected, "bs=1M", "seek=4", "count=4", "conv=notrunc", "status=none");
        Sh.Result cmp = Sh.run(120, List.of("qemu-img", "compare", "-f", v.qemu, "-F", "raw", img.toString(),
                expected.toString()));
        assertEquals(0, cmp.exit(), cmp.out() + cmp.err());
        assertQemuCheckClean(v, img);
    }

    @Test
    void ext4MadeThroughTheMountSurvivesARemount() throws Exception {
        Images.Variant v = Images.Variant.anyDynamic();
        Sh.require("sfdisk", "mkfs.ext4", "fsck.ext4", "losetup");
        Path raw = dir.resolve("src.raw");
        Sh.ok("truncate", "-s", "48M", raw.toString());
        Sh.ok("bash", "-c", "printf 'label: dos\\nstart=2048, type=83\\n' | sfdisk -q '" + raw + "'");
        Path img = v.convert(raw, dir, "img");
        Path mnt = mnt();
        fuse.mount("--rw", img.toString(), mnt.toString());
        Path p1 = mnt.resolve("p1");
        Sh.ok("mkfs.ext4", "-q", "-F", p1.toString());
        Path fs = Files.createDirectory(dir.resolve("fs"));
        String dev = fuse.loop(p1, false);
        fuse.mountFs(dev, fs, "rw");
        Path data = Images.pattern(dir.resolve("data.bin"), 3L * Images.MIB + 333, 51);
        Sh.ok("cp", data.toString(), fs.resolve("data.bin").toString());
        Files.writeString(fs.resolve("note.txt"), "written through vdmount\n");
        Sh.ok("sync");
        fuse.unmountFs(fs);
        fuse.detach(dev);
        fuse.unmount(mnt);

        fuse.mount("--rw", img.toString(), mnt.toString());
        Sh.Result fsck = Sh.run(60, List.of("fsck.ext4", "-n", "-f", p1.toString()));
        assertEquals(0, fsck.exit(), fsck.out() + fsck.err());
        fuse.mountFs(fuse.loop(p1, true), fs, "ro");
        assertEquals(Sh.sha256(data), Sh.sha256(fs.resolve("data.bin")));
        assertEquals("written through vdmount\n", Sh.ok("cat", fs.resolve("note.txt").toString()).out());
        fuse.cleanup();
        assertQemuCheckClean(v, img);
    }

    @ParameterizedTest(name = "{0}")
    @EnumSource(value = Images.Variant.class, names = {"VDI_DYNAMIC", "VHD_DYNAMIC"})
    void dataSurvivesKill9AfterFsync(Images.Variant v) throws Exception {
        v.assumeSupported();
        Path raw = Images.pattern(dir.resolve("src.raw"), SIZE, 61);
        Path img = v.convert(raw, dir, "img");
        Path expected = Images.qemuRaw(img, v.qemu, dir.resolve("expected.raw"));
        Path mnt = mnt();
        Process daemon = fuse.mountForeground("--rw", img.toString(), mnt.toString());
        writeBoth(mnt.resolve("disk"), expected); // every dd ends with fsync
        daemon.destroyForcibly(); // SIGKILL: no flush, no unmount
        assertTrue(daemon.waitFor(30, TimeUnit.SECONDS));
        assertNotEquals(0, daemon.exitValue());
        for (int i = 0; i < 100 && Fuse.isMounted(mnt); i++) {
            Thread.sleep(100); // auto_unmount removes the dead mount (fusermount's helper; racy in rare cases)
        }
        if (Fuse.isMounted(mnt)) {
            System.err.println("note: auto_unmount left the dead mount; detaching it by hand");
            Sh.run(30, List.of("fusermount", "-u", "-z", mnt.toString()));
        }
        assertQemuCheckClean(v, img);
        fuse.mount(img.toString(), mnt.toString());
        assertEquals(Sh.sha256(expected), Sh.sha256(mnt.resolve("disk")));
        fuse.unmount(mnt);
    }
}
