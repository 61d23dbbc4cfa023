package org.vdmount.nativetests;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.nio.file.DirectoryStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.FileTime;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/**
 * {@code vdmount --overlay}: the forensic workflow. An ext4 copied from a live (mounted) system,
 * so its journal needs replaying, sits in p1 of a VMDK taken as evidence. Mounted through a qcow2
 * overlay, the kernel replays the journal and a file is written; the evidence keeps its sha256 and
 * mtime, the daemon holds it O_RDONLY with read locks only, and the overlay is an ordinary qcow2
 * over the evidence that qemu-img checks, follows and compares, and that vdmount mounts again.
 */
@Timeout(value = 300, unit = TimeUnit.SECONDS)
class OverlayMountTest {
    @TempDir
    Path dir;
    private final Fuse fuse = new Fuse();

    @BeforeEach
    void fuse() {
        Fuse.assumeFuse();
        Sh.require("sfdisk", "mkfs.ext4", "dumpe2fs", "debugfs", "e2fsck", "qemu-img", "qemu-io", "losetup");
    }

    @AfterEach
    void cleanup() {
        fuse.cleanup();
    }

    /** A 48 MiB MBR disk whose p1 holds an ext4 with needs_recovery set and a journal to replay. */
    private Path liveDisk() throws IOException {
        Path fs = dir.resolve("fs.img");
        Sh.ok("mkfs.ext4", "-q", "-F", fs.toString(), "40M");
        Path live = Files.createDirectory(dir.resolve("live"));
        fuse.mountFs(fuse.loop(fs, false), live, "rw");
        Files.writeString(live.resolve("live.txt"), "written on the live system\n");
        Sh.ok("sync");
        Path crash = dir.resolve("crash.img");
        Sh.ok("cp", fs.toString(), crash.toString()); // a copy taken while mounted: journal not checkpointed
        fuse.cleanup();
        assertTrue(Sh.ok("dumpe2fs", "-h", crash.toString()).out().contains("needs_recovery"),
                "the copy must need journal recovery");
        Path raw = dir.resolve("disk.raw");
        Sh.ok("truncate", "-s", "48M", raw.toString());
        Sh.ok("bash", "-c", "printf 'label: dos\\nstart=2048, size=81920, type=83\\n' | sfdisk -q '" + raw + "'");
        Sh.ok("dd", "if=" + crash, "of=" + raw, "bs=1M", "seek=1", "conv=notrunc", "status=none");
        return raw;
    }

    @Test
    void journalReplayLandsInTheOverlayAndTheEvidenceStaysUntouched() throws Exception {
        Path raw = liveDisk();
        Path evDir = Files.createDirectory(dir.resolve("evidence"));
        Path evidence = evDir.resolve("evidence.vmdk");
        Sh.ok("qemu-img", "convert", "-f", "raw", "-O", "vmdk", raw.toString(), evidence.toString());
        Files.setLastModifiedTime(evidence, FileTime.fromMillis(1_500_000_000_000L));
        String hash = Sh.sha256(evidence);
        FileTime mtime = Files.getLastModifiedTime(evidence);
        Path caseDir = Files.createDirectory(dir.resolve("case"));
        Path overlay = caseDir.resolve("case.qcow2");
        Path mnt = Files.createDirectory(dir.resolve("mnt"));

        fuse.mount("--overlay", overlay.toString(), evidence.toString(), mnt.toString());
        assertTrue(Files.exists(overlay), "overlay created");
        assertEvidenceHeldReadOnly(mnt, evidence.toRealPath(), overlay.toRealPath());
        // read locks only: a reader that takes locks opens the evidence, a writer is refused
        Sh.ok("qemu-img", "info", evidence.toString());
        Sh.Result write = Sh.run(60, List.of("qemu-io", "-f", "vmdk", "-c", "write 0 512", evidence.toString()));
        assertNotEquals(0, write.exit(), "qemu-io wrote the evidence beside the mount: " + write.out());

        Path ext = Files.createDirectory(dir.resolve("ext"));
        fuse.mountFs(fuse.loop(mnt.resolve("p1"), false), ext, "rw");
        assertEquals("written on the live system\n", Files.readString(ext.resolve("live.txt")));
        Files.writeString(ext.resolve("case-note.txt"), "examiner was here\n");
        fuse.cleanup(); // umount ext4 (journal checkpointed), detach the loop, unmount vdmount

        assertEquals(hash, Sh.sha256(evidence), "evidence bytes changed");
        assertEquals(mtime, Files.getLastModifiedTime(evidence), "evidence mtime changed");

        // qemu-img: a consistent qcow2 whose backing chain is the evidence
        Sh.ok("qemu-img", "check", overlay.toString());
        String chain = Sh.ok("qemu-img", "info", "--backing-chain", overlay.toString()).out();
        assertTrue(chain.contains(evidence.toString()) && chain.contains("file format: vmdk"), chain);

        // our reader: the overlay alone (the evidence found through --parent-dir), read-only
        fuse.mount("--parent-dir", evDir.toString(), overlay.toString(), mnt.toString());
        Sh.Result cmp = Sh.run(120, List.of("qemu-img", "compare", "-f", "qcow2", "-F", "raw", overlay.toString(),
                mnt.resolve("disk").toString()));
        assertEquals(0, cmp.exit(), "qemu-img compare: " + cmp.out() + cmp.err());
        Path p1 = mnt.resolve("p1");
        assertFalse(Sh.ok("dumpe2fs", "-h", p1.toString()).out().contains("needs_recovery"), "journal replayed");
        Sh.ok("e2fsck", "-fn", p1.toString());
        assertEquals("examiner was here\n", Sh.ok("debugfs", "-R", "cat /case-note.txt", p1.toString()).out());
        assertNotEquals(Sh.sha256(mnt.resolve("disk")), Sh.sha256(raw), "the overlay holds the changes");
        fuse.cleanup();

        // reused, not recreated: -o overlay=FILE mounts the same case again
        fuse.mount("-o", "overlay=" + overlay, evidence.toString(), mnt.toString());
        assertEquals("examiner was here\n", Sh.ok("debugfs", "-R", "cat /case-note.txt", p1.toString()).out());
        fuse.cleanup();
        assertEquals(hash, Sh.sha256(evidence));
        assertEquals(mtime, Files.getLastModifiedTime(evidence));
    }

    /** Every descriptor the daemon holds on the evidence is O_RDONLY; the overlay's is O_RDWR. */
    private static void assertEvidenceHeldReadOnly(Path mnt, Path evidence, Path overlay) throws IOException {
        long pid = Fuse.daemonPid(mnt).orElseThrow(() -> new AssertionError("no daemon for " + mnt));
        List<Integer> evidenceModes = new ArrayList<>();
        List<Integer> overlayModes = new ArrayList<>();
        try (DirectoryStream<Path> fds = Files.newDirectoryStream(Path.of("/proc/" + pid + "/fd"))) {
            for (Path fd : fds) {
                Path target;
                try {
                    target = Files.readSymbolicLink(fd);
                } catch (IOException e) {
                    continue; // closed meanwhile
                }
                if (!target.equals(evidence) && !target.equals(overlay)) {
                    continue;
                }
                String info = Files.readString(Path.of("/proc/" + pid + "/fdinfo/" + fd.getFileName()));
                Matcher m = Pattern.compile("flags:\\s*([0-7]+)").matcher(info);
                assertTrue(m.find(), info);
                int mode = Integer.parseInt(m.group(1), 8) & 3;
                (target.equals(evidence) ? evidenceModes : overlayModes).add(mode);
            }
        }
        assertFalse(evidenceModes.isEmpty(), "daemon holds no descriptor on the evidence");
        assertTrue(evidenceModes.stream().allMatch(m -> m == 0), "evidence opened writable: " + evidenceModes);
        assertTrue(overlayModes.contains(2), "overlay not opened read/write: " + overlayModes);
    }

    @Test
    void refusedCombinationsAreOneLine() throws Exception {
        Path raw = dir.resolve("a.raw");
        Sh.ok("truncate", "-s", "4M", raw.toString());
        Path raw2 = dir.resolve("b.raw");
        Sh.ok("truncate", "-s", "4M", raw2.toString());
        Path mnt = Files.createDirectory(dir.resolve("mnt"));
        String overlay = dir.resolve("case.qcow2").toString();
        Fuse.assertOneLineFailure(fuse.vdmount("--overlay", overlay, raw.toString(), raw2.toString(), mnt.toString()),
                "--overlay takes exactly one IMAGE");
        Fuse.assertOneLineFailure(fuse.vdmount("--overlay", dir.resolve("case.img").toString(), raw.toString(),
                mnt.toString()), "must be .qcow2, .vhdx, .vdi or .vhd");
        Fuse.assertOneLineFailure(fuse.vdmount("--overlay", overlay, "--force-share", raw.toString(),
                mnt.toString()), "cannot be combined with --force-share");
        assertFalse(Files.exists(Path.of(overlay)), "no overlay left by a refused mount");
        // an overlay of another image is refused, naming the image it belongs to
        fuse.mount("--overlay", overlay, raw.toString(), mnt.toString());
        fuse.cleanup();
        Fuse.assertOneLineFailure(fuse.vdmount("--overlay", overlay, raw2.toString(), mnt.toString()),
                "belongs to " + raw);
    }
}
