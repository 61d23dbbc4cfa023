package org.vdmount.mount.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.List;
import java.util.Random;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * qemu-img convert's -n, --target-is-zero, -B/-F, -p and -q on vd convert: each result compared
 * with qemu-img's own (qemu-img compare, and qemu-img map for what -B allocates).
 */
class ConvertQemuOptionsTest {
    @TempDir
    Path dir;

    private Path base;
    private Path top;

    /** base.qcow2 (data at 0-8M and 20-22M) under top.qcow2 (data, zero writes over base data, data). */
    @BeforeEach
    void chain() throws Exception {
        Tools.require("qemu-img");
        Tools.require("qemu-io");
        base = dir.resolve("base.qcow2");
        top = dir.resolve("top.qcow2");
        Tools.run("qemu-img", "create", "-q", "-f", "qcow2", base.toString(), "64M");
        Tools.run("qemu-io", "-c", "write -P 0x11 0 8M", "-c", "write -P 0x12 20M 2M", base.toString());
        Tools.run("qemu-img", "create", "-q", "-f", "qcow2", "-F", "qcow2", "-b", "base.qcow2", top.toString());
        Tools.run("qemu-io", "-c", "write -P 0x21 1M 1M", "-c", "write -z 4M 1M", "-c", "write -P 0x22 30M 64k",
                "-c", "write -z 20M 512k", "-c", "write -P 0x23 63M 1M", top.toString());
    }

    private static void identical(Path a, String fa, Path b, String fb) throws Exception {
        Tools.run("qemu-img", "compare", "-q", "-f", fa, "-F", fb, a.toString(), b.toString());
    }

    /**
     * -n writes into an existing raw file full of noise: it then reads as the source, SRC's zero
     * ranges made zero (holes: the file holds little more than the data); with --target-is-zero
     * into a fresh sparse file the same; an existing qcow2 must be named by -O.
     */
    @Test
    void minusNWritesIntoAnExistingImageAndZeroesWhatSrcReadsAsZeros() throws Exception {
        Path noise = dir.resolve("noise.raw");
        byte[] junk = new byte[64 << 20];
        new Random(5).nextBytes(junk);
        Files.write(noise, junk);
        Cli.Result r = Cli.vd("convert", "-n", top, noise);
        assertEquals(0, r.exit(), r.toString());
        identical(top, "qcow2", noise, "raw");
        assertTrue(Tools.allocatedBytes(noise) < (24 << 20), "zeros left as holes: " + Tools.allocatedBytes(noise));

        Path zero = dir.resolve("zero.raw");
        Files.write(zero, new byte[0]);
        Tools.run("truncate", "-s", "64M", zero.toString());
        assertEquals(0, Cli.vd("convert", "-n", "--target-is-zero", "-O", "raw", top, zero).exit());
        identical(top, "qcow2", zero, "raw");

        Path q = dir.resolve("existing.qcow2");
        Tools.run("qemu-img", "create", "-q", "-f", "qcow2", q.toString(), "64M");
        Tools.run("qemu-io", "-c", "write -P 0x99 0 64M", q.toString());
        Cli.Result unnamed = Cli.vd("convert", "-n", top, q);
        assertEquals(1, unnamed.exit(), unnamed.toString());
        assertEquals(List.of("vd: " + q + ": is a qcow2 image: name its format to write into it (-O qcow2), or -O raw "
                + "to overwrite its bytes"), unnamed.errLines());
        assertEquals(0, Cli.vd("convert", "-n", "-O", "qcow2", top, q).exit());
        identical(top, "qcow2", q, "qcow2");
        Tools.run("qemu-img", "check", "-q", q.toString());
    }

    /** -n refuses what it must: a smaller DST, DST missing, DST in SRC's chain, -o; DST is never deleted. */
    @Test
    void minusNRefusals() throws Exception {
        Path small = dir.resolve("small.raw");
        Files.write(small, new byte[1 << 20]);
        Cli.Result r = Cli.vd("convert", "-n", top, small);
        assertEquals(1, r.exit(), r.toString());
        assertEquals(List.of("vd: " + small + ": 1048576 bytes, smaller than the source's 67108864"), r.errLines());
        assertTrue(Files.exists(small));
        Cli.Result missing = Cli.vd("convert", "-n", top, dir.resolve("none.raw"));
        assertEquals(1, missing.exit(), missing.toString());
        assertTrue(missing.err().contains("no such file"), missing.toString());
        Cli.Result self = Cli.vd("convert", "-n", "-O", "qcow2", top, base);
        assertEquals(1, self.exit(), self.toString());
        assertTrue(self.err().contains("is part of the source chain"), self.toString());
        byte[] before = Files.readAllBytes(base);
        assertTrue(Arrays.equals(before, Files.readAllBytes(base)));
        assertEquals(2, Cli.vd("convert", "--target-is-zero", top, dir.resolve("x.raw")).exit());
        assertEquals(2, Cli.vd("convert", "-n", "-o", "cluster_size=4096", "-O", "qcow2", top, base).exit());
        assertEquals(2, Cli.vd("convert", "-n", "-B", "base.qcow2", top, small).exit());
        assertEquals(2, Cli.vd("convert", "-n", "--overwrite", top, small).exit());
    }

    /**
     * -B: DST over a raw copy of SRC's backing chain holds exactly what qemu-img convert -B puts
     * there (qemu-img map of both, depth 0), and reads as SRC.
     */
    @Test
    void minusBCopiesOnlyTheTopLayerAsQemuImgDoes() throws Exception {
        Path newBase = dir.resolve("newbase.raw");
        Tools.run("qemu-img", "convert", "-O", "raw", base.toString(), newBase.toString());
        Path ours = dir.resolve("ours.qcow2");
        Path theirs = dir.resolve("theirs.qcow2");
        Cli.Result r = Cli.vd("convert", "-O", "qcow2", "-B", "newbase.raw", "-F", "raw", top, ours);
        assertEquals(0, r.exit(), r.toString());
        Tools.run("qemu-img", "convert", "-O", "qcow2", "-B", "newbase.raw", "-F", "raw", top.toString(),
                theirs.toString());
        identical(top, "qcow2", ours, "qcow2");
        assertEquals(ownRuns(theirs), ownRuns(ours));
        assertTrue(ownRuns(ours).contains("\"zero\": true"), ownRuns(ours)); // the zero writes over base data
        Tools.run("qemu-img", "check", "-q", ours.toString());
        assertEquals("newbase.raw", Tools.qemuInfo(ours).get("backing-filename"));
        // qemu-img's -o backing_file=,backing_fmt= spelling of -B and -F
        Path viaO = dir.resolve("viaO.qcow2");
        assertEquals(0, Cli.vd("convert", "-O", "qcow2", "-o", "backing_file=newbase.raw,backing_fmt=raw", top, viaO)
                .exit());
        assertEquals(ownRuns(theirs), ownRuns(viaO));
        assertEquals("raw", Tools.qemuInfo(viaO).get("backing-filename-format"));
        // a format without backing files, and -F without -B, are refused; nothing is left behind
        Path raw = dir.resolve("o.raw");
        assertEquals(1, Cli.vd("convert", "-O", "raw", "-B", "newbase.raw", top, raw).exit());
        assertFalse(Files.exists(raw));
        assertEquals(2, Cli.vd("convert", "-O", "qcow2", "-F", "raw", top, dir.resolve("f.qcow2")).exit());
    }

    /**
     * -c -B: a compressed DST over a copy of SRC's backing chain holds what qemu-img convert -c -B
     * puts there (the same runs of its own, zero writes as zero clusters), compressed; for compat
     * 0.10 (no zero flag) and a SRC without a backing file it still reads as SRC. vmdk is refused.
     */
    @Test
    void minusCWithMinusBCompressesOnlyTheTopLayerAsQemuImgDoes() throws Exception {
        Path newBase = dir.resolve("newbase.qcow2");
        Tools.run("qemu-img", "convert", "-O", "qcow2", base.toString(), newBase.toString());
        Path ours = dir.resolve("ours.qcow2");
        Path theirs = dir.resolve("theirs.qcow2");
        Cli.Result r = Cli.vd("convert", "-c", "-O", "qcow2", "-B", "newbase.qcow2", "-F", "qcow2", top, ours);
        assertEquals(0, r.exit(), r.toString());
        Tools.run("qemu-img", "convert", "-c", "-O", "qcow2", "-B", "newbase.qcow2", "-F", "qcow2", top.toString(),
                theirs.toString());
        identical(top, "qcow2", ours, "qcow2");
        assertEquals(ownRuns(theirs), ownRuns(ours));
        assertTrue(ownRuns(ours).contains("\"zero\": true"), ownRuns(ours));
        String check = Tools.run("qemu-img", "check", ours.toString());
        assertTrue(check.contains("100.00% compressed clusters"), check);
        assertEquals("newbase.qcow2", Tools.qemuInfo(ours).get("backing-filename"));

        Path v2 = dir.resolve("v2.qcow2");
        assertEquals(0, Cli.vd("convert", "-c", "-O", "qcow2", "-o", "compat=0.10", "-B", "newbase.qcow2", top, v2)
                .exit());
        identical(top, "qcow2", v2, "qcow2");
        Tools.run("qemu-img", "check", "-q", v2.toString());
        Path flat = dir.resolve("flat.qcow2");
        Tools.run("qemu-img", "convert", "-O", "qcow2", top.toString(), flat.toString()); // no backing file
        Path over = dir.resolve("over.qcow2");
        assertEquals(0, Cli.vd("convert", "-c", "-O", "qcow2", "-B", "newbase.qcow2", flat, over).exit());
        identical(flat, "qcow2", over, "qcow2");
        Tools.run("qemu-img", "check", "-q", over.toString());

        Cli.Result vmdk = Cli.vd("convert", "-c", "-O", "vmdk", "-B", "newbase.qcow2", top, dir.resolve("s.vmdk"));
        assertEquals(1, vmdk.exit(), vmdk.toString());
        assertEquals(List.of("vd: -c with -B is not supported by vmdk: a stream-optimized image has no backing file"),
                vmdk.errLines());
        assertFalse(Files.exists(dir.resolve("s.vmdk")));
    }

    /** qemu-img map's runs of the image itself (depth 0), without host offsets. */
    private static String ownRuns(Path image) throws Exception {
        StringBuilder sb = new StringBuilder();
        for (String line : Tools.run("qemu-img", "map", "--output=json", image.toString()).split("\n")) {
            if (line.contains("\"depth\": 0")) {
                sb.append(line.replaceAll(", \"offset\": \\d+", "").replaceAll("[\\[\\],]+$", "")).append('\n');
            }
        }
        return sb.toString();
    }

    /**
     * -S: 0 allocates every byte, 64k leaves holes only where qemu-img -S 64k leaves them (the same
     * holes in raw, the same qemu-img map of qcow2); a size that is not a
     * multiple of 512 is a usage error.
     */
    @Test
    void minusSChoosesTheSparseSizeAsQemuImgDoes() throws Exception {
        for (String size : List.of("0", "64k")) {
            Path ours = dir.resolve("s" + size + ".raw");
            Path theirs = dir.resolve("s" + size + "-q.raw");
            assertEquals(0, Cli.vd("convert", "-S", size, top, ours).exit());
            Tools.run("qemu-img", "convert", "-S", size, "-O", "raw", top.toString(), theirs.toString());
            identical(top, "qcow2", ours, "raw");
            // the holes (SEEK_DATA/SEEK_HOLE, as qemu-img map of a raw file shows them), not st_blocks,
            // which counts the file system's extent blocks too
            assertEquals(Tools.run("qemu-img", "map", "-f", "raw", "--output=json", theirs.toString()),
                    Tools.run("qemu-img", "map", "-f", "raw", "--output=json", ours.toString()), "-S " + size);
        }
        assertEquals(64L << 20, Tools.allocatedBytes(dir.resolve("s0.raw")));
        Path ours = dir.resolve("full.qcow2");
        Path theirs = dir.resolve("full-q.qcow2");
        assertEquals(0, Cli.vd("convert", "-S", "0", "-O", "qcow2", top, ours).exit());
        Tools.run("qemu-img", "convert", "-S", "0", "-O", "qcow2", top.toString(), theirs.toString());
        assertEquals(ownRuns(theirs), ownRuns(ours));
        identical(top, "qcow2", ours, "qcow2");
        // -S 0 with -B: what the top layer does not hold is still left to the backing file, as qemu-img does
        Path newBase = dir.resolve("nb.raw");
        Tools.run("qemu-img", "convert", "-O", "raw", base.toString(), newBase.toString());
        Path oursB = dir.resolve("fullb.qcow2");
        Path theirsB = dir.resolve("fullb-q.qcow2");
        assertEquals(0, Cli.vd("convert", "-S", "0", "-O", "qcow2", "-B", "nb.raw", "-F", "raw", top, oursB).exit());
        Tools.run("qemu-img", "convert", "-S", "0", "-O", "qcow2", "-B", "nb.raw", "-F", "raw", top.toString(),
                theirsB.toString());
        assertEquals(ownRuns(theirsB), ownRuns(oursB));
        identical(top, "qcow2", oursB, "qcow2");
        assertEquals(2, Cli.vd("convert", "-S", "1000", top, dir.resolve("bad.raw")).exit());
        assertEquals(2, Cli.vd("convert", "-S", "0", "-c", "-O", "qcow2", top, dir.resolve("bad.qcow2")).exit());
    }

    /** -p draws the bar without a terminal, -q hides it on one (and wins over -p). */
    @Test
    void minusPShowsProgressAndMinusQHidesIt() throws Exception {
        Cli.Result p = Cli.vd("convert", "-p", top, dir.resolve("p.raw"));
        assertEquals(0, p.exit(), p.toString());
        assertTrue(p.err().contains("100.0%"), p.toString());
        assertEquals("", Cli.vd("convert", top, dir.resolve("n.raw")).err());
        Cli.Result q = Cli.vdOnTerminal("convert", "-q", top, dir.resolve("q.raw"));
        assertEquals(0, q.exit(), q.toString());
        assertEquals("", q.err());
        assertEquals("", Cli.vdOnTerminal("convert", "-q", "-p", top, dir.resolve("qp.raw")).err());
        assertTrue(Cli.vdOnTerminal("convert", top, dir.resolve("t.raw")).err().contains("100.0%"));
    }

    /**
     * -O qcow2 -o preallocation=metadata|falloc|full against qemu-img convert with the same
     * options: the same file size, the same qemu-img map (every cluster mapped, where data and
     * zeros lie), the same content; metadata's file is qemu's byte for byte.
     */
    @Test
    void preallocatedQcow2TargetsAreQemuImgConverts() throws Exception {
        for (String mode : List.of("metadata", "falloc", "full")) {
            Path ours = dir.resolve("ours-" + mode + ".qcow2");
            Path theirs = dir.resolve("theirs-" + mode + ".qcow2");
            Cli.Result r = Cli.vd("convert", "-O", "qcow2", "-o", "preallocation=" + mode, top, ours);
            assertEquals(0, r.exit(), r.toString());
            Tools.run("qemu-img", "convert", "-O", "qcow2", "-o", "preallocation=" + mode, top.toString(),
                    theirs.toString());
            identical(top, "qcow2", ours, "qcow2");
            Tools.run("qemu-img", "check", "-q", ours.toString());
            assertEquals(Files.size(theirs), Files.size(ours), mode);
            assertEquals(Tools.run("qemu-img", "map", "--output=json", theirs.toString()),
                    Tools.run("qemu-img", "map", "--output=json", ours.toString()), mode);
        }
        assertTrue(Arrays.equals(Files.readAllBytes(dir.resolve("theirs-metadata.qcow2")),
                Files.readAllBytes(dir.resolve("ours-metadata.qcow2"))), "metadata: qemu-img convert's file");
    }

    /**
     * -l and -s convert an internal snapshot: each spelling of qemu-img convert -l (id or name,
     * snapshot.id=, snapshot.name=, both) gives qemu-img's raw file byte for byte; a key that
     * selects nothing is one line naming the snapshots; -l with -s is a usage error.
     */
    @Test
    void minusLConvertsAnInternalSnapshotAsQemuImgDoes() throws Exception {
        Path s = dir.resolve("snaps.qcow2");
        Tools.run("qemu-img", "create", "-q", "-f", "qcow2", s.toString(), "16M");
        Tools.run("qemu-io", "-c", "write -P 0x11 0 4M", s.toString());
        Tools.run("qemu-img", "snapshot", "-c", "first", s.toString());
        Tools.run("qemu-io", "-c", "write -P 0x22 2M 4M", s.toString());
        Tools.run("qemu-img", "snapshot", "-c", "1", s.toString()); // a name that is also the other's id
        Tools.run("qemu-io", "-c", "write -z 0 1M", "-c", "write -P 0x33 9M 1M", s.toString());
        List<List<String>> keys = List.of(List.of("-l", "first"), List.of("-l", "1"), List.of("-l", "snapshot.name=1"),
                List.of("-l", "snapshot.id=2"), List.of("-l", "snapshot.id=1,snapshot.name=first"), List.of("-s", "2"));
        for (List<String> key : keys) {
            Path ours = dir.resolve("ours.raw");
            Path theirs = dir.resolve("theirs.raw");
            Files.deleteIfExists(ours);
            Files.deleteIfExists(theirs);
            List<Object> args = new java.util.ArrayList<>(List.of("convert", "-O", "raw"));
            args.addAll(key);
            args.addAll(List.of(s, ours));
            Cli.Result r = Cli.vd(args.toArray());
            assertEquals(0, r.exit(), key + ": " + r);
            List<String> q = new java.util.ArrayList<>(List.of("qemu-img", "convert", "-O", "raw"));
            q.addAll(List.of("-l", key.get(1))); // this qemu-img has dropped -s; -s ID is -l ID
            q.addAll(List.of(s.toString(), theirs.toString()));
            Tools.run(q.toArray(new String[0]));
            assertTrue(Arrays.equals(Files.readAllBytes(theirs), Files.readAllBytes(ours)), key.toString());
        }
        assertTrue(Tools.run("qemu-img", "info", s.toString()).contains("first"), "SRC keeps its snapshots");

        Cli.Result none = Cli.vd("convert", "-O", "raw", "-l", "snapshot.id=1,snapshot.name=1", s, dir.resolve("n.raw"));
        assertEquals(1, none.exit(), none.toString());
        assertEquals(List.of("vd: qcow2: " + s + " has no snapshot 'snapshot.id=1,snapshot.name=1' (snapshots: "
                + "1:first, 2:1)"), none.errLines());
        assertFalse(Files.exists(dir.resolve("n.raw")));
        Cli.Result both = Cli.vd("convert", "-l", "1", "-s", "1", s, dir.resolve("b.raw"));
        assertEquals(2, both.exit(), both.toString());
        Cli.Result bad = Cli.vd("convert", "-l", "snapshot.id=1,name=x", s, dir.resolve("b.raw"));
        assertEquals(1, bad.exit(), bad.toString());
        assertEquals(List.of("vd: snapshot 'snapshot.id=1,name=x': expected snapshot.id=ID and/or snapshot.name=NAME, "
                + "comma-separated, or an id or name; not 'name=x'"), bad.errLines());
    }

    /**
     * -m NUM and -W (qemu-img convert's parallel and out-of-order copies): into qcow2 and raw, with
     * 1 and 16 chunks in flight, the result reads as SRC and qemu-img check finds it clean; -m out
     * of 1..16 and -W with -c are usage errors.
     */
    @Test
    void minusMAndMinusWCopyInParallelAndOutOfOrder() throws Exception {
        for (String[] args : new String[][] {{"-m", "16", "-W", "-O", "qcow2"}, {"-m", "1", "-O", "qcow2"},
                {"-W", "-O", "vdi"}, {"-m", "3", "-W", "-O", "raw"}}) {
            String fmt = args[args.length - 1];
            Path out = dir.resolve("mw-" + String.join("", args).replace("-", "") + "." + fmt);
            List<Object> a = new java.util.ArrayList<>(List.of("convert"));
            a.addAll(List.of(args));
            a.addAll(List.of(top, out));
            Cli.Result r = Cli.vd(a.toArray());
            assertEquals(0, r.exit(), r.toString());
            identical(top, "qcow2", out, fmt);
            if (!fmt.equals("raw")) {
                Tools.run("qemu-img", "check", "-q", "-f", fmt, out.toString());
            }
        }
        for (String[] bad : new String[][] {{"-m", "0"}, {"-m", "17"}, {"-c", "-W"}}) {
            List<Object> a = new java.util.ArrayList<>(List.of("convert", "-O", "qcow2"));
            a.addAll(List.of(bad));
            a.addAll(List.of(top, dir.resolve("bad.qcow2")));
            Cli.Result r = Cli.vd(a.toArray());
            assertEquals(2, r.exit(), String.join(" ", bad) + ": " + r);
            assertFalse(Files.exists(dir.resolve("bad.qcow2")));
        }
    }
}
