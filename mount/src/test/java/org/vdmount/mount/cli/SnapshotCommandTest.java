package org.vdmount.mount.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** {@code vd snapshot -l} against {@code qemu-img snapshot -l}: the same rows (ID, TAG, VM SIZE, DATE, VM CLOCK). */
class SnapshotCommandTest {
    @TempDir
    Path dir;

    @Test
    void listsWhatQemuImgLists() throws Exception {
        Tools.require("qemu-img");
        Path img = dir.resolve("s.qcow2");
        Tools.run("qemu-img", "create", "-q", "-f", "qcow2", img.toString(), "4M");
        Cli.Result none = Cli.vd("snapshot", "-l", img);
        assertEquals(0, none.exit(), none.toString());
        assertEquals("", none.out(), "no snapshots: nothing, as qemu-img");
        Tools.run("qemu-img", "snapshot", "-c", "first", img.toString());
        Tools.run("qemu-img", "snapshot", "-c", "second one", img.toString());
        Cli.Result r = Cli.vd("snapshot", "-l", img);
        assertEquals(0, r.exit(), r.toString());
        List<String> ours = List.of(r.out().split("\n"));
        List<String> qemu = List.of(Tools.run("qemu-img", "snapshot", "-l", img.toString()).split("\n"));
        assertEquals("Snapshot list:", ours.get(0));
        assertEquals(qemu.size(), ours.size(), r.out() + "\nqemu:\n" + String.join("\n", qemu));
        for (int i = 2; i < qemu.size(); i++) {
            List<String> q = List.of(qemu.get(i).trim().split("\\s{2,}"));
            List<String> o = List.of(ours.get(i).trim().split("\\s{2,}"));
            assertEquals(q.get(0).split("\\s+")[0], o.get(0).split("\\s+")[0], "ID");
            assertTrue(ours.get(i).contains(i == 2 ? "first" : "second one"), ours.get(i));
            assertTrue(qemu.get(i).contains(ours.get(i).substring(ours.get(i).length() - 32).trim()),
                    "date and VM clock as qemu-img prints them: " + qemu.get(i) + " / " + ours.get(i));
        }
        Path raw = dir.resolve("r.raw");
        java.nio.file.Files.write(raw, new byte[4096]);
        Cli.Result refused = Cli.vd("snapshot", "-l", raw);
        assertEquals(1, refused.exit(), refused.toString());
        assertTrue(refused.err().contains("no internal snapshots"), refused.toString());
    }
}
