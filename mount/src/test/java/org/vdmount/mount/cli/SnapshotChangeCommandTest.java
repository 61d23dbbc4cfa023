package org.vdmount.mount.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * {@code vd snapshot -c/-a/-d} against qemu-img: qemu lists and checks what we create, a raw copy
 * taken at the snapshot compares identical after {@code -a}, {@code vd info} and
 * {@code vd snapshot -l} see what qemu sees, {@code -U} and other formats are refused in one line.
 */
class SnapshotChangeCommandTest {
    @TempDir
    Path dir;

    @Test
    void createApplyDeleteAsQemuImg() throws Exception {
        Tools.require("qemu-img");
        Tools.require("qemu-io");
        Path img = dir.resolve("s.qcow2");
        Tools.run("qemu-img", "create", "-q", "-f", "qcow2", img.toString(), "4M");
        Tools.run("qemu-io", "-f", "qcow2", "-c", "write -P 0x5a 0 1M", img.toString());
        Path atS1 = dir.resolve("s1.raw");
        Tools.run("qemu-img", "convert", "-O", "raw", img.toString(), atS1.toString());

        Cli.Result c = Cli.vd("snapshot", "-c", "s1", img);
        assertEquals(0, c.exit(), c.toString());
        assertEquals("", c.out(), "silent on success, as qemu-img");
        assertTrue(Tools.run("qemu-img", "snapshot", "-l", img.toString()).contains("s1"));
        Tools.run("qemu-img", "check", img.toString()); // exit 0 or Tools.run fails
        Cli.Result dup = Cli.vd("snapshot", "-c", "s1", img);
        assertEquals(1, dup.exit(), dup.toString());
        assertTrue(dup.err().startsWith("vd: ") && dup.err().contains("already has a snapshot named 's1'"),
                dup.toString());
        Cli.Result info = Cli.vd("info", img);
        assertTrue(info.out().contains("s1"), info.toString());

        Tools.run("qemu-io", "-f", "qcow2", "-c", "write -P 0x77 512k 2M", img.toString());
        Cli.Result a = Cli.vd("snapshot", "-a", "s1", img);
        assertEquals(0, a.exit(), a.toString());
        Tools.run("qemu-img", "compare", "-f", "qcow2", "-F", "raw", img.toString(), atS1.toString());
        Tools.run("qemu-img", "check", img.toString());

        Cli.Result shared = Cli.vd("snapshot", "-U", "-d", "s1", img);
        assertEquals(2, shared.exit(), shared.toString());
        assertTrue(shared.err().contains("--force-share cannot be used with snapshot"), shared.toString());
        Cli.Result d = Cli.vd("snapshot", "-d", "1", img);
        assertEquals(0, d.exit(), d.toString());
        assertEquals("", Tools.run("qemu-img", "snapshot", "-l", img.toString()).trim());
        Tools.run("qemu-img", "check", img.toString());
        assertEquals("", Cli.vd("snapshot", "-l", img).out());

        Path raw = dir.resolve("r.raw");
        Files.write(raw, new byte[4096]);
        Cli.Result refused = Cli.vd("snapshot", "-c", "x", raw);
        assertEquals(1, refused.exit(), refused.toString());
        assertEquals("vd: snapshot -c is not supported by raw: " + raw, refused.err().trim());
        assertFalse(refused.err().contains("\tat "), "no stack trace");
    }
}
