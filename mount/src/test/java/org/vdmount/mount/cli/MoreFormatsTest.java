package org.vdmount.mount.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.ByteBuffer;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.Random;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;
import org.vdmount.vd.Disk;
import org.vdmount.vd.OpenOptions;

/**
 * vd info / convert / create on the other formats the library writes (VMDK, VHDX, QCOW2, QED,
 * QCOW), each against qemu-img: info, conversions both ways, and differencing chains (flattened
 * by qemu-img itself where QEMU reads the child; QEMU refuses VHDX differencing disks).
 */
class MoreFormatsTest {
    @TempDir
    Path dir;

    private Path qemuImage(String fmt, String name) throws Exception {
        Tools.require("qemu-io");
        Path img = dir.resolve(name);
        Tools.run("qemu-img", "create", "-q", "-f", fmt, img.toString(), "64M");
        Tools.run("qemu-io", "-f", fmt, "-c", "write -P 0x61 0 64k", "-c", "write -P 0x62 3000k 2500k",
                "-c", "write -P 0 50M 1M", "-c", "write -P 0x64 63M 1M", img.toString());
        return img;
    }

    /** qemu-img check where QEMU has one for the format (exit 63: "does not support checks"). */
    private static void qemuCheck(String fmt, Path img) throws Exception {
        Tools.Output o = Tools.exec(List.of("qemu-img", "check", "-q", "-f", fmt, img.toString()));
        assertTrue(o.exit() == 0 || o.exit() == 63 && o.err().contains("does not support checks"),
                "qemu-img check " + img + ": " + o.out() + o.err());
    }

    @ParameterizedTest
    @ValueSource(strings = {"vmdk", "vhdx", "qcow2", "qed", "qcow"})
    void qemuImagesInfoAndConversionToRaw(String fmt) throws Exception {
        Path img = qemuImage(fmt, "q." + fmt);
        Map<String, Object> info = InfoTest.assertInfoMatchesQemu(img);
        assertEquals(fmt, info.get("format"));
        Path ours = dir.resolve("ours.raw");
        Path theirs = dir.resolve("theirs.raw");
        Cli.Result r = Cli.vd("convert", img, ours);
        assertEquals(0, r.exit(), r.toString());
        Tools.run("qemu-img", "convert", "-f", fmt, "-O", "raw", img.toString(), theirs.toString());
        assertEquals(-1, Files.mismatch(theirs, ours));
        assertTrue(Tools.allocatedBytes(ours) <= (4L << 20) + (64 << 10), "sparse: " + Tools.allocatedBytes(ours));
    }

    @ParameterizedTest
    @ValueSource(strings = {"vmdk", "vhdx", "qcow2", "qed", "qcow"})
    void conversionFromRawPassesQemuCompare(String fmt) throws Exception {
        Tools.require("qemu-img");
        Path src = ConvertTest.mixedSource(dir.resolve("src.raw"), 64L << 20, 21, 9);
        Path out = dir.resolve("out." + fmt);
        Cli.Result r = Cli.vd("convert", "-O", fmt, src, out);
        assertEquals(0, r.exit(), r.toString());
        qemuCheck(fmt, out);
        Tools.run("qemu-img", "compare", "-q", "-f", "raw", "-F", fmt, src.toString(), out.toString());
        InfoTest.assertInfoMatchesQemu(out);
        assertTrue(Tools.allocatedBytes(out) < Tools.allocatedBytes(src) + (8 << 20), "no zeros written");
    }

    @ParameterizedTest
    @ValueSource(strings = {"vmdk", "vhdx", "qcow2", "qed", "qcow"})
    void differencingChainsFlattenLikeQemu(String fmt) throws Exception {
        Path base = qemuImage(fmt, "base." + fmt);
        Path child = dir.resolve("child." + fmt);
        Cli.Result r = Cli.vd("create", "-f", fmt, "-b", base, child);
        assertEquals(0, r.exit(), r.toString());
        assertEquals("", r.err());
        Map<String, Object> info = InfoTest.infoJson(child);
        List<Map<String, Object>> chain = InfoTest.chain(info);
        assertEquals(2, chain.size(), info.toString());
        assertTrue(Files.isSameFile(base, Path.of((String) chain.get(0).get("filename"))));
        assertEquals(Tools.qemuInfo(base).get("virtual-size"), info.get("virtual-size"));

        Path expected = dir.resolve("expected.raw");
        Tools.run("qemu-img", "convert", "-f", fmt, "-O", "raw", base.toString(), expected.toString());
        Random rnd = new Random(fmt.hashCode());
        try (Disk disk = Disk.open(child, OpenOptions.defaultReadWrite());
             java.nio.channels.FileChannel model = java.nio.channels.FileChannel.open(expected,
                     java.nio.file.StandardOpenOption.WRITE)) {
            long[][] writes = {{3000L << 10, 7000}, {(50L << 20) + 512, 100_000}, {(64L << 20) - 777, 777}};
            for (long[] w : writes) {
                byte[] data = new byte[(int) w[1]];
                rnd.nextBytes(data);
                disk.write(w[0], ByteBuffer.wrap(data));
                model.write(ByteBuffer.wrap(data), w[0]);
            }
        }
        Path flat = dir.resolve("flat.raw");
        r = Cli.vd("convert", child, flat);
        assertEquals(0, r.exit(), r.toString());
        assertEquals(-1, Files.mismatch(expected, flat), "flattened chain equals base + writes");
        if (!fmt.equals("vhdx")) {
            Path byQemu = dir.resolve("qemu-flat.raw");
            Tools.run("qemu-img", "convert", "-f", fmt, "-O", "raw", child.toString(), byQemu.toString());
            assertEquals(-1, Files.mismatch(byQemu, flat), "qemu-img flattens the chain the same way");
        }
    }
}
