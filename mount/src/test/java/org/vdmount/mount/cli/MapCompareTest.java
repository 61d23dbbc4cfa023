package org.vdmount.mount.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** vd map and vd compare against qemu-img map and qemu-img compare on the same images. */
class MapCompareTest {
    @TempDir
    Path dir;

    @BeforeEach
    void tools() {
        Tools.require("qemu-img");
        Tools.require("qemu-io");
    }

    private Path qemuIo(Path image, String format, String... commands) throws Exception {
        List<String> cmd = new ArrayList<>(List.of("qemu-io", "-f", format));
        for (String c : commands) {
            cmd.add("-c");
            cmd.add(c);
        }
        cmd.add(image.toString());
        Tools.run(cmd.toArray(String[]::new));
        return image;
    }

    private Path qcow2(String name, String size, Path backing) throws Exception {
        Path p = dir.resolve(name);
        if (backing == null) {
            Tools.run("qemu-img", "create", "-f", "qcow2", p.toString(), size);
        } else {
            Tools.run("qemu-img", "create", "-f", "qcow2", "-b", backing.getFileName().toString(), "-F", "qcow2",
                    p.toString(), size);
        }
        return p;
    }

    /** A raw source with data, explicit zeros (written, so allocated) and holes. */
    private Path patterned() throws Exception {
        Path raw = dir.resolve("src.raw");
        Tools.run("qemu-img", "create", "-f", "raw", raw.toString(), "8M");
        return qemuIo(raw, "raw", "write -P 1 0 64k", "write -P 2 3M 1M", "write -P 0 5M 1M", "write -P 7 7340544 512");
    }

    static List<List<Object>> runs(String json, boolean withPresent) {
        return runs(json, withPresent, false);
    }

    /**
     * The runs as (start, length, depth, zero, data[, present][, offset]), adjacent equal runs
     * merged (data runs only where their host offsets continue, when offsets are compared). qemu-img
     * reports an offset for zero runs of some formats too; only data runs' offsets are compared.
     */
    @SuppressWarnings("unchecked")
    static List<List<Object>> runs(String json, boolean withPresent, boolean withOffset) {
        List<List<Object>> out = new ArrayList<>();
        long lastOffsetEnd = -1;
        for (Object o : (List<Object>) JsonParser.parse(json)) {
            Map<String, Object> e = (Map<String, Object>) o;
            List<Object> key = new ArrayList<>(List.of(e.get("depth"), e.get("zero"), e.get("data")));
            if (withPresent) {
                key.add(e.get("present"));
            }
            long start = ((Number) e.get("start")).longValue();
            long length = ((Number) e.get("length")).longValue();
            long offset = withOffset && Boolean.TRUE.equals(e.get("data")) && e.get("offset") != null
                    ? ((Number) e.get("offset")).longValue() : -1;
            if (!out.isEmpty()) {
                List<Object> last = out.get(out.size() - 1);
                List<Object> lastKey = last.subList(2, withOffset ? last.size() - 1 : last.size());
                if (lastKey.equals(key) && (long) last.get(0) + (long) last.get(1) == start
                        && (offset < 0 && (!withOffset || (long) last.get(last.size() - 1) < 0)
                        || offset >= 0 && offset == lastOffsetEnd)) {
                    last.set(1, (long) last.get(1) + length);
                    lastOffsetEnd = offset < 0 ? -1 : offset + length;
                    continue;
                }
            }
            List<Object> run = new ArrayList<>(List.of(start, length));
            run.addAll(key);
            if (withOffset) {
                run.add(offset);
            }
            lastOffsetEnd = offset < 0 ? -1 : offset + length;
            out.add(run);
        }
        return out;
    }

    private String vdMapJson(Object... args) {
        Object[] a = new Object[args.length + 2];
        a[0] = "map";
        a[1] = "--json";
        System.arraycopy(args, 0, a, 2, args.length);
        Cli.Result r = Cli.vd(a);
        assertEquals(0, r.exit(), r.toString());
        return r.out();
    }

    private void assertMapsAgree(Path image, String qemuFormat, String vdFormat, boolean withPresent) throws Exception {
        String qemu = Tools.run("qemu-img", "map", "--output=json", "-f", qemuFormat, image.toString());
        String vd = vdMapJson("-f", vdFormat, image);
        boolean offsets = qemu.contains("\"data\": true, \"offset\""); // QEMU's vhdx driver gives none
        assertEquals(runs(qemu, withPresent, offsets), runs(vd, withPresent, offsets),
                image + "\nqemu:\n" + qemu + "\nvd:\n" + vd);
    }

    @Test
    void qcow2ChainAgreesWithQemuIncludingDepthAndShorterParents() throws Exception {
        Path base = qemuIo(qcow2("base.qcow2", "1M", null), "qcow2", "write -P 1 0 64k", "write -z 512k 64k");
        Path mid = qemuIo(qcow2("mid.qcow2", "2M", base), "qcow2", "write -P 2 32k 64k", "write -z 1536k 128k");
        Path top = qemuIo(qcow2("top.qcow2", "4M", mid), "qcow2", "write -P 3 3M 64k", "write -z 0 4k",
                "write -P 4 1600k 4k");
        assertMapsAgree(top, "qcow2", "qcow2", true);
        assertMapsAgree(mid, "qcow2", "qcow2", true);
    }

    @Test
    void everyFormatQemuWritesAgreesOnDataAndZeros() throws Exception {
        Path src = patterned();
        for (String[] f : new String[][] {{"qcow2", "qcow2"}, {"qed", "qed"}, {"vmdk", "vmdk"}, {"vdi", "vdi"},
                {"vpc", "vhd"}, {"vhdx", "vhdx"}}) {
            Path img = dir.resolve("c." + f[1]);
            Tools.run("qemu-img", "convert", "-f", "raw", "-O", f[0], src.toString(), img.toString());
            // VDI and VHD have no backing files in QEMU: it reports their free blocks as "present" zeros
            assertMapsAgree(img, f[0], f[1], !f[0].equals("vdi") && !f[0].equals("vpc"));
        }
        Path full = dir.resolve("full.raw");
        Tools.run("dd", "if=/dev/urandom", "of=" + full, "bs=64k", "count=16", "status=none");
        assertMapsAgree(full, "raw", "raw", true);
    }

    /**
     * --start-offset and --max-length map a window of the chain: qemu-img map's JSON with the same
     * options, line for line (runs cut at the window's edges); a window past the end is empty, and
     * a size that is not one is a usage error.
     */
    @Test
    void startOffsetAndMaxLengthMapAWindowAsQemuImgDoes() throws Exception {
        Path base = qemuIo(qcow2("wb.qcow2", "4M", null), "qcow2", "write -P 1 0 1M", "write -z 2M 512k");
        Path top = qemuIo(qcow2("wt.qcow2", "4M", base), "qcow2", "write -P 3 512k 64k", "write -z 0 4k",
                "write -P 4 3M 4k");
        for (String[] w : new String[][] {{"--start-offset=1000", "--max-length=3000"},
                {"--start-offset=64k", "--max-length=2M"}, {"--start-offset=2560k"}, {"--max-length=1M"},
                {"--start-offset=3M", "--max-length=1G"}}) {
            List<String> q = new java.util.ArrayList<>(List.of("qemu-img", "map", "--output=json"));
            q.addAll(List.of(w));
            q.add(top.toString());
            List<Object> v = new java.util.ArrayList<>(List.of(w));
            v.add(top);
            assertEquals(Tools.run(q.toArray(new String[0])), vdMapJson(v.toArray()), String.join(" ", w));
        }
        assertEquals("[]\n", vdMapJson("--start-offset=4M", top));
        Cli.Result bad = Cli.vd("map", "--max-length=-5", top);
        assertEquals(2, bad.exit(), bad.toString());
        assertTrue(bad.err().contains("--max-length -5: not a size in bytes"), bad.toString());
    }

    @Test
    void humanFormListsDataRunsWithTheirLayer() throws Exception {
        Path base = qemuIo(qcow2("b.qcow2", "1M", null), "qcow2", "write -P 1 0 64k");
        Path top = qemuIo(qcow2("t.qcow2", "1M", base), "qcow2", "write -P 2 128k 64k");
        Cli.Result r = Cli.vd("map", top);
        assertEquals(0, r.exit(), r.toString());
        List<String> lines = List.of(r.out().split("\n"));
        assertEquals("Offset          Length          Mapped to       File", lines.get(0));
        assertEquals(3, lines.size(), r.out());
        // qemu-img map's own lines: the same columns, host offsets included
        assertEquals(Tools.run("qemu-img", "map", top.toString()), r.out());
    }

    // ---- compare ---------------------------------------------------------------------------------

    /** Runs both tools on the pair; asserts the same exit status and the same verdict line. */
    private void assertCompareAgrees(String[] flags, Path a, Path b) throws Exception {
        List<String> q = new ArrayList<>(List.of("qemu-img", "compare"));
        q.addAll(List.of(flags));
        q.add(a.toString());
        q.add(b.toString());
        Tools.Output qemu = Tools.exec(q);
        List<Object> v = new ArrayList<>(List.of("compare"));
        v.addAll(List.of(flags));
        v.add(a);
        v.add(b);
        Cli.Result vd = Cli.vd(v.toArray());
        String why = String.join(" ", q) + "\nqemu: " + qemu + "\nvd: " + vd;
        assertEquals(qemu.exit(), vd.exit(), why);
        if (qemu.exit() != 2) {
            assertEquals(qemu.out(), vd.out(), why);
        } else {
            assertTrue(vd.err().startsWith("vd: "), why);
        }
    }

    @Test
    void compareAgreesWithQemuAcrossFormatsSizesAndStrictMode() throws Exception {
        Path src = patterned();
        Path q = dir.resolve("c.qcow2");
        Path vdi = dir.resolve("c.vdi");
        Path vmdk = dir.resolve("c.vmdk");
        Path qed = dir.resolve("c.qed");
        Tools.run("qemu-img", "convert", "-f", "raw", "-O", "qed", src.toString(), qed.toString());
        Tools.run("qemu-img", "convert", "-f", "raw", "-O", "qcow2", src.toString(), q.toString());
        Tools.run("qemu-img", "convert", "-f", "raw", "-O", "vdi", src.toString(), vdi.toString());
        Tools.run("qemu-img", "convert", "-f", "raw", "-O", "vmdk", src.toString(), vmdk.toString());
        String[] none = {};
        String[] strict = {"-s"};
        assertCompareAgrees(none, q, vdi);
        assertCompareAgrees(none, vmdk, q);
        assertCompareAgrees(new String[] {"-f", "raw", "-F", "qcow2"}, src, q);
        // strict: QEMU compares every block-status flag of its drivers (EOF, RECURSE): its vmdk and
        // qcow2 drivers differ on equal allocation, so strict pairs here are qcow2/qed and raw
        assertCompareAgrees(strict, q, qed);
        assertCompareAgrees(strict, q, src); // raw holds every byte, qcow2 does not: block status
        // one byte differs inside data, then inside a hole of the other side
        Path d1 = dir.resolve("d1.qcow2");
        Tools.run("cp", q.toString(), d1.toString());
        qemuIo(d1, "qcow2", "write -P 9 3146000 1");
        assertCompareAgrees(none, q, d1);
        Path d2 = dir.resolve("d2.qcow2");
        Tools.run("cp", q.toString(), d2.toString());
        qemuIo(d2, "qcow2", "write -P 9 2000000 1");
        assertCompareAgrees(none, d2, vdi);
        assertCompareAgrees(none, vdi, d2);
        // explicit zeros against unallocated: same contents, different status in strict mode
        Path z = qemuIo(qcow2("z.qcow2", "1M", null), "qcow2", "write -z 0 64k");
        Path e = qcow2("e.qcow2", "1M", null);
        assertCompareAgrees(none, z, e);
        assertCompareAgrees(strict, z, e);
        // sizes: a longer image that reads zeros past the end is identical unless strict
        Path big = qemuIo(qcow2("big.qcow2", "2M", null), "qcow2", "write -z 1M 64k");
        assertCompareAgrees(none, e, big);
        assertCompareAgrees(strict, e, big);
        qemuIo(big, "qcow2", "write -P 3 1900000 10");
        assertCompareAgrees(none, e, big);
        assertCompareAgrees(none, big, e);
        // a chain against its flattened copy
        Path top = qemuIo(qcow2("top.qcow2", "8M", q), "qcow2", "write -P 5 100k 8k", "write -z 3M 64k");
        Path flat = dir.resolve("flat.vdi");
        Tools.run("qemu-img", "convert", "-O", "vdi", top.toString(), flat.toString());
        assertCompareAgrees(none, top, flat);
        assertCompareAgrees(none, top, q);
        // -q: nothing printed, the exit status says it all (as qemu-img compare -q)
        String[] quiet = {"-q"};
        assertCompareAgrees(quiet, q, vdi);
        assertCompareAgrees(quiet, q, d1);
        assertCompareAgrees(new String[] {"-q", "-s"}, z, e);
        assertCompareAgrees(quiet, q, dir.resolve("missing.qcow2"));
        // -p: the progress bar on stderr without a terminal, the verdict unchanged on stdout
        Cli.Result p = Cli.vd("compare", "-p", top, flat);
        assertEquals(0, p.exit(), p.toString());
        assertEquals("Images are identical.\n", p.out());
        assertTrue(p.err().contains("100.0%"), p.toString());
        // errors
        assertCompareAgrees(none, q, dir.resolve("missing.qcow2"));
    }
}
