package org.vdmount.mount.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class InfoTest {
    @TempDir
    Path dir;

    /** vd info --json of IMAGE, parsed, after checking it exits 0 with nothing on stderr. */
    @SuppressWarnings("unchecked")
    static Map<String, Object> infoJson(Object... args) {
        Object[] a = new Object[args.length + 2];
        a[0] = "info";
        a[1] = "--json";
        System.arraycopy(args, 0, a, 2, args.length);
        Cli.Result r = Cli.vd(a);
        assertEquals(0, r.exit(), r.toString());
        assertEquals("", withoutRawGuess(r.err()), r.toString());
        return (Map<String, Object>) JsonParser.parse(r.out());
    }

    /** stderr without the one line a probe that guessed raw prints (design.md 5.1). */
    static String withoutRawGuess(String err) {
        return err.replaceAll("(?m)^vd: warning: .*: no image format signature found, opened as raw .*\n", "");
    }

    @Test
    @SuppressWarnings("unchecked")
    void everyDetailsKeyIsKebabCase() throws Exception {
        Tools.require("qemu-img");
        for (String[] f : new String[][] {{"qcow2", "q.qcow2"}, {"vmdk", "v.vmdk"}, {"vdi", "d.vdi"},
                {"vhdx", "x.vhdx"}, {"vpc", "p.vhd"}, {"qed", "e.qed"}}) {
            Path img = dir.resolve(f[1]);
            Tools.run("qemu-img", "create", "-q", "-f", f[0], img.toString(), "4M");
            Map<String, Object> details = (Map<String, Object>) chain(infoJson(img)).get(0).get("details");
            assertTrue(!details.isEmpty(), f[0]);
            for (String k : details.keySet()) {
                assertTrue(k.matches("[a-z0-9]+(-[a-z0-9]+)*"), f[0] + ": details key '" + k + "' is not kebab-case");
            }
        }
    }

    /** The qemu-img info keys of {@code ours} that {@code qemu} has too are equal (full paths compared as real paths). */
    @SuppressWarnings("unchecked")
    private static void sameQemuKeys(Map<String, Object> qemu, Map<String, Object> ours, String what) throws Exception {
        for (String k : List.of("virtual-size", "cluster-size", "actual-size", "dirty-flag", "backing-filename",
                "backing-filename-format", "encrypted")) {
            assertEquals(qemu.get(k), ours.get(k), what + ": " + k);
        }
        if (qemu.containsKey("full-backing-filename")) {
            assertEquals(Path.of((String) qemu.get("full-backing-filename")).toRealPath(),
                    Path.of((String) ours.get("full-backing-filename")).toRealPath(), what + ": full-backing-filename");
        } else {
            assertNull(ours.get("full-backing-filename"), what);
        }
        Map<String, Object> qs = (Map<String, Object>) qemu.get("format-specific");
        if (qs != null && (qs.get("type").equals("qcow2") || qs.get("type").equals("vmdk"))) {
            Map<String, Object> os = (Map<String, Object>) ours.get("format-specific");
            assertEquals(qs.get("type"), os.get("type"), what);
            Map<String, Object> qd = (Map<String, Object>) qs.get("data");
            for (Map.Entry<String, Object> e : ((Map<String, Object>) os.get("data")).entrySet()) {
                assertEquals(qd.get(e.getKey()), e.getValue(), what + ": format-specific " + e.getKey());
            }
            if (qs.get("type").equals("vmdk")) { // all of qemu's, extents included
                assertEquals(qd.keySet(), ((Map<String, Object>) os.get("data")).keySet(), what);
            }
        }
    }

    /**
     * --output=json carries qemu-img info's keys with qemu-img's values, for images qemu-img made
     * of every format it writes (cluster-size absent where qemu-img has none: raw, fixed VHD, flat
     * VMDK), and --backing-chain prints the chain top first as qemu-img does.
     */
    @Test
    @SuppressWarnings("unchecked")
    void qemuImgInfoKeysReadAsQemuImgReadsThem() throws Exception {
        Tools.require("qemu-img");
        Tools.require("qemu-io");
        String[][] images = {{"raw", "r.raw", ""}, {"vdi", "d.vdi", ""}, {"vpc", "p.vhd", ""},
                {"vpc", "f.vhd", "subformat=fixed"}, {"vhdx", "x.vhdx", ""}, {"vmdk", "v.vmdk", ""},
                {"vmdk", "fl.vmdk", "subformat=monolithicFlat"}, {"vmdk", "s.vmdk", "subformat=streamOptimized"},
                {"vmdk", "t.vmdk", "subformat=twoGbMaxExtentSparse"}, {"qed", "e.qed", ""}, {"qcow", "o.qcow", ""},
                {"qcow2", "q.qcow2", "cluster_size=4096,lazy_refcounts=on"}};
        for (String[] f : images) {
            Path img = dir.resolve(f[1]);
            Tools.run("qemu-img", "create", "-q", "-f", f[0], "-o", f[2].isEmpty() ? "size=8M" : f[2] + ",size=8M",
                    img.toString());
            Tools.run("qemu-io", "-f", f[0], "-c", "write -P 7 1M 320k", img.toString()); // whole grains (stream)
            Map<String, Object> qemu = Tools.qemuInfo(img, f[0]);
            Cli.Result r = Cli.vd("info", "--output=json", "-f", f[0], img);
            assertEquals(0, r.exit(), r.toString());
            Map<String, Object> ours = (Map<String, Object>) JsonParser.parse(r.out());
            sameQemuKeys(qemu, ours, f[1]);
            assertEquals(qemu.containsKey("cluster-size"), ours.containsKey("cluster-size"), f[1]);
        }
        // an encrypted qcow2 (ours: qemu-img cannot time its KDF on every machine) says so as qemu-img does
        Path pw = java.nio.file.Files.writeString(dir.resolve("pw"), "secret\n");
        Path enc = dir.resolve("enc.qcow2");
        Cli.Result made = Cli.vd("create", "-f", "qcow2", "-o", "encrypt.format=luks,encrypt.iter-time=10",
                "--password-file", pw, enc, "4M");
        assertEquals(0, made.exit(), made.toString());
        Map<String, Object> qemuEnc = Tools.qemuInfo(enc, "qcow2");
        assertEquals(true, qemuEnc.get("encrypted"), qemuEnc.toString());
        Cli.Result encInfo = Cli.vd("info", "--output=json", "--password-file", pw, enc);
        sameQemuKeys(qemuEnc, (Map<String, Object>) JsonParser.parse(encInfo.out()), "encrypted qcow2");
        // a chain: qcow2 over vmdk over vmdk (qemu-img wants a vmdk's backing to be a vmdk)
        Path base = dir.resolve("base.vmdk");
        Path mid = dir.resolve("mid.vmdk");
        Path top = dir.resolve("top.qcow2");
        Tools.run("qemu-img", "create", "-q", "-f", "vmdk", base.toString(), "8M");
        Tools.run("qemu-io", "-c", "write -P 8 1M 64k", base.toString());
        Tools.run("qemu-img", "create", "-q", "-f", "vmdk", "-F", "vmdk", "-b", "base.vmdk", mid.toString());
        Tools.run("qemu-img", "create", "-q", "-f", "qcow2", "-F", "vmdk", "-b", "mid.vmdk", top.toString());
        Tools.run("qemu-io", "-c", "write -P 9 0 64k", top.toString());
        List<Object> qemuChain = (List<Object>) JsonParser.parse(Tools.run("qemu-img", "info", "--output=json",
                "--backing-chain", top.toString()));
        Cli.Result r = Cli.vd("info", "--output", "json", "--backing-chain", top);
        assertEquals(0, r.exit(), r.toString());
        List<Object> ourChain = (List<Object>) JsonParser.parse(r.out());
        assertEquals(3, ourChain.size(), r.out());
        for (int i = 0; i < 3; i++) {
            sameQemuKeys((Map<String, Object>) qemuChain.get(i), (Map<String, Object>) ourChain.get(i), "layer " + i);
        }
        assertEquals("mid.vmdk", ((Map<String, Object>) ourChain.get(0)).get("backing-filename"));
        sameQemuKeys((Map<String, Object>) qemuChain.get(0), infoJson(top), "top without --backing-chain");
        // the human table stays the default; --json and --output=human contradict each other
        assertTrue(Cli.vd("info", "--output=human", top).out().startsWith("image:"));
        Cli.Result both = Cli.vd("info", "--json", "--output=human", top);
        assertEquals(2, both.exit(), both.toString());
        for (String verb : List.of("map", "check", "measure")) { // the other verbs with JSON take --output too
            Cli.Result j = Cli.vd(verb, "--json", top);
            Cli.Result o = Cli.vd(verb, "--output=json", top);
            assertEquals(0, o.exit(), o.toString());
            assertEquals(j.out(), o.out(), verb);
            assertTrue(o.out().startsWith("{") || o.out().startsWith("["), o.toString());
        }
        Cli.Result bad = Cli.vd("info", "--output=yaml", top);
        assertEquals(2, bad.exit(), bad.toString());
        assertTrue(bad.err().contains("expected one of [human, json]"), bad.toString());
    }

    @Test
    void formatOptionSkipsTheProbeAndVpcIsVhd() throws Exception {
        Tools.require("qemu-img");
        Path vhd = dir.resolve("d.vhd");
        Tools.run("qemu-img", "create", "-q", "-f", "vpc", vhd.toString(), "8M");
        assertEquals("vhd", infoJson("-f", "vpc", vhd).get("format"));
        Map<String, Object> asRaw = infoJson("-f", "raw", vhd);
        assertEquals("raw", asRaw.get("format"));
        assertEquals(java.nio.file.Files.size(vhd), ((Number) asRaw.get("virtual-size")).longValue());
        Cli.Result wrong = Cli.vd("info", "-f", "qcow2", vhd);
        assertEquals(1, wrong.exit(), wrong.toString());
        assertTrue(wrong.err().startsWith("vd: ") && wrong.err().contains(vhd.toString()), wrong.toString());
        Cli.Result unknown = Cli.vd("convert", "-f", "bogus", vhd, dir.resolve("o.raw"));
        assertTrue(unknown.exit() != 0 && unknown.err().contains("unknown format 'bogus'"), unknown.toString());
    }

    @Test
    void aRawGuessIsOneWarningLineAndAForeignContainerIsRefused() throws Exception {
        Path img = dir.resolve("plain.disk");
        java.nio.file.Files.write(img, new byte[4096]);
        Cli.Result r = Cli.vd("info", img);
        assertEquals(0, r.exit(), r.toString());
        assertEquals(List.of("vd: warning: " + img + ": no image format signature found, opened as raw "
                + "(name the format raw to silence this)"), r.errLines());
        assertEquals("", Cli.vd("info", "-f", "raw", img).err());
        Path gz = dir.resolve("disk.img.gz");
        java.nio.file.Files.write(gz, new byte[] {0x1f, (byte) 0x8b, 8, 0, 0, 0, 0, 0});
        Cli.Result refused = Cli.vd("info", gz);
        assertEquals(1, refused.exit(), refused.toString());
        assertEquals(List.of("vd: " + gz + ": a gzip-compressed file (signature at 0x0); this format is not "
                + "supported (give the format as raw to read the file's bytes as a disk anyway)"), refused.errLines());
    }

    @SuppressWarnings("unchecked")
    static List<Map<String, Object>> chain(Map<String, Object> info) {
        return (List<Map<String, Object>>) info.get("chain");
    }

    /** vd's format names where qemu's differ. */
    static String qemuName(String vdFormat) {
        return vdFormat.equals("vhd") ? "vpc" : vdFormat;
    }

    /** format and virtual-size as qemu-img sees them, and the keys the contract promises. */
    static Map<String, Object> assertInfoMatchesQemu(Path image) throws Exception {
        Map<String, Object> qemu = Tools.qemuInfo(image, null);
        Map<String, Object> vd = infoJson(image);
        if (vd.get("format").equals("vhd") && vd.get("variant").equals("fixed")) {
            // a fixed VHD has its footer only at the end: QEMU's probe sees raw and needs -f vpc
            assertEquals("raw", qemu.get("format"));
            qemu = Tools.qemuInfo(image, "vpc");
        }
        assertEquals(qemu.get("format"), qemuName((String) vd.get("format")), "format");
        assertEquals(qemu.get("virtual-size"), vd.get("virtual-size"), "virtual-size");
        for (String key : List.of("format", "virtual-size", "logical-sector-size", "chain", "allocated-bytes",
                "partitions", "partition-scheme")) {
            assertTrue(vd.containsKey(key), "missing " + key + " in " + vd);
        }
        for (Map<String, Object> layer : chain(vd)) {
            for (String key : List.of("filename", "format", "variant", "uuid", "parent-uuid", "actual-size",
                    "allocated-bytes", "details")) {
                assertTrue(layer.containsKey(key), "missing " + key + " in " + layer);
            }
            assertEquals(Tools.allocatedBytes(Path.of((String) layer.get("filename"))), layer.get("actual-size"),
                    "actual-size = host bytes allocated (stat)");
        }
        Map<String, Object> top = chain(vd).get(chain(vd).size() - 1);
        assertEquals(image.toString(), top.get("filename"));
        assertEquals(vd.get("format"), top.get("format"));
        return vd;
    }

    @Test
    void rawImagesMatchQemuImgInfo() throws Exception {
        Tools.require("qemu-img");
        for (String size : List.of("0", "512", "1000000", "64M", "3G")) {
            Path img = dir.resolve("r" + size + ".raw");
            Tools.run("qemu-img", "create", "-q", "-f", "raw", img.toString(), size);
            Map<String, Object> vd = assertInfoMatchesQemu(img);
            assertEquals("raw", vd.get("format"));
            assertEquals(512L, vd.get("logical-sector-size"));
            assertEquals(1, chain(vd).size());
            Map<String, Object> layer = chain(vd).get(0);
            assertNull(layer.get("uuid"));
            assertNull(layer.get("parent-uuid"));
            assertEquals("none", vd.get("partition-scheme"), "an empty disk has no partition table");
            assertEquals(List.of(), vd.get("partitions"));
        }
    }

    @Test
    void allocationOfRawImageIsWhatTheHostAllocated() throws Exception {
        Tools.require("qemu-io");
        Path img = dir.resolve("data.img");
        Tools.run("qemu-img", "create", "-q", "-f", "raw", img.toString(), "256M");
        Tools.run("qemu-io", "-f", "raw", "-c", "write -P 0x11 1M 3M", "-c", "write -P 0x22 200M 64k",
                img.toString());
        Map<String, Object> vd = assertInfoMatchesQemu(img);
        long host = Tools.allocatedBytes(img);
        assertEquals(host, vd.get("allocated-bytes"));
        assertEquals(host, chain(vd).get(0).get("allocated-bytes"));
        assertTrue(host >= (3 << 20) + (64 << 10) && host < 8 << 20, "sparse: " + host);
    }

    @Test
    void humanOutputIsAnAlignedTableWithExactBytes() throws Exception {
        Tools.require("qemu-img");
        Path img = dir.resolve("h.raw");
        Tools.run("qemu-img", "create", "-q", "-f", "raw", img.toString(), "10G");
        long qemuSize = (Long) Tools.qemuInfo(img).get("virtual-size");
        Cli.Result r = Cli.vd("info", img);
        assertEquals(0, r.exit(), r.toString());
        assertEquals("", r.err());
        List<String> lines = r.out().lines().toList();
        assertTrue(lines.contains("image:         " + img), r.out());
        assertTrue(lines.contains("format:        raw (flat)"), r.out());
        assertTrue(lines.contains("virtual size:  10.0 GiB (" + qemuSize + " bytes)"), r.out());
        assertTrue(lines.contains("sector size:   512 bytes"), r.out());
        assertTrue(lines.contains("partitions:    none"), r.out());
        assertTrue(lines.contains("chain (base first):"), r.out());
        assertTrue(lines.contains("  [1] " + img), r.out());
    }

    @Test
    void fileNamesWithQuotesAndNewlinesStayValidJson() throws Exception {
        // non-ASCII only where the JVM can name such files (sun.jnu.encoding UTF-8)
        String accent = "UTF-8".equalsIgnoreCase(System.getProperty("sun.jnu.encoding")) ? " \u00e9\u20ac" : "";
        Path img = dir.resolve("we\"ird\\ na\nme\t" + accent + ".raw");
        java.nio.file.Files.write(img, new byte[4096]);
        Map<String, Object> vd = infoJson(img);
        assertEquals(img.toString(), chain(vd).get(0).get("filename"));
        assertEquals(4096L, vd.get("virtual-size"));
    }
}
