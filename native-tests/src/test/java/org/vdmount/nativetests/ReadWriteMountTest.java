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
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;
import org.junit.jupiter.params.provider.EnumSource;
import org.junit.jupiter.params.provider.MethodSource;

/** --rw: writes, chains, discard, a file system made through the mount, and a crash after fsync. */
@Timeout(value = 240, unit = TimeUnit.SECONDS)
class ReadWriteMountTest {
    private static final long SIZE = 24L * Images.MIB;
    /** offset, length: unaligned, across 1 MiB (VDI) and 2 MiB (VHD) block ends, into zero MiBs, at the end. */
    private static final long[][] WRITES = {
        {1, 1000}, {Images.MIB - 700, 3000}, {2L * Images.MIB - 5, 10}, {3L * Images.MIB + 123, 300_000},
        {9L * Images.MIB + 4096, 4096}, {15L * Images.MIB - 65536, 200_000}, {SIZE - 777, 777},
    };
    /** fallocate -p (punch) then -z (zero range): whole 2 MiB over data, and unaligned pieces of clusters/blocks. */
    private static final long[][] PUNCHES = {{4L * Images.MIB, 2L * Images.MIB}, {7L * Images.MIB + 1000, 100_000}};
    private static final long[][] ZERO_RANGES = {{10L * Images.MIB, 3L * Images.MIB / 2}, {13L * Images.MIB + 1, 70_001}};

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

    /** Applies PUNCHES and ZERO_RANGES to the mounted disk (then fsync) and zeros to the expected raw copy. */
    private static void punchAndZeroBoth(Path disk, Path expected) {
        for (long[][] ranges : new long[][][] {PUNCHES, ZERO_RANGES}) {
            for (long[] r : ranges) {
                Sh.ok("fallocate", ranges == PUNCHES ? "-p" : "-z", "-o", String.valueOf(r[0]), "-l",
                        String.valueOf(r[1]), disk.toString());
                Sh.ok("dd", "if=/dev/zero", "of=" + expected, "bs=" + r[1], "count=1", "oflag=seek_bytes",
                        "seek=" + r[0], "conv=notrunc", "status=none");
            }
        }
        Sh.ok("sync", disk.toString());
    }

    private static void assertQemuCheckClean(Images.Variant v, Path img) {
        if (v.qemuChecks()) {
            Sh.Result r = Sh.run(60, List.of("qemu-img", "check", "-f", v.qemu, img.toString()));
            assertEquals(0, r.exit(), "qemu-img check: " + r.out() + r.err());
        }
    }

    /** Writes, punches and zero ranges through the mount: qemu-img compare with the model, qemu-img check clean. */
    @ParameterizedTest(name = "{0}")
    @MethodSource("org.vdmount.nativetests.Images$Variant#writable")
    void writesAtAnyOffsetMatchQemu(Images.Variant v) throws Exception {
        v.assumeSupported();
        Path raw = Images.pattern(dir.resolve("src.raw"), SIZE, 21);
        Path img = v == Images.Variant.RAW ? Files.copy(raw, dir.resolve("img.raw")) : v.convert(raw, dir, "img");
        Path expected = Images.qemuRaw(img, v.qemu, dir.resolve("expected.raw"));
        Path mnt = mnt();
        fuse.mount("--rw", img.toString(), mnt.toString());
        writeBoth(mnt.resolve("disk"), expected);
        punchAndZeroBoth(mnt.resolve("disk"), expected);
        assertEquals(Sh.sha256(expected), Sh.sha256(mnt.resolve("disk")), "read back through the mount");
        fuse.unmount(mnt);
        Sh.Result cmp = Sh.run(120, List.of("qemu-img", "compare", "-f", v.qemu, "-F", "raw", img.toString(),
                expected.toString()));
        assertEquals(0, cmp.exit(), "qemu-img compare: " + cmp.out() + cmp.err());
        assertQemuCheckClean(v, img);
    }

    /**
     * A child over a base (VHDX: .avhdx from {@code vd create -b}; qcow2: qemu-img over a raw
     * backing file) mounted --rw: the base keeps its bytes, the chain reads as the model, and the
     * independent readers agree (qemu-img for qcow2, libvhdi's vhdimount for VHDX).
     */
    @ParameterizedTest(name = "{0}")
    @EnumSource(value = Images.Variant.class, names = {"VDI_DYNAMIC", "VHD_DYNAMIC", "VHDX_DYNAMIC", "QCOW2"})
    void differencingChainKeepsItsBaseAndReadsZerosAfterPunch(Images.Variant v) throws Exception {
        v.assumeSupported();
        Path raw = Images.pattern(dir.resolve("src.raw"), SIZE, 31);
        Images.Chain chain = Images.chain(v, raw, dir);
        Path base = chain.base();
        Path child = chain.child();
        String baseSha = Sh.sha256(base);
        Path expected = Files.copy(raw, dir.resolve("expected.raw"));
        Path mnt = mnt();
        fuse.mount("--rw", child.toString(), mnt.toString());
        writeBoth(mnt.resolve("disk"), expected);
        // punch 2 MiB the base holds data for (whole blocks or clusters but VHDX's 8 MiB): it must read zeros
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
        if (v == Images.Variant.QCOW2) {
            Sh.Result cmp = Sh.run(120, List.of("qemu-img", "compare", "-f", "qcow2", "-F", "raw", child.toString(),
                    expected.toString()));
            assertEquals(0, cmp.exit(), "qemu-img compare: " + cmp.out() + cmp.err());
            assertQemuCheckClean(v, child);
        } else if (v == Images.Variant.VHDX_DYNAMIC) {
            // libvhdi reads every block state below FULLY_PRESENT from the parent, so it shows the
            // base under the punched (ZERO) range; MS-VHDX 2.5.1.1 defines ZERO blocks as zeros.
            // (VHD is not cross-checked: libvhdi misreads sector bitmap bytes that are partly set.)
            Sh.require("vhdimount");
            Path lib = Files.createDirectory(dir.resolve("vhdimount"));
            fuse.mountWith("vhdimount", child.toString(), lib.toString());
            Path top = lib.resolve("vhdi2");
            long after = punch + 2 * Images.MIB;
            assertEquals(Sh.sha256(expected, 0, punch), Sh.sha256(top, 0, punch), "libvhdi before the punch");
            assertEquals(Sh.sha256(expected, after, SIZE - after), Sh.sha256(top, after, SIZE - after),
                    "libvhdi after the punch");
            fuse.unmount(lib);
        }
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

    /** mkfs.ext4 on a partition (VDI) or on the whole disk (qcow2), files written through a loop device. */
    @ParameterizedTest(name = "{0} {1}")
    @CsvSource({"VDI_DYNAMIC, p1", "QCOW2, disk"})
    void ext4MadeThroughTheMountSurvivesARemount(Images.Variant v, String file) throws Exception {
        v.assumeSupported();
        Sh.require("sfdisk", "mkfs.ext4", "fsck.ext4", "losetup");
        Path raw = dir.resolve("src.raw");
        Sh.ok("truncate", "-s", "48M", raw.toString());
        if (file.equals("p1")) {
            Sh.ok("bash", "-c", "printf 'label: dos\\nstart=2048, type=83\\n' | sfdisk -q '" + raw + "'");
        }
        Path img = v.convert(raw, dir, "img");
        Path mnt = mnt();
        fuse.mount("--rw", img.toString(), mnt.toString());
        Path target = mnt.resolve(file);
        Sh.ok("mkfs.ext4", "-q", "-F", target.toString());
        Path fs = Files.createDirectory(dir.resolve("fs"));
        String dev = fuse.loop(target, false);
        fuse.mountFs(dev, fs, "rw");
        Path data = Images.pattern(dir.resolve("data.bin"), 3L * Images.MIB + 333, 51);
        Sh.ok("cp", data.toString(), fs.resolve("data.bin").toString());
        Files.writeString(fs.resolve("note.txt"), "written through vdmount\n");
        Sh.ok("sync");
        fuse.unmountFs(fs);
        fuse.detach(dev);
        fuse.unmount(mnt);

        fuse.mount("--rw", img.toString(), mnt.toString());
        Sh.Result fsck = Sh.run(60, List.of("fsck.ext4", "-n", "-f", target.toString()));
        assertEquals(0, fsck.exit(), fsck.out() + fsck.err());
        fuse.mountFs(fuse.loop(target, true), fs, "ro");
        assertEquals(Sh.sha256(data), Sh.sha256(fs.resolve("data.bin")));
        assertEquals("written through vdmount\n", Sh.ok("cat", fs.resolve("note.txt").toString()).out());
        fuse.cleanup();
        assertQemuCheckClean(v, img);
        if (file.equals("disk")) { // qemu's reading of the image holds the same clean file system
            Path q = Images.qemuRaw(img, v.qemu, dir.resolve("qemu.raw"));
            Sh.Result qfsck = Sh.run(60, List.of("fsck.ext4", "-n", "-f", q.toString()));
            assertEquals(0, qfsck.exit(), qfsck.out() + qfsck.err());
        }
    }

    @ParameterizedTest(name = "{0}")
    @EnumSource(value = Images.Variant.class, names = {"VDI_DYNAMIC", "VHD_DYNAMIC", "VHDX_DYNAMIC", "QCOW2"})
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
