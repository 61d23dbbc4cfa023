package org.vdmount.mount.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** vd info / convert / create on Parallels image files and bundles, against qemu-img (which reads the image files). */
class ParallelsCliTest {
    private static final String TOP_FILE = ".0.{5fbaabe3-6958-40ff-92a7-860e329aab41}.hds";

    @TempDir
    Path dir;

    @Test
    void qemuImagesInfoAndConversionsBothWays() throws Exception {
        Tools.require("qemu-io");
        Path img = dir.resolve("q.hds");
        Tools.run("qemu-img", "create", "-q", "-f", "parallels", img.toString(), "64M");
        Tools.run("qemu-io", "-f", "parallels", "-c", "write -P 0x61 0 64k", "-c", "write -P 0x62 3000k 2500k",
                "-c", "write -P 0x64 63M 1M", img.toString());
        Map<String, Object> info = InfoTest.assertInfoMatchesQemu(img);
        assertEquals("parallels", info.get("format"));
        Path ours = dir.resolve("ours.raw");
        Path theirs = dir.resolve("theirs.raw");
        assertEquals(0, Cli.vd("convert", img, ours).exit());
        Tools.run("qemu-img", "convert", "-f", "parallels", "-O", "raw", img.toString(), theirs.toString());
        assertEquals(-1, Files.mismatch(theirs, ours));
        Path back = dir.resolve("back.hds");
        Cli.Result r = Cli.vd("convert", "-O", "parallels", "-o", "cluster_size=64k", ours, back);
        assertEquals(0, r.exit(), r.toString());
        Tools.run("qemu-img", "check", "-q", "-f", "parallels", back.toString());
        Tools.run("qemu-img", "compare", "-q", "-f", "parallels", "-F", "parallels", img.toString(), back.toString());
        assertTrue(Files.size(back) < (6L << 20), "sparse: " + Files.size(back));
    }

    @Test
    void bundlesAreCreatedConvertedAndDescribed() throws Exception {
        Tools.require("qemu-img");
        Path src = ConvertTest.mixedSource(dir.resolve("src.raw"), 32L << 20, 21, 9);
        Path bundle = dir.resolve("disk.hdd");
        Cli.Result r = Cli.vd("convert", "-O", "parallels", src, bundle);
        assertEquals(0, r.exit(), r.toString());
        Path hds = bundle.resolve("disk.hdd" + TOP_FILE);
        Tools.run("qemu-img", "check", "-q", "-f", "parallels", hds.toString());
        Tools.run("qemu-img", "compare", "-q", "-f", "raw", "-F", "parallels", src.toString(), hds.toString());
        Map<String, Object> info = InfoTest.infoJson(bundle);
        assertEquals("parallels", info.get("format"));
        assertEquals(32L << 20, ((Number) info.get("virtual-size")).longValue());
        @SuppressWarnings("unchecked")
        List<Map<String, Object>> chain = (List<Map<String, Object>>) info.get("chain");
        assertEquals(1, chain.size());
        assertEquals(2, ((List<?>) chain.get(0).get("files")).size(), chain.toString());
        Path flat = dir.resolve("flat.qcow2");
        assertEquals(0, Cli.vd("convert", "-O", "qcow2", bundle.resolve("DiskDescriptor.xml"), flat).exit());
        Tools.run("qemu-img", "compare", "-q", "-f", "raw", "-F", "qcow2", src.toString(), flat.toString());
        Path made = dir.resolve("made.hdd");
        r = Cli.vd("create", "-f", "parallels", "-o", "subformat=plain", made, "16M");
        assertEquals(0, r.exit(), r.toString());
        assertEquals(16L << 20, Files.size(made.resolve("made.hdd" + TOP_FILE)));
        r = Cli.vd("create", "-f", "parallels", "-o", "subformat=plain", dir.resolve("bare.hds"), "16M");
        assertEquals(1, r.exit(), r.toString());
        assertTrue(r.err().startsWith("vd: parallels: subformat=plain") && r.err().strip().lines().count() == 1, r.err());
    }

    @Test
    void aSnapshotIsAddedToABundleWithBacking() throws Exception {
        Tools.require("qemu-img");
        Path bundle = dir.resolve("vm.hdd");
        assertEquals(0, Cli.vd("create", "-f", "parallels", bundle, "8M").exit());
        Path src = ConvertTest.mixedSource(dir.resolve("src.raw"), 8L << 20, 3, 4);
        // the base's image file replaced by one qemu-img writes: the snapshots stack on qemu's data
        Path base = bundle.resolve("vm.hdd" + TOP_FILE);
        Files.delete(base);
        Tools.run("qemu-img", "convert", "-f", "raw", "-O", "parallels", src.toString(), base.toString());
        Cli.Result r = Cli.vd("create", "-f", "parallels", "-b", ".", bundle.resolve("vm.hdd.1.hds"));
        assertEquals(0, r.exit(), r.toString());
        r = Cli.vd("create", "-f", "parallels", "-b", bundle.toAbsolutePath(), bundle.resolve("vm.hdd.2.hds"));
        assertEquals(0, r.exit(), r.toString());
        Map<String, Object> info = InfoTest.infoJson(bundle);
        @SuppressWarnings("unchecked")
        List<Map<String, Object>> chain = (List<Map<String, Object>>) info.get("chain");
        assertEquals(3, chain.size(), chain.toString());
        assertTrue(chain.get(2).get("filename").toString().endsWith("vm.hdd.2.hds"), chain.toString());
        Path flat = dir.resolve("flat.raw");
        assertEquals(0, Cli.vd("convert", bundle, flat).exit());
        assertEquals(-1, Files.mismatch(src, flat));
        r = Cli.vd("create", "-f", "parallels", "-b", bundle.toAbsolutePath(), dir.resolve("outside.hds"));
        assertEquals(1, r.exit(), r.toString());
        assertTrue(r.err().contains("must lie in the bundle"), r.err());
    }
}
