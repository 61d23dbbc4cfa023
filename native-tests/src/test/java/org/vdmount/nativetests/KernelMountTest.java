package org.vdmount.nativetests;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.stream.Stream;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The kernel FUSE transport ({@code vdmount --fuse kernel}) end to end, with qemu-img, sfdisk,
 * ext4 and the kernel's own lseek as oracles: whole-disk and partition reads (buffered and
 * O_DIRECT, 1 MiB requests), an ext4 partition loop-mounted through it, writes with fsync,
 * fallocate punch, SEEK_DATA/SEEK_HOLE equal to qemu-img map, read-only refusals, fusermount -u,
 * and kill -9 leaving no mount behind (fusermount3's auto_unmount). The rest of the mount suite
 * runs through this transport by default (the {@code jnr-transport} execution in the POM repeats it through jnr).
 */
class KernelMountTest {
    private static final long SIZE = 24L * Images.MIB;
    private static final Pattern RUN = Pattern.compile(
            "\"start\": (\\d+), \"length\": (\\d+),[^}]*\"data\": (true|false)");

    @TempDir
    Path dir;
    private final Fuse fuse = new Fuse("kernel");

    @BeforeEach
    void fuse() {
        Fuse.assumeFuse();
        Sh.require("qemu-img", "fusermount3", "python3", "sfdisk", "mkfs.ext4", "losetup");
    }

    @AfterEach
    void cleanup() {
        fuse.cleanup();
    }

    private Path mnt() throws IOException {
        return Files.createDirectory(dir.resolve("mnt"));
    }

    @Test
    void readsDiskPartitionsAndExt4AndRefusesWritesReadOnly() throws Exception {
        Path content = Files.createDirectory(dir.resolve("content"));
        Files.writeString(content.resolve("hello.txt"), "hello through /dev/fuse\n");
        Path big = Images.pattern(content.resolve("big.bin"), 3L * Images.MIB + 77, 3);
        Path raw = Images.pattern(dir.resolve("disk.raw"), 40L * Images.MIB, 11);
        Sh.ok("bash", "-c", "printf ',16M,L\\n,,L\\n' | sfdisk -q '" + raw + "'");
        Sh.ok("mkfs.ext4", "-q", "-F", "-d", content.toString(), "-E", "offset=" + Images.MIB, raw.toString(), "16M");
        Path img = Images.Variant.VDI_DYNAMIC.convert(raw, dir, "img");
        Path expected = Images.qemuRaw(img, "vdi", dir.resolve("expected.raw"));
        List<Images.Part> parts = Images.sfdiskPartitions(expected);
        assertEquals(2, parts.size());

        Path mnt = mnt();
        fuse.mount(img.toString(), mnt.toString());
        String mountinfo = Sh.ok("grep", " " + mnt + " ", "/proc/self/mountinfo").out();
        assertTrue(mountinfo.contains("fuse.vdmount"), mountinfo);
        Path readahead = Path.of("/sys/class/bdi", mountinfo.split(" ")[2], "read_ahead_kb");
        assertEquals("1024", Files.readString(readahead).strip(), "readahead raised to the 1 MiB request size");
        Images.assertPartitionFiles(mnt, expected, parts);
        Path disk = mnt.resolve("disk");
        Sh.ok("cmp", expected.toString(), disk.toString());
        assertEquals(Sh.sha256(expected), Sh.ok("bash", "-c", "set -o pipefail; dd if='" + disk
                + "' bs=1M iflag=direct status=none | sha256sum").firstWord(), "O_DIRECT 1 MiB reads");
        assertEquals(Sh.sha256(expected, 5L * Images.MIB + 513, 2_000_001),
                Sh.sha256(disk, 5L * Images.MIB + 513, 2_000_001));

        Path ext = Files.createDirectory(dir.resolve("ext"));
        fuse.mountFs(fuse.loop(mnt.resolve("p1"), true), ext, "ro");
        assertEquals("hello through /dev/fuse\n", Files.readString(ext.resolve("hello.txt")));
        assertEquals(Sh.sha256(big), Sh.sha256(ext.resolve("big.bin")));
        fuse.cleanup();

        fuse.mount(img.toString(), mnt.toString());
        assertNotEquals(0, Sh.run(60, List.of("dd", "if=/dev/zero", "of=" + disk, "bs=4k", "count=1",
                "conv=notrunc", "status=none")).exit(), "write into a read-only mount");
        assertNotEquals(0, Sh.run(60, List.of("fallocate", "-p", "-o", "0", "-l", "1M", disk.toString())).exit());
        assertNotEquals(0, Sh.run(60, List.of("touch", mnt.resolve("new").toString())).exit());
        assertNotEquals(0, Sh.run(60, List.of("truncate", "-s", "1M", disk.toString())).exit());
        fuse.unmount(mnt);
        Sh.ok("qemu-img", "compare", "-f", "vdi", "-F", "raw", img.toString(), raw.toString());
    }

    @Test
    void writesFsyncPunchAndSeekHoleMatchQemu() throws Exception {
        Path raw = Images.pattern(dir.resolve("src.raw"), SIZE, 21);
        Path img = Images.Variant.QCOW2.convert(raw, dir, "img");
        Path expected = Images.qemuRaw(img, "qcow2", dir.resolve("expected.raw"));
        Path mnt = mnt();
        fuse.mount("--rw", img.toString(), mnt.toString());
        Path disk = mnt.resolve("disk");
        long[][] writes = {{1, 1000}, {Images.MIB - 700, 3000}, {3L * Images.MIB + 123, 1_300_000},
            {SIZE - 777, 777}};
        for (int i = 0; i < writes.length; i++) {
            Images.ddPatch(dir, disk, writes[i][0], (int) writes[i][1], 300 + i); // dd conv=fsync
            Images.ddPatch(dir, expected, writes[i][0], (int) writes[i][1], 300 + i);
        }
        for (long[] punch : new long[][] {{7L * Images.MIB, 2L * Images.MIB}, {10L * Images.MIB + 4096, 100_000}}) {
            for (Path f : List.of(disk, expected)) {
                Sh.ok("fallocate", "-p", "-o", String.valueOf(punch[0]), "-l", String.valueOf(punch[1]), f.toString());
            }
        }
        Sh.ok("cmp", expected.toString(), disk.toString());
        Path copy = dir.resolve("copy.raw");
        Sh.ok("cp", "--sparse=always", disk.toString(), copy.toString());
        Sh.ok("cmp", expected.toString(), copy.toString());
        String seen = seekData(disk);
        Sh.ok("python3", "-c", "import os; fd = os.open('" + disk + "', os.O_RDWR); os.fsync(fd)");
        fuse.unmount(mnt);

        assertEquals(qemuData(img), seen, "SEEK_DATA/SEEK_HOLE through the mount = qemu-img map's data runs");
        long allocated = 512 * Long.parseLong(Sh.ok("stat", "-c", "%b", copy.toString()).out().strip());
        assertTrue(allocated < SIZE * 3 / 4, "cp --sparse=always skipped the holes: " + allocated + " bytes allocated");
        Sh.ok("qemu-img", "check", "-f", "qcow2", img.toString());
        Sh.ok("qemu-img", "compare", "-f", "qcow2", "-F", "raw", img.toString(), expected.toString());
    }

    @Test
    void fusermountEndsTheDaemonAndKill9LeavesNoMount() throws Exception {
        Path raw = Images.pattern(dir.resolve("a.raw"), 4L * Images.MIB, 7);
        Path mnt = mnt();
        Process p = fuse.mountForeground(raw.toString(), mnt.toString());
        assertEquals(Sh.sha256(raw), Sh.sha256(mnt.resolve("disk")));
        Sh.ok("fusermount", "-u", mnt.toString());
        assertTrue(p.waitFor(30, TimeUnit.SECONDS), "daemon still running after fusermount -u");
        assertEquals(0, p.exitValue());
        assertTrue(helpers(mnt).isEmpty(), "fusermount3 helper left: " + helpers(mnt));

        Process q = fuse.mountForeground(raw.toString(), mnt.toString());
        assertEquals(1, helpers(mnt).size(), "one fusermount3 auto_unmount helper per mount");
        q.destroyForcibly(); // SIGKILL: no unmount of our own
        assertTrue(q.waitFor(30, TimeUnit.SECONDS));
        for (int i = 0; i < 100 && Fuse.isMounted(mnt); i++) {
            Thread.sleep(50);
        }
        assertFalse(Fuse.isMounted(mnt), "kill -9 left a dead mount");
        for (int i = 0; i < 100 && !helpers(mnt).isEmpty(); i++) {
            Thread.sleep(50);
        }
        assertTrue(helpers(mnt).isEmpty(), "fusermount3 helper left after kill -9");
        assertTrue(Files.isDirectory(mnt) && Files.list(mnt).findAny().isEmpty());
    }

    @Test
    void aForeignOptionIsOneClearLineAndTheVersionListsTheTransport() throws Exception {
        Path img = Images.pattern(dir.resolve("a.raw"), Images.MIB, 1);
        Path mnt = mnt();
        Fuse.assertOneLineFailure(fuse.vdmount("-o", "big_writes", img.toString(), mnt.toString()),
                "FUSE option 'big_writes' is not supported by the kernel transport");
        assertFalse(Fuse.isMounted(mnt));
        String version = Sh.ok(Fuse.LAUNCHER.toString(), "--version").out();
        assertTrue(version.contains("\n  kernel  ") && version.contains("/dev/fuse"), version);
    }

    /** The data runs of {@code file} found with SEEK_DATA / SEEK_HOLE, as "start-end " pairs. */
    private static String seekData(Path file) {
        return Sh.ok("python3", "-c", String.join("\n",
                "import os, errno",
                "fd = os.open('" + file + "', os.O_RDONLY)",
                "size = os.fstat(fd).st_size",
                "pos = 0",
                "out = []",
                "while pos < size:",
                "    try:",
                "        d = os.lseek(fd, pos, os.SEEK_DATA)",
                "    except OSError as e:",
                "        if e.errno != errno.ENXIO: raise",
                "        break",
                "    pos = os.lseek(fd, d, os.SEEK_HOLE)",
                "    out.append('%d-%d ' % (d, pos))",
                "print(''.join(out), end='')")).out();
    }

    /** qemu-img map's data runs of {@code image}, adjacent ones merged, as "start-end " pairs. */
    private static String qemuData(Path image) {
        String json = Sh.ok("qemu-img", "map", "--output=json", image.toString()).out();
        List<long[]> runs = new ArrayList<>();
        Matcher m = RUN.matcher(json);
        while (m.find()) {
            if (m.group(3).equals("true")) {
                long start = Long.parseLong(m.group(1));
                long end = start + Long.parseLong(m.group(2));
                if (!runs.isEmpty() && runs.get(runs.size() - 1)[1] == start) {
                    runs.get(runs.size() - 1)[1] = end;
                } else {
                    runs.add(new long[] {start, end});
                }
            }
        }
        StringBuilder b = new StringBuilder();
        runs.forEach(r -> b.append(r[0]).append('-').append(r[1]).append(' '));
        return b.toString();
    }

    /** fusermount3 processes serving {@code mnt} (the auto_unmount helpers). */
    private static List<Long> helpers(Path mnt) {
        String want = mnt.toAbsolutePath().toString();
        try (Stream<ProcessHandle> all = ProcessHandle.allProcesses()) {
            return all.filter(h -> h.info().command().map(c -> c.endsWith("fusermount3")).orElse(false)
                    && h.info().arguments().map(a -> List.of(a).contains(want)).orElse(false))
                    .map(ProcessHandle::pid).toList();
        }
    }
}
