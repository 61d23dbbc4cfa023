package org.vdmount.mount.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** {@code vd resize} through the CLI: qemu-img resize as the oracle, refusals in one line, the GPT note. */
class ResizeCommandTest {
    @TempDir
    Path dir;

    @Test
    void growsAndShrinksLikeQemuImg() throws Exception {
        Tools.require("qemu-img");
        Tools.require("qemu-io");
        Path ours = dir.resolve("a.qcow2");
        Path theirs = dir.resolve("b.qcow2");
        Tools.run("qemu-img", "create", "-q", "-f", "qcow2", ours.toString(), "8M");
        Tools.run("qemu-io", "-f", "qcow2", "-c", "write -P 7 1M 2M", ours.toString());
        Files.copy(ours, theirs);

        Cli.Result r = Cli.vd("resize", ours, "+2G");
        assertEquals(0, r.exit(), r.toString());
        assertEquals("Image resized.\n", r.out(), "what qemu-img resize prints");
        Tools.run("qemu-img", "resize", "-q", theirs.toString(), "+2G");
        Tools.run("qemu-img", "compare", "-q", ours.toString(), theirs.toString());
        assertTrue(Tools.run("qemu-img", "check", ours.toString()).contains("No errors"));
        assertTrue(Tools.run("qemu-img", "info", ours.toString()).contains("(2155872256 bytes)"));

        Cli.Result small = Cli.vd("resize", ours, "-2G");
        assertEquals(1, small.exit(), small.toString());
        assertEquals(1, small.errLines().size(), small.toString());
        assertTrue(small.err().startsWith("vd: ") && small.err().contains("use --shrink"), small.toString());

        Cli.Result cut = Cli.vd("resize", "--shrink", ours, "2M");
        assertEquals(1, cut.exit(), cut.toString());
        assertTrue(cut.err().contains("data at offset 2097152"), cut.toString());

        Cli.Result shrink = Cli.vd("resize", "--shrink", "-f", "qcow2", ours, "-2G");
        assertEquals(0, shrink.exit(), shrink.toString());
        Tools.run("qemu-img", "resize", "-q", "--shrink", theirs.toString(), "-2G");
        Tools.run("qemu-img", "compare", "-q", ours.toString(), theirs.toString());
        assertTrue(Tools.run("qemu-img", "check", ours.toString()).contains("No errors"));

        Cli.Result shared = Cli.vd("resize", "-U", ours, "+1M");
        assertEquals(2, shared.exit(), shared.toString());
        assertTrue(shared.err().contains("--force-share cannot be used with resize"), shared.toString());
    }

    @Test
    void saysWhatItCannotDo() throws Exception {
        Tools.require("qemu-img");
        Path old = dir.resolve("old.qcow");
        Tools.run("qemu-img", "create", "-q", "-f", "qcow", old.toString(), "1M");
        Cli.Result r = Cli.vd("resize", old, "+1M");
        assertEquals(1, r.exit(), r.toString());
        assertEquals(1, r.errLines().size(), r.toString());
        assertTrue(r.err().startsWith("vd: resize is not supported by qcow"), r.toString());

        Path vmdk = dir.resolve("d.vmdk");
        Tools.run("qemu-img", "create", "-q", "-f", "vmdk", "-o", "subformat=twoGbMaxExtentSparse",
                vmdk.toString(), "3G");
        Cli.Result v = Cli.vd("resize", vmdk, "+1M");
        assertEquals(1, v.exit(), v.toString());
        assertTrue(v.err().startsWith("vd: resize is not supported by vmdk") && v.err().contains("2 extents"),
                v.toString());

        Path raw = dir.resolve("r.img");
        Files.write(raw, new byte[4096]);
        Cli.Result bad = Cli.vd("resize", raw, "ten");
        assertEquals(1, bad.exit(), bad.toString());
        assertTrue(bad.err().contains("invalid size 'ten'"), bad.toString());

        Cli.Result mode = Cli.vd("resize", "--preallocation=some", raw, "+1M");
        assertEquals(2, mode.exit(), mode.toString());
        assertTrue(mode.err().contains("--preallocation is off, metadata, falloc or full, not 'some'"), mode.toString());
        Cli.Result metadata = Cli.vd("resize", "--preallocation=metadata", raw, "+1M");
        assertEquals(1, metadata.exit(), metadata.toString());
        assertEquals("vd: resize --preallocation=metadata is not supported by raw (off, falloc, full): " + raw,
                metadata.err().strip());
        assertEquals(4096, Files.size(raw), "refused before anything changed");
        Cli.Result full = Cli.vd("resize", "--preallocation=full", raw, "+1M");
        assertEquals(0, full.exit(), full.toString());
        assertEquals(4096 + (1 << 20), Files.size(raw));
        assertTrue(Tools.allocatedBytes(raw) >= 1 << 20, "full writes the grown area");
    }

    @Test
    void aGptDiskIsToldItsBackupHeaderStays() throws Exception {
        Tools.require("sfdisk");
        Path img = dir.resolve("gpt.img");
        Files.write(img, new byte[0]);
        Tools.run("truncate", "-s", "8M", img.toString());
        Tools.run("sh", "-c", "printf 'label: gpt\\n,4M\\n' | sfdisk -q '" + img + "'");
        Cli.Result r = Cli.vd("resize", img, "16M");
        assertEquals(0, r.exit(), r.toString());
        assertEquals(16L << 20, Files.size(img));
        assertTrue(r.out().contains("backup header is NOT moved"), r.toString());
        assertEquals(2, r.out().lines().count(), r.toString());
    }
}
