package org.vdmount.mount.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** {@code vd rebase} through the CLI: qemu-img rebase as the oracle, relative NEW, refusals. */
class RebaseCommandTest {
    @TempDir
    Path dir;

    @Test
    void rebasesLikeQemuImgWithNewRelativeToTheImagesDirectory() throws Exception {
        Tools.require("qemu-img");
        Tools.require("qemu-io");
        for (String side : new String[] {"a", "b", "orig"}) {
            Path d = Files.createDirectories(dir.resolve(side).resolve("sub"));
            Path old = d.resolve("old.qcow2");
            Path nw = d.resolve("new.qcow2");
            Tools.run("qemu-img", "create", "-q", "-f", "qcow2", old.toString(), "8M");
            Tools.run("qemu-io", "-f", "qcow2", "-c", "write -P 1 0 3M", "-c", "write -P 5 6M 1M", old.toString());
            Tools.run("qemu-img", "create", "-q", "-f", "qcow2", nw.toString(), "8M");
            Tools.run("qemu-io", "-f", "qcow2", "-c", "write -P 1 0 1M", "-c", "write -P 3 1M 3M", nw.toString());
            Tools.run("qemu-img", "create", "-q", "-f", "qcow2", "-b", "old.qcow2", "-F", "qcow2",
                    d.resolve("top.qcow2").toString());
            Tools.run("qemu-io", "-f", "qcow2", "-c", "write -P 2 512k 100k", "-c", "write -z 2M 64k",
                    d.resolve("top.qcow2").toString());
        }
        Path top = dir.resolve("a/sub/top.qcow2");
        Cli.Result r = Cli.vd("rebase", "-b", "new.qcow2", "-F", "qcow2", top);
        assertEquals(0, r.exit(), r.toString());
        assertEquals("", r.out() + r.err(), "quiet without a terminal");
        Tools.run("qemu-img", "rebase", "-b", "new.qcow2", "-F", "qcow2", dir.resolve("b/sub/top.qcow2").toString());
        Tools.run("qemu-img", "compare", "-q", top.toString(), dir.resolve("b/sub/top.qcow2").toString());
        Tools.run("qemu-img", "compare", "-q", top.toString(), dir.resolve("orig/sub/top.qcow2").toString());
        String info = Tools.run("qemu-img", "info", "--backing-chain", top.toString());
        assertTrue(info.contains("backing file: new.qcow2") && info.contains("backing file format: qcow2"), info);
        assertTrue(Tools.run("qemu-img", "check", top.toString()).contains("No errors"));
        assertEquals(0, Cli.vd("compare", top, dir.resolve("orig/sub/top.qcow2")).exit());

        // -b "": standalone, still the same contents
        Cli.Result alone = Cli.vd("rebase", "-b", "", top);
        assertEquals(0, alone.exit(), alone.toString());
        assertTrue(!Tools.run("qemu-img", "info", top.toString()).contains("backing file"));
        Tools.run("qemu-img", "compare", "-q", top.toString(), dir.resolve("orig/sub/top.qcow2").toString());

        // -u: only the reference; the contents now show the other backing file, as with qemu-img -u
        Path t2 = dir.resolve("b/sub/top.qcow2");
        assertEquals(0, Cli.vd("rebase", "-u", "-b", "old.qcow2", t2).exit());
        Tools.run("qemu-img", "rebase", "-u", "-b", "old.qcow2", "-F", "qcow2",
                dir.resolve("orig/sub/top.qcow2").toString());
        Tools.run("qemu-img", "compare", "-q", t2.toString(), dir.resolve("orig/sub/top.qcow2").toString());
    }

    @Test
    void refusals() throws Exception {
        Path base = dir.resolve("base.vdi");
        Path child = dir.resolve("child.vdi");
        assertEquals(0, Cli.vd("create", "-f", "vdi", base, "1M").exit());
        assertEquals(0, Cli.vd("create", "-f", "vdi", "-b", "base.vdi", child).exit());
        Cli.Result cycle = Cli.vd("rebase", "-b", "child.vdi", base);
        assertEquals(1, cycle.exit(), cycle.toString());
        assertEquals(1, cycle.errLines().size(), cycle.toString());
        assertTrue(cycle.err().startsWith("vd: ") && cycle.err().contains("cycle"), cycle.toString());
        Cli.Result missing = Cli.vd("rebase", "-b", "gone.vdi", child);
        assertEquals(1, missing.exit(), missing.toString());
        assertEquals(1, missing.errLines().size(), missing.toString());
        assertTrue(missing.err().contains("gone.vdi"), missing.toString());
        Cli.Result shared = Cli.vd("rebase", "-U", "-b", "", child);
        assertEquals(2, shared.exit(), shared.toString());
        assertTrue(shared.err().contains("--force-share cannot be used with rebase"), shared.toString());
        Cli.Result noB = Cli.vd("rebase", child);
        assertEquals(2, noB.exit(), noB.toString());
    }
}
