package org.vdmount.mount.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
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

/** vd info / convert / create on VDI and VHD, with qemu-img as the oracle where it can read. */
class FormatsTest {
    @TempDir
    Path dir;

    static String qemu(String fmt) {
        return InfoTest.qemuName(fmt);
    }

    /**
     * The image's structure checked by an independent tool: {@code qemu-img check} for VDI; QEMU
     * has no check for VHD, so libvhdi's {@code vhdiinfo} must open it and agree on size and
     * identifier.
     */
    static void checkStructure(String fmt, Path img) throws Exception {
        if (fmt.equals("vhd")) {
            Tools.require("vhdiinfo");
            String out = Tools.run("vhdiinfo", img.toString());
            Map<String, Object> info = InfoTest.infoJson(img);
            assertTrue(out.contains("(" + info.get("virtual-size") + " bytes)"), out);
            Map<String, Object> top = InfoTest.chain(info).get(InfoTest.chain(info).size() - 1);
            assertTrue(out.contains(": " + top.get("uuid")), out);
        } else {
            Tools.run("qemu-img", "check", "-q", "-f", qemu(fmt), img.toString());
        }
    }

    /** A qemu-made image with data in a few places, some unaligned. */
    private Path qemuImage(String fmt, String name, String qemuOptions) throws Exception {
        Tools.require("qemu-io");
        Path img = dir.resolve(name);
        if (qemuOptions.isEmpty()) {
            Tools.run("qemu-img", "create", "-q", "-f", qemu(fmt), img.toString(), "64M");
        } else {
            Tools.run("qemu-img", "create", "-q", "-f", qemu(fmt), "-o", qemuOptions, img.toString(), "64M");
        }
        Tools.run("qemu-io", "-f", qemu(fmt), "-c", "write -P 0x61 0 64k", "-c", "write -P 0x62 3000k 2500k",
                "-c", "write -P 0x63 40M 512", "-c", "write -P 0 50M 1M", "-c", "write -P 0x64 63M 1M",
                img.toString());
        return img;
    }

    @ParameterizedTest
    @ValueSource(strings = {"vdi", "vhd"})
    void infoOfQemuImagesMatchesQemuImgInfo(String fmt) throws Exception {
        String fixed = fmt.equals("vdi") ? "static=on" : "subformat=fixed";
        for (String opts : List.of("", fixed)) {
            Path img = qemuImage(fmt, "q" + opts.length() + "." + fmt, opts);
            Map<String, Object> info = InfoTest.assertInfoMatchesQemu(img);
            assertEquals(fmt, info.get("format"));
            assertEquals(opts.isEmpty() ? "dynamic" : "fixed", info.get("variant"));
            List<Map<String, Object>> chain = InfoTest.chain(info);
            assertEquals(1, chain.size());
            assertNotNull(chain.get(0).get("uuid"), "formats with an identity report it");
            assertEquals(null, chain.get(0).get("parent-uuid"));

            Cli.Result human = Cli.vd("info", img);
            assertEquals(0, human.exit(), human.toString());
            assertTrue(human.out().contains("format:        " + fmt + " (" + info.get("variant") + ")"), human.out());
            assertTrue(human.out().matches("(?s).*\n +uuid: +" + chain.get(0).get("uuid") + "\n.*"), human.out());
        }
    }

    @ParameterizedTest
    @ValueSource(strings = {"vdi", "vhd"})
    void convertFromRawPassesQemuCheckAndCompare(String fmt) throws Exception {
        Tools.require("qemu-img");
        long size = 64L << 20;
        Path src = ConvertTest.mixedSource(dir.resolve("src.raw"), size, 11, 9);
        Path out = dir.resolve("out." + fmt);
        Cli.Result r = Cli.vd("convert", "-O", fmt, src, out);
        assertEquals(0, r.exit(), r.toString());
        checkStructure(fmt, out);
        Tools.run("qemu-img", "compare", "-q", "-f", "raw", "-F", qemu(fmt), src.toString(), out.toString());
        long allocated = Tools.allocatedBytes(out);
        long blockBytes = 2 << 20; // the larger default block of the two formats (VHD 2 MiB, VDI 1 MiB)
        long bound = ConvertTest.nonZeroGrainBytes(src, (int) blockBytes) + (1 << 20);
        assertTrue(allocated <= bound, "sparse " + fmt + ": " + allocated + " > " + bound);
        assertTrue(bound < size / 2, "the source leaves most blocks empty: " + bound);
        assertEquals(Tools.qemuInfo(out).get("virtual-size"), InfoTest.infoJson(out).get("virtual-size"));
    }

    @ParameterizedTest
    @ValueSource(strings = {"vdi", "vhd"})
    void convertToRawEqualsQemuImgConvert(String fmt) throws Exception {
        Path img = qemuImage(fmt, "c." + fmt, "");
        Path ours = dir.resolve("ours.raw");
        Path theirs = dir.resolve("theirs.raw");
        Cli.Result r = Cli.vd("convert", img, ours);
        assertEquals(0, r.exit(), r.toString());
        Tools.run("qemu-img", "convert", "-f", qemu(fmt), "-O", "raw", img.toString(), theirs.toString());
        assertEquals(Files.size(theirs), Files.size(ours));
        assertEquals(-1, Files.mismatch(theirs, ours));
        assertTrue(Tools.allocatedBytes(ours) <= (4L << 20) + (64 << 10), "sparse: " + Tools.allocatedBytes(ours));
    }

    @ParameterizedTest
    @ValueSource(strings = {"vdi", "vhd"})
    void createBaseAndDifferencingImages(String fmt) throws Exception {
        Tools.require("qemu-img");
        Path base = dir.resolve("base." + fmt);
        Cli.Result r = Cli.vd("create", "-f", fmt, base, "100M");
        assertEquals(0, r.exit(), r.toString());
        assertEquals("", r.err());
        Map<String, Object> baseInfo = InfoTest.assertInfoMatchesQemu(base);
        long size = (Long) baseInfo.get("virtual-size");
        assertTrue(size >= 100L << 20 && size < (100L << 20) + (8 << 20), "size " + size);

        Path child = dir.resolve("child." + fmt);
        r = Cli.vd("create", "-f", fmt, "-b", base, child);
        assertEquals(0, r.exit(), r.toString());
        assertEquals("", r.err(), "the new chain opens without warnings");
        Map<String, Object> info = InfoTest.infoJson(child);
        List<Map<String, Object>> chain = InfoTest.chain(info);
        assertEquals(2, chain.size(), info.toString());
        assertTrue(Files.isSameFile(base, Path.of((String) chain.get(0).get("filename"))));
        assertEquals(child.toString(), chain.get(1).get("filename"));
        assertEquals("differencing", chain.get(1).get("variant"));
        assertEquals(chain.get(0).get("uuid"), chain.get(1).get("parent-uuid"), "child links to its parent");
        assertEquals(size, info.get("virtual-size"), "SIZE omitted with -b: the parent's size");
        if (fmt.equals("vhd")) {
            // QEMU reads a differencing VHD as if it were dynamic, enough to see its size
            assertEquals(size, Tools.qemuInfo(child).get("virtual-size"));
        }

        Path grandchild = dir.resolve("grandchild." + fmt);
        r = Cli.vd("create", "-f", fmt, "-F", fmt, "-b", child, grandchild, Long.toString(size));
        assertEquals(0, r.exit(), r.toString());
        assertEquals(3, InfoTest.chain(InfoTest.infoJson(grandchild)).size());
        Cli.Result human = Cli.vd("info", grandchild);
        assertTrue(human.out().contains("  [1] " + base) && human.out().contains("  [3] " + grandchild), human.out());
    }

    @ParameterizedTest
    @ValueSource(strings = {"vdi", "vhd"})
    void convertFlattensAChain(String fmt) throws Exception {
        Path base = qemuImage(fmt, "base." + fmt, "");
        Path child = dir.resolve("child." + fmt);
        assertEquals(0, Cli.vd("create", "-f", fmt, "-b", base, child).exit());
        Path expected = dir.resolve("expected.raw");
        Tools.run("qemu-img", "convert", "-f", qemu(fmt), "-O", "raw", base.toString(), expected.toString());

        // writes into the child through the library, mirrored into the expected flat image
        Random rnd = new Random(fmt.hashCode());
        try (Disk disk = Disk.open(child, OpenOptions.defaultReadWrite());
             java.nio.channels.FileChannel model = java.nio.channels.FileChannel.open(expected,
                     java.nio.file.StandardOpenOption.WRITE)) {
            long[][] writes = {{3000L << 10, 7000}, {40L << 20, 4096}, {(50L << 20) + 512, 100_000},
                               {(64L << 20) - 777, 777}, {10L << 20, 3 << 20}};
            for (long[] w : writes) {
                byte[] data = new byte[(int) w[1]];
                rnd.nextBytes(data);
                disk.write(w[0], ByteBuffer.wrap(data));
                model.write(ByteBuffer.wrap(data), w[0]);
            }
            // zeros over parent data must stay zeros in the flattened copy
            disk.write(0, ByteBuffer.allocate(8192));
            model.write(ByteBuffer.allocate(8192), 0);
        }

        Path flat = dir.resolve("flat.raw");
        Cli.Result r = Cli.vd("convert", child, flat);
        assertEquals(0, r.exit(), r.toString());
        assertEquals(-1, Files.mismatch(expected, flat), "flattened chain");

        Path same = dir.resolve("flat." + fmt);
        r = Cli.vd("convert", "-O", fmt, child, same);
        assertEquals(0, r.exit(), r.toString());
        assertEquals(1, InfoTest.chain(InfoTest.infoJson(same)).size(), "the output has no parent");
        checkStructure(fmt, same);
        Tools.run("qemu-img", "compare", "-q", "-f", "raw", "-F", qemu(fmt), expected.toString(), same.toString());
    }

    @ParameterizedTest
    @ValueSource(strings = {"vdi", "vhd"})
    void parentDirFindsAMovedParent(String fmt) throws Exception {
        Path base = dir.resolve("base." + fmt);
        Path child = dir.resolve("child." + fmt);
        assertEquals(0, Cli.vd("create", "-f", fmt, base, "16M").exit());
        assertEquals(0, Cli.vd("create", "-f", fmt, "-b", base, child).exit());
        Path elsewhere = Files.createDirectory(dir.resolve("parents"));
        Files.move(base, elsewhere.resolve(base.getFileName()));

        Cli.Result lost = Cli.vd("info", child);
        assertEquals(1, lost.exit());
        assertEquals(1, lost.errLines().size(), lost.toString());
        assertTrue(lost.errLines().get(0).startsWith("vd: ") && lost.err().contains("--parent-dir"), lost.err());

        for (Object[] args : List.of(new Object[] {"info", "--json", "--parent-dir", elsewhere, child},
                new Object[] {"--parent-dir", elsewhere, "info", "--json", child})) {
            Cli.Result found = Cli.vd(args);
            assertEquals(0, found.exit(), found.toString());
            @SuppressWarnings("unchecked")
            Map<String, Object> info = (Map<String, Object>) JsonParser.parse(found.out());
            assertEquals(2, InfoTest.chain(info).size());
        }
        Cli.Result convert = Cli.vd("convert", "--parent-dir", elsewhere, child, dir.resolve("x.raw"));
        assertEquals(0, convert.exit(), convert.toString());
        Cli.Result create = Cli.vd("create", "-f", fmt, "--parent-dir", elsewhere, "-b", child,
                dir.resolve("gc." + fmt));
        assertEquals(0, create.exit(), create.toString());
    }

    @ParameterizedTest
    @ValueSource(strings = {"vdi", "vhd"})
    void formatErrorsAreOneLine(String fmt) throws Exception {
        Path base = dir.resolve("b." + fmt);
        assertEquals(0, Cli.vd("create", "-f", fmt, base, "8M").exit());
        Path out = dir.resolve("out." + fmt);
        String other = fmt.equals("vdi") ? "vhd" : "vdi";
        List<Object[]> cases = List.of(
                new Object[] {"create", "-f", fmt, "-o", "nosuchoption=1", out, "1M"},
                new Object[] {"create", "-f", fmt, "-b", dir.resolve("missing." + fmt), out},
                new Object[] {"create", "-f", fmt, "-F", other, "-b", base, out},
                new Object[] {"convert", "-O", fmt, "-o", "nosuchoption=1", base, out},
                new Object[] {"info", dir.resolve("missing." + fmt)});
        for (Object[] args : cases) {
            Cli.Result r = Cli.vd(args);
            assertEquals(1, r.exit(), List.of(args) + " " + r);
            assertEquals(1, r.errLines().size(), List.of(args) + " " + r);
            assertTrue(r.errLines().get(0).startsWith("vd: ") && !r.err().contains("Exception"), r.toString());
            assertTrue(!Files.exists(out), "nothing left behind by " + List.of(args));
        }
        Files.write(dir.resolve("garbage." + fmt), new byte[] {1, 2, 3});
        Cli.Result r = Cli.vd("create", "-f", fmt, "-F", fmt, "-b", dir.resolve("garbage." + fmt), out);
        assertEquals(1, r.exit(), r.toString());
        assertEquals(1, r.errLines().size(), r.toString());
    }

    @ParameterizedTest
    @ValueSource(strings = {"vdi", "vhd"})
    void partitionsAreReadThroughTheContainer(String fmt) throws Exception {
        Path img = PartitionsTest.disk(dir, "gpt.raw", PartitionsTest.GPT_SCRIPT);
        List<List<Object>> onRaw = PartitionsTest.vd(InfoTest.infoJson(img));
        assertEquals(3, onRaw.size());
        Path converted = dir.resolve("gpt." + fmt);
        Cli.Result r = Cli.vd("convert", "-O", fmt, img, converted);
        assertEquals(0, r.exit(), r.toString());
        Map<String, Object> through = InfoTest.infoJson(converted);
        assertEquals(fmt, through.get("format"));
        assertEquals("gpt", through.get("partition-scheme"));
        assertEquals(onRaw, PartitionsTest.vd(through), "partitions read through " + fmt);
    }

    @org.junit.jupiter.api.Test
    void warningsFollowSuccessAndAFailureStaysOneLine() throws Exception {
        Path img = qemuImage("vdi", "cut.vdi", "");
        long size = Files.size(img);
        try (java.nio.channels.FileChannel ch = java.nio.channels.FileChannel.open(img,
                java.nio.file.StandardOpenOption.WRITE)) {
            ch.truncate(size - 1000); // the last data block now ends past the end of the file
        }
        Cli.Result info = Cli.vd("info", "--json", img);
        assertEquals(0, info.exit(), info.toString());
        assertTrue(!info.errLines().isEmpty(), "the truncation is reported");
        assertTrue(info.errLines().stream().allMatch(l -> l.startsWith("vd: warning: vdi: ")), info.err());
        JsonParser.parse(info.out());

        Path out = dir.resolve("cut.raw");
        Cli.Result convert = Cli.vd("convert", img, out);
        assertEquals(1, convert.exit(), convert.toString());
        assertEquals(1, convert.errLines().size(), "no warnings before the one error line: " + convert.err());
        assertTrue(convert.err().startsWith("vd: vdi: "), convert.err());
        assertTrue(!Files.exists(out));

        Cli.Result verbose = Cli.vd("-v", "convert", img, out);
        assertEquals(1, verbose.exit());
        assertEquals(info.errLines(), verbose.errLines().subList(0, info.errLines().size()), "-v keeps the warnings");
        assertEquals(convert.errLines().get(0), verbose.errLines().get(info.errLines().size()));
        assertTrue(!Files.exists(out));
    }

    @org.junit.jupiter.api.Test
    @SuppressWarnings("unchecked")
    void parentOverridesForForensicUse() throws Exception {
        Path elsewhere = Files.createDirectory(dir.resolve("elsewhere"));
        Path base = elsewhere.resolve("base.vhd");
        assertEquals(0, Cli.vd("create", "-f", "vhd", base, "8M").exit());
        Path child = Files.createDirectory(dir.resolve("children")).resolve("child.vhd");
        assertEquals(0, Cli.vd("create", "-f", "vhd", "-b", base, child).exit());

        // the parent (in a sibling directory) is reachable only through the absolute locator the child records
        Cli.Result refused = Cli.vd("info", child);
        assertEquals(1, refused.exit(), refused.toString());
        assertEquals(1, refused.errLines().size());
        for (Object[] args : List.of(new Object[] {"info", "--allow-absolute-parents", child},
                new Object[] {"--allow-absolute-parents", "convert", child, dir.resolve("c.raw")})) {
            Cli.Result r = Cli.vd(args);
            assertEquals(0, r.exit(), r.toString());
            assertEquals("", r.err());
        }

        // a different image under the parent's name: refused unless the UUID check is overridden
        Files.delete(base);
        assertEquals(0, Cli.vd("create", "-f", "vhd", base, "8M").exit());
        Cli.Result mismatch = Cli.vd("info", "--allow-absolute-parents", child);
        assertEquals(1, mismatch.exit());
        assertEquals(1, mismatch.errLines().size(), mismatch.toString());
        assertTrue(mismatch.err().contains("UUID mismatch"), mismatch.err());
        Cli.Result forced = Cli.vd("info", "--json", "--allow-absolute-parents", "--ignore-parent-uuid", child);
        assertEquals(0, forced.exit(), forced.toString());
        assertEquals(1, forced.errLines().size(), forced.toString());
        assertTrue(forced.err().startsWith("vd: warning: ") && forced.err().contains("(ignored)"), forced.err());
        assertEquals(2, InfoTest.chain((Map<String, Object>) JsonParser.parse(forced.out())).size());
    }
}
