package org.vdmount.mount.cli;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.List;
import java.util.Map;
import java.util.Random;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.vdmount.vd.Disk;
import org.vdmount.vd.FormatRegistry;
import org.vdmount.vd.OpenOptions;

class ConvertTest {
    @TempDir
    Path dir;

    /**
     * A sparse raw file of an unaligned size: random data at unaligned offsets, explicitly written
     * zero ranges (allocated on the host) and holes; the last byte is data.
     */
    static Path mixedSource(Path file, long size, long seed) throws IOException {
        return mixedSource(file, size, seed, 40);
    }

    static Path mixedSource(Path file, long size, long seed, int regions) throws IOException {
        Random r = new Random(seed);
        try (FileChannel ch = FileChannel.open(file, StandardOpenOption.CREATE_NEW, StandardOpenOption.WRITE)) {
            for (int n = 0; n < regions; n++) {
                long off = (long) (r.nextDouble() * (size - 300_000));
                byte[] b = new byte[1 + r.nextInt(200_000)];
                if (n % 3 != 0) {
                    r.nextBytes(b); // data; every third region stays explicit zeros
                }
                ch.write(ByteBuffer.wrap(b), off);
            }
            ch.write(ByteBuffer.wrap(new byte[] {0x7f}), size - 1);
        }
        return file;
    }

    /** Bytes in non-zero aligned grains: what a sparse copy allocates at most with that grain. */
    static long nonZeroGrainBytes(Path file, int grain) throws IOException {
        byte[] all = Files.readAllBytes(file);
        long n = 0;
        for (int g = 0; g < all.length; g += grain) {
            for (int i = g; i < Math.min(all.length, g + grain); i++) {
                if (all[i] != 0) {
                    n += grain;
                    break;
                }
            }
        }
        return n;
    }

    @Test
    void rawToRawIsByteExactAndSparse() throws Exception {
        long size = (48L << 20) + 1234;
        Path src = mixedSource(dir.resolve("src.raw"), size, 1);
        Path dst = dir.resolve("dst.raw");
        Cli.Result r = Cli.vd("convert", src, dst);
        assertEquals(0, r.exit(), r.toString());
        assertEquals("", r.out() + r.err(), "quiet without a terminal");

        assertEquals(size, Files.size(dst));
        assertEquals(-1, Files.mismatch(src, dst), "byte-exact copy");
        long allocated = Tools.allocatedBytes(dst);
        long needed = nonZeroGrainBytes(src, 4096);
        assertTrue(allocated <= needed + (64 << 10), "dst allocates " + allocated + ", data needs " + needed);
        assertTrue(allocated < Tools.allocatedBytes(src), "explicit zeros of the source are not written");
        assertTrue(allocated < size / 4, "mostly-zero source gives a sparse copy: " + allocated);
    }

    @Test
    void defaultAndExplicitRawAgreeWithQemuCompare() throws Exception {
        Tools.require("qemu-img");
        Path src = dir.resolve("q.raw");
        Tools.run("qemu-img", "create", "-q", "-f", "raw", src.toString(), "32M");
        Tools.run("qemu-io", "-f", "raw", "-c", "write -P 0xa5 3M 5M", "-c", "write -P 0x3c 31M 1M",
                src.toString());
        Path a = dir.resolve("a.raw");
        Path b = dir.resolve("b.img");
        assertEquals(0, Cli.vd("convert", src, a).exit());
        assertEquals(0, Cli.vd("convert", "-O", "raw", "-o", "preallocation=full", src, b).exit());
        Tools.run("qemu-img", "compare", "-q", "-f", "raw", "-F", "raw", src.toString(), a.toString());
        Tools.run("qemu-img", "compare", "-q", "-f", "raw", "-F", "raw", src.toString(), b.toString());
        assertTrue(Tools.allocatedBytes(a) <= (6L << 20) + (64 << 10), "sparse: " + Tools.allocatedBytes(a));
        assertTrue(Tools.allocatedBytes(b) >= 32L << 20, "preallocation=full is passed to the format");
    }

    /** Bytes of {@code file} in the host page cache (util-linux fincore). */
    private static long residentBytes(Path file) throws Exception {
        return Long.parseLong(Tools.run("fincore", "--bytes", "--noheadings", "--output", "RES", file.toString())
                .trim());
    }

    @Test
    void dataBypassesThePageCacheUnlessWritebackIsAsked() throws Exception {
        Tools.require("fincore");
        Tools.require("qemu-img");
        Path src = mixedSource(dir.resolve("c.raw"), (24L << 20) + 512, 11, 300);
        for (String format : List.of("raw", "qcow2")) {
            Path direct = dir.resolve("none." + format);
            Path cached = dir.resolve("writeback." + format);
            Cli.Result none = Cli.vd("convert", "-O", format, "-t", "none", src, direct);
            assertEquals(0, none.exit(), none.toString());
            assertEquals("", none.err(), "no warning: " + dir + " takes O_DIRECT");
            Cli.Result wb = Cli.vd("convert", "-O", format, "-t", "writeback", src, cached);
            assertEquals(0, wb.exit(), wb.toString());
            // O_DIRECT data leaves only metadata and the unaligned tail in the cache (checked before
            // anything reads the outputs)
            long data = Tools.allocatedBytes(cached);
            assertTrue(data > 4L << 20, "the source has data: " + data);
            assertTrue(residentBytes(direct) < 1L << 20, format + ": " + residentBytes(direct) + " bytes cached");
            assertTrue(residentBytes(cached) > data / 2, format + ": " + residentBytes(cached) + " of " + data);
            for (Path out : List.of(direct, cached)) {
                Tools.run("qemu-img", "compare", "-q", "-f", "raw", "-F", format, src.toString(), out.toString());
            }
        }
        Path same = dir.resolve("default.raw");
        assertEquals(0, Cli.vd("convert", src, same).exit());
        assertTrue(residentBytes(same) > 4L << 20, "writeback is the default: " + residentBytes(same));
    }

    @Test
    void cacheModesThatSkipTheFlushAreRefused() throws Exception {
        Path src = mixedSource(dir.resolve("u.raw"), 1L << 20, 12);
        for (String mode : List.of("unsafe", "directsync", "bogus")) {
            Path dst = dir.resolve(mode + ".raw");
            Cli.Result r = Cli.vd("convert", "-t", mode, src, dst);
            assertEquals(2, r.exit(), r.toString());
            assertEquals(List.of("vd: -t " + mode + " is not supported (writeback or none; vd always flushes DST "
                    + "before it returns) (see 'vd convert --help')"), r.errLines());
            assertFalse(Files.exists(dst));
        }
    }

    @Test
    void progressBarOnlyOnATerminal() throws Exception {
        Path src = mixedSource(dir.resolve("p.raw"), 20L << 20, 2);
        Cli.Result quiet = Cli.vd("convert", src, dir.resolve("p1.raw"));
        assertEquals("", quiet.err());
        Cli.Result bar = Cli.vdOnTerminal("convert", src, dir.resolve("p2.raw"));
        assertEquals(0, bar.exit(), bar.toString());
        assertTrue(bar.err().startsWith("\r"), bar.err());
        assertTrue(bar.err().contains("100.0% [##############################] 20.0 MiB / 20.0 MiB"), bar.err());
        assertTrue(bar.err().endsWith("\n"), "the bar's line is ended");
        assertEquals("", bar.out());
    }

    @Test
    void verboseReportsWhatWasWritten() throws Exception {
        Path src = mixedSource(dir.resolve("v.raw"), 8L << 20, 3);
        Cli.Result r = Cli.vd("-v", "convert", src, dir.resolve("v2.raw"));
        assertEquals(0, r.exit(), r.toString());
        assertEquals(1, r.errLines().size(), r.toString());
        assertTrue(r.errLines().get(0).matches("vd: .*v2\\.raw: .* of 8\\.0 MiB written \\(.* read\\) in .*"),
                r.err());
    }

    @Test
    void existingOutputIsRefusedUnlessOverwrite() throws Exception {
        Path src = mixedSource(dir.resolve("s.raw"), 4L << 20, 4);
        Path dst = dir.resolve("exists.raw");
        byte[] old = "precious".getBytes();
        Files.write(dst, old);

        Cli.Result r = Cli.vd("convert", src, dst);
        assertEquals(1, r.exit());
        assertEquals(List.of("vd: " + dst + ": already exists (add --overwrite to replace it)"), r.errLines());
        assertArrayEquals(old, Files.readAllBytes(dst), "refused output stays untouched");

        Cli.Result ok = Cli.vd("convert", "--overwrite", src, dst);
        assertEquals(0, ok.exit(), ok.toString());
        assertEquals(-1, Files.mismatch(src, dst));
    }

    @Test
    void overwriteNeverReplacesTheSourceItself() throws Exception {
        Path src = mixedSource(dir.resolve("self.raw"), 4L << 20, 5);
        byte[] before = Files.readAllBytes(src);
        Path link = dir.resolve("hardlink.raw");
        Files.createLink(link, src);
        for (Path dst : List.of(src, link)) {
            Cli.Result r = Cli.vd("convert", "--overwrite", src, dst);
            assertEquals(1, r.exit(), r.toString());
            assertEquals(1, r.errLines().size(), r.toString());
            assertTrue(r.errLines().get(0).startsWith("vd: " + dst + ": is part of the source chain"), r.err());
        }
        assertArrayEquals(before, Files.readAllBytes(src));
    }

    @Test
    void rejectedFormatOptionLeavesNoOutput() throws Exception {
        Path src = mixedSource(dir.resolve("o.raw"), 1L << 20, 6);
        Path dst = dir.resolve("o2.raw");
        Cli.Result r = Cli.vd("convert", "-o", "cluster_size=64k", src, dst);
        assertEquals(1, r.exit());
        assertEquals(List.of("vd: raw: unknown option 'cluster_size' (known: preallocation)"), r.errLines());
        assertFalse(Files.exists(dst));
    }

    @Test
    void failureDuringTheCopyDeletesThePartialOutput() throws Exception {
        Path src = mixedSource(dir.resolve("f.raw"), 16L << 20, 7);
        Path dst = dir.resolve("partial.raw");
        try (Disk good = Disk.open(src, OpenOptions.defaultReadOnly());
             Disk failing = Disk.of(List.of(new FailingImage(good.top(), 9L << 20)))) {
            IOException e = assertThrows(IOException.class, () -> ConvertCommand.convert(failing,
                    FormatRegistry.require("raw"), Map.of(), dst, DiskCopy.Tuning.DEFAULT, m -> { }, new Progress(System.err, 0, false),
                    w -> { }));
            assertEquals("injected read error at 0x900000", e.getMessage());
        }
        assertFalse(Files.exists(dst), "partial output deleted");
    }
}
