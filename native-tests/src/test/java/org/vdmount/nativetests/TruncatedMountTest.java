package org.vdmount.nativetests;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.nio.file.attribute.FileTime;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/**
 * {@code vdmount --allow-truncated}: a VMDK cut inside its data (a partial copy) is mounted through
 * FUSE; the disk reads as qemu reads the cut file (zeros past its end: {@code qemu-img convert} of
 * it is the model), one warning names the lost range, and the evidence keeps its bytes and mtime.
 * Refused with --rw; allowed under --overlay, whose writes go to the overlay.
 */
@Timeout(value = 300, unit = TimeUnit.SECONDS)
class TruncatedMountTest {
    private static final long MIB = 1 << 20;

    @TempDir
    Path dir;
    private final Fuse fuse = new Fuse();
    private Path evidence;
    private long cut;

    @BeforeEach
    void evidence() throws IOException {
        Fuse.assumeFuse();
        Sh.require("qemu-img", "qemu-io", "sha256sum");
        Path raw = dir.resolve("src.raw");
        Sh.ok("qemu-img", "create", "-f", "raw", raw.toString(), "8M");
        Sh.ok("qemu-io", "-f", "raw", "-c", "write -P 0x5a 0 3M", "-c", "write -P 0xa5 4M 4M", raw.toString());
        Path evDir = Files.createDirectory(dir.resolve("evidence"));
        evidence = evDir.resolve("evidence.vmdk");
        Sh.ok("qemu-img", "convert", "-f", "raw", "-O", "vmdk", raw.toString(), evidence.toString());
        cut = Files.size(evidence) / 2 / 512 * 512 + 100;
        try (var ch = java.nio.channels.FileChannel.open(evidence, StandardOpenOption.WRITE)) {
            ch.truncate(cut);
        }
        Files.setLastModifiedTime(evidence, FileTime.fromMillis(1_500_000_000_000L));
    }

    @AfterEach
    void cleanup() {
        fuse.cleanup();
    }

    /** The disk as qemu reads the cut file (zeros past its end), as its sha256. */
    private String model() {
        Path out = dir.resolve("model.raw");
        Sh.ok("qemu-img", "convert", "-f", "vmdk", "-O", "raw", evidence.toString(), out.toString());
        return Sh.sha256(out);
    }

    @Test
    void mountReadsZerosPastTheCutAndLeavesTheEvidenceAlone() throws IOException {
        String hash = Sh.sha256(evidence);
        FileTime mtime = Files.getLastModifiedTime(evidence);
        String model = model();
        Path mnt = Files.createDirectory(dir.resolve("mnt"));

        Sh.Result r = fuse.vdmount("--allow-truncated", evidence.toString(), mnt.toString());
        assertEquals(0, r.exit(), r.err());
        List<String> warnings = r.err().lines().filter(l -> l.contains(" is truncated at ")).toList();
        assertEquals(1, warnings.size(), r.err());
        assertTrue(warnings.get(0).startsWith("vdmount: warning: " + evidence + " is truncated at " + cut + " of "),
                warnings.get(0));
        assertEquals(model, Sh.sha256(mnt.resolve("disk")));
        assertEquals(8 * MIB, Files.size(mnt.resolve("disk")));
        fuse.cleanup();

        Sh.Result o = fuse.vdmount("-o", "allow_truncated", evidence.toString(), mnt.toString());
        assertEquals(0, o.exit(), "-o allow_truncated is the option's mount(8) spelling: " + o.err());
        assertEquals(model, Sh.sha256(mnt.resolve("disk")));
        fuse.cleanup();

        assertEquals(hash, Sh.sha256(evidence), "evidence bytes changed");
        assertEquals(mtime, Files.getLastModifiedTime(evidence), "evidence mtime changed");
        assertEquals(cut, Files.size(evidence));
    }

    @Test
    void refusedWithReadWriteAllowedUnderAnOverlay() throws IOException {
        String hash = Sh.sha256(evidence);
        FileTime mtime = Files.getLastModifiedTime(evidence);
        String model = model();
        Path mnt = Files.createDirectory(dir.resolve("mnt"));

        Fuse.assertOneLineFailure(fuse.vdmount("--rw", "--allow-truncated", evidence.toString(), mnt.toString()),
                "cannot be combined with --rw");

        Path overlay = Files.createDirectory(dir.resolve("case")).resolve("case.qcow2");
        Sh.Result r = fuse.vdmount("--allow-truncated", "--overlay", overlay.toString(), evidence.toString(),
                mnt.toString());
        assertEquals(0, r.exit(), r.err());
        assertEquals(1, r.err().lines().filter(l -> l.contains(" is truncated at ")).count(), r.err());
        assertEquals(model, Sh.sha256(mnt.resolve("disk")));
        Sh.ok("dd", "if=/dev/urandom", "of=" + mnt.resolve("disk"), "bs=64k", "count=4", "seek=100",
                "conv=notrunc,fsync", "status=none");
        assertNotEquals(model, Sh.sha256(mnt.resolve("disk")), "the write reads back");
        fuse.cleanup();
        assertEquals(hash, Sh.sha256(evidence), "evidence bytes changed");
        assertEquals(mtime, Files.getLastModifiedTime(evidence), "evidence mtime changed");
        assertTrue(Files.size(overlay) > 0);
    }
}
