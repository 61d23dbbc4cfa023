package org.vdmount.mount.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class CreateTest {
    @TempDir
    Path dir;

    @Test
    void rawSizesAgreeWithQemuImgCreate() throws Exception {
        Tools.require("qemu-img");
        int n = 0;
        for (String size : List.of("0", "512", "4096", "1k", "1.5M", "100M", "10G", "2T")) {
            Path ours = dir.resolve("vd" + n + ".raw");
            Path theirs = dir.resolve("qemu" + n++ + ".raw");
            Cli.Result r = Cli.vd("create", "-f", "raw", ours, size);
            assertEquals(0, r.exit(), r.toString());
            assertEquals("", r.out() + r.err());
            Tools.run("qemu-img", "create", "-q", "-f", "raw", theirs.toString(), size);
            assertEquals(Files.size(theirs), Files.size(ours), size);
            assertEquals(Tools.qemuInfo(theirs).get("virtual-size"), Tools.qemuInfo(ours).get("virtual-size"));
            assertTrue(Tools.allocatedBytes(ours) <= 4096, "a new raw image is sparse");
        }
    }

    @Test
    void formatOptionsReachTheFormat() throws Exception {
        Path img = dir.resolve("full.raw");
        Cli.Result r = Cli.vd("create", "-f", "raw", "-o", "preallocation=full", img, "3M");
        assertEquals(0, r.exit(), r.toString());
        assertEquals(3L << 20, Files.size(img));
        assertTrue(Tools.allocatedBytes(img) >= 3L << 20, "preallocation=full allocates");
        // falloc reserves the space (as qemu-img's falloc: fallocate, nothing written) and reads as zeros
        Path falloc = dir.resolve("falloc.raw");
        Cli.Result f = Cli.vd("create", "-f", "raw", "-o", "preallocation=falloc", falloc, "5M");
        assertEquals(0, f.exit(), f.toString());
        assertEquals(5L << 20, Files.size(falloc));
        assertTrue(Tools.allocatedBytes(falloc) >= 5L << 20, "preallocation=falloc reserves");
        assertTrue(java.util.Arrays.equals(new byte[5 << 20], Files.readAllBytes(falloc)));
    }

    @Test
    void createdImageShowsInInfo() throws Exception {
        Path img = dir.resolve("new.raw");
        assertEquals(0, Cli.vd("-v", "create", "-f", "RAW", img, "64M").exit());
        Map<String, Object> info = InfoTest.infoJson(img);
        assertEquals("raw", info.get("format"));
        assertEquals(64L << 20, info.get("virtual-size"));
    }

    @Test
    void verboseSaysWhatWasCreated() {
        Path img = dir.resolve("v.raw");
        Cli.Result r = Cli.vd("create", "-v", "-f", "raw", img, "2G");
        assertEquals(0, r.exit(), r.toString());
        assertEquals(List.of("vd: created " + img + ": raw, 2.0 GiB (2147483648 bytes)"), r.errLines());
    }

    /**
     * qemu-img's generic -o keys: backing_file= and backing_fmt= are -b and -F, size= is SIZE
     * (qemu-img info reads the result); a key and its flag that disagree are a usage error.
     */
    @Test
    void backingFileBackingFmtAndSizeAsFormatOptions() throws Exception {
        Tools.require("qemu-img");
        Path base = dir.resolve("base.qcow2");
        Tools.run("qemu-img", "create", "-q", "-f", "qcow2", base.toString(), "6M");
        Path top = dir.resolve("top.qcow2");
        Cli.Result r = Cli.vd("create", "-f", "qcow2", "-o", "backing_file=base.qcow2,backing_fmt=qcow2", top);
        assertEquals(0, r.exit(), r.toString());
        Map<String, Object> info = Tools.qemuInfo(top);
        assertEquals("base.qcow2", info.get("backing-filename"));
        assertEquals("qcow2", info.get("backing-filename-format"));
        assertEquals(6L << 20, ((Number) info.get("virtual-size")).longValue());
        Path sized = dir.resolve("sized.qcow2");
        assertEquals(0, Cli.vd("create", "-f", "qcow2", "-o", "size=3M,cluster_size=4k", sized).exit());
        assertEquals(3L << 20, ((Number) Tools.qemuInfo(sized).get("virtual-size")).longValue());
        Cli.Result clash = Cli.vd("create", "-f", "qcow2", "-o", "size=3M", dir.resolve("clash.qcow2"), "4M");
        assertEquals(2, clash.exit(), clash.toString());
        assertTrue(clash.err().contains("-o size=3M and SIZE 4M disagree"), clash.toString());
        assertFalse(Files.exists(dir.resolve("clash.qcow2")));
    }
}
