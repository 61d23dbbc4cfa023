package org.vdmount.mount.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** {@code vd commit} through the CLI: exit codes, one-line refusals, and qemu-img as the oracle. */
class CommitCommandTest {
    @TempDir
    Path dir;

    @Test
    void commitsIntoTheBackingFileLikeQemuImg() throws Exception {
        Tools.require("qemu-img");
        Tools.require("qemu-io");
        for (String side : new String[] {"a", "b"}) {
            Path d = dir.resolve(side);
            java.nio.file.Files.createDirectories(d);
            Tools.run("qemu-img", "create", "-q", "-f", "qcow2", d.resolve("base.qcow2").toString(), "8M");
            Tools.run("qemu-io", "-f", "qcow2", "-c", "write -P 1 0 3M", d.resolve("base.qcow2").toString());
            Tools.run("qemu-img", "create", "-q", "-f", "qcow2", "-b", "base.qcow2", "-F", "qcow2",
                    d.resolve("top.qcow2").toString());
            Tools.run("qemu-io", "-f", "qcow2", "-c", "write -P 2 1M 100k", "-c", "write -z 2M 64k",
                    d.resolve("top.qcow2").toString());
        }
        Cli.Result wrong = Cli.vd("commit", "-f", "vdi", dir.resolve("a/top.qcow2"));
        assertEquals(1, wrong.exit(), wrong.toString()); // -f names IMAGE's format: a qcow2 is not read as VDI
        Cli.Result r = Cli.vd("commit", "-d", "-f", "qcow2", dir.resolve("a/top.qcow2")); // qemu-img's spelling
        assertEquals(0, r.exit(), r.toString());
        assertEquals("", r.out() + r.err(), "quiet without a terminal");
        Tools.run("qemu-img", "commit", "-q", "-d", dir.resolve("b/top.qcow2").toString());
        Tools.run("qemu-img", "compare", "-q", dir.resolve("a/base.qcow2").toString(),
                dir.resolve("b/base.qcow2").toString());
        Tools.run("qemu-img", "compare", "-q", dir.resolve("a/top.qcow2").toString(),
                dir.resolve("b/top.qcow2").toString());
        assertTrue(Tools.run("qemu-img", "check", dir.resolve("a/base.qcow2").toString()).contains("No errors"));

        Cli.Result base = Cli.vd("commit", dir.resolve("a/base.qcow2"));
        assertEquals(1, base.exit(), base.toString());
        assertEquals(1, base.errLines().size(), base.toString());
        assertTrue(base.err().startsWith("vd: ") && base.err().contains("no backing file"), base.toString());

        Cli.Result shared = Cli.vd("commit", "-U", dir.resolve("a/top.qcow2"));
        assertEquals(2, shared.exit(), shared.toString());
        assertTrue(shared.err().contains("--force-share cannot be used with commit"), shared.toString());
    }
}
