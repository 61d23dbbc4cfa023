package org.vdmount.mount.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.List;
import java.util.Map;
import java.util.Random;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.vdmount.vd.Disk;
import org.vdmount.vd.OpenOptions;

/** {@code vd convert -c}: compressed qcow2 and streamOptimized VMDK, cross-checked with qemu-img. */
class ConvertCompressTest {
    @TempDir
    Path dir;

    /**
     * Random data, text-like (compressible) data, zero runs and holes, at unaligned offsets; the
     * size is not a multiple of any cluster or sector and its last byte is data.
     */
    static Path patterned(Path file, long size, long seed) throws IOException {
        Random r = new Random(seed);
        String[] words = {"disk ", "image ", "cluster ", "qcow2 ", "sector ", "the ", "of ", "zlib\n", "42 "};
        try (FileChannel ch = FileChannel.open(file, StandardOpenOption.CREATE_NEW, StandardOpenOption.WRITE)) {
            for (long off = 0; off < size; ) {
                int len = (int) Math.min(size - off, 1000 + r.nextInt(400_000));
                byte[] b = new byte[len];
                switch (r.nextInt(5)) {
                    case 0 -> r.nextBytes(b);
                    case 4 -> { // random 6000-byte run repeated: matches lie further back than 4 KiB
                        byte[] unit = new byte[6000];
                        r.nextBytes(unit);
                        for (int i = 0; i < len; i++) {
                            b[i] = unit[i % unit.length];
                        }
                    }
                    case 1 -> {
                        StringBuilder t = new StringBuilder();
                        while (t.length() < len) {
                            t.append(words[r.nextInt(words.length)]);
                        }
                        b = t.substring(0, len).getBytes(StandardCharsets.US_ASCII);
                    }
                    case 2 -> { } // explicit zeros
                    default -> b = null; // hole
                }
                if (b != null) {
                    ch.write(ByteBuffer.wrap(b), off);
                }
                off += len;
            }
            ch.write(ByteBuffer.wrap(new byte[] {0x5a}), size - 1);
        }
        return file;
    }

    @Test
    void compressedQcow2IsSmallerCleanAndIdentical() throws Exception {
        Tools.require("qemu-img");
        long size = (24L << 20) + 777;
        Path src = patterned(dir.resolve("src.raw"), size, 7);
        Path plain = dir.resolve("plain.qcow2");
        Path packed = dir.resolve("packed.qcow2");
        Path qemu = dir.resolve("qemu.qcow2");
        assertEquals(0, Cli.vd("convert", "-O", "qcow2", src, plain).exit());
        Cli.Result r = Cli.vd("convert", "-c", "-O", "qcow2", src, packed);
        assertEquals(0, r.exit(), r.toString());
        Tools.run("qemu-img", "convert", "-c", "-f", "raw", "-O", "qcow2", src.toString(), qemu.toString());
        long ours = Files.size(packed);
        long theirs = Files.size(qemu);
        System.out.println("convert -c 24 MiB patterned: vd " + ours + " bytes, qemu-img " + theirs
                + " bytes, uncompressed " + Files.size(plain));
        assertTrue(ours < Files.size(plain) * 3 / 4, ours + " vs uncompressed " + Files.size(plain));
        assertTrue(ours < theirs * 5 / 4, "within 25% of qemu-img: " + ours + " vs " + theirs);

        checkClean(packed);
        Tools.run("qemu-img", "compare", "-f", "raw", "-F", "qcow2", src.toString(), packed.toString());
        assertReadsAs(src, packed);
        int inflated = inflateWithQemuWindow(packed);
        assertTrue(inflated > 50, inflated + " compressed clusters");
        boolean systemZlib;
        try (var probe = org.vdmount.vd.nativeio.RawDeflate.open(ByteBuffer.allocateDirect(1),
                ByteBuffer.allocateDirect(1))) {
            systemZlib = probe != null;
        }
        if (systemZlib) {
            // the system zlib called as QEMU calls it: every cluster's deflate bytes are qemu-img's
            assertEquals(compressedClusters(qemu), compressedClusters(packed));
        }
        // compressed by 1 or 7 workers (-m), stored in order: the same file byte for byte
        for (String m : List.of("1", "7")) {
            Path other = dir.resolve("packed-m" + m + ".qcow2");
            assertEquals(0, Cli.vd("convert", "-c", "-m", m, "-O", "qcow2", src, other).exit());
            assertTrue(java.util.Arrays.equals(Files.readAllBytes(packed), Files.readAllBytes(other)), "-m " + m);
        }

        List<Map<String, Object>> map = qemuMap(packed);
        assertTrue(map.stream().anyMatch(e -> Boolean.TRUE.equals(e.get("data")) && !e.containsKey("offset")),
                "compressed clusters (data, no offset): " + map);
        assertTrue(map.stream().anyMatch(e -> Boolean.TRUE.equals(e.get("data")) && e.containsKey("offset")),
                "random clusters stored plain: " + map);
    }

    @Test
    void zstdCompressionTypeMatchesQemu() throws Exception {
        Tools.require("qemu-img");
        Path src = patterned(dir.resolve("zs.raw"), (12L << 20) + 99, 13);
        Path ours = dir.resolve("ours.qcow2");
        Path qemu = dir.resolve("qemu.qcow2");
        Cli.Result r = Cli.vd("convert", "-c", "-O", "qcow2", "-o", "compression_type=zstd", src, ours);
        assertEquals(0, r.exit(), r.toString());
        Tools.run("qemu-img", "convert", "-c", "-f", "raw", "-O", "qcow2", "-o", "compression_type=zstd",
                src.toString(), qemu.toString());
        System.out.println("convert -c zstd 12 MiB patterned: vd " + Files.size(ours) + " bytes, qemu-img "
                + Files.size(qemu));
        assertTrue(Files.size(ours) < Files.size(qemu) * 5 / 4, Files.size(ours) + " vs " + Files.size(qemu));
        assertTrue(Tools.qemuInfo(ours, "qcow2").toString().contains("compression-type=zstd"),
                Tools.qemuInfo(ours, "qcow2").toString());
        checkClean(ours);
        Tools.run("qemu-img", "compare", "-f", "raw", "-F", "qcow2", src.toString(), ours.toString());
        assertReadsAs(src, ours);
        assertTrue(qemuMap(ours).stream().anyMatch(e -> Boolean.TRUE.equals(e.get("data")) && !e.containsKey("offset")));

        Path created = dir.resolve("created.qcow2");
        assertEquals(0, Cli.vd("create", "-f", "qcow2", "-o", "compression_type=zstd", created, "16M").exit());
        assertTrue(Tools.qemuInfo(created, "qcow2").toString().contains("compression-type=zstd"));
        checkClean(created);

        Cli.Result v2 = Cli.vd("convert", "-c", "-O", "qcow2", "-o", "compression_type=zstd,compat=0.10", src,
                dir.resolve("v2.qcow2"));
        assertEquals(List.of("vd: qcow2: compression_type=zstd needs compat=1.1"), v2.errLines());
        assertFalse(Files.exists(dir.resolve("v2.qcow2")));
    }

    @Test
    void everyLayoutOptionGivesACleanIdenticalImage() throws Exception {
        Tools.require("qemu-img");
        Path src = patterned(dir.resolve("o.raw"), (3L << 20) + 4097, 11);
        String[] variants = {"cluster_size=512", "cluster_size=4K,refcount_bits=1", "refcount_bits=2",
                "compat=0.10", "extended_l2=on,cluster_size=32K", "cluster_size=2M", "refcount_bits=64",
            "compression_type=zstd", "compression_type=zstd,cluster_size=4K,refcount_bits=4"};
        int i = 0;
        for (String o : variants) {
            Path dst = dir.resolve("o" + i++ + ".qcow2");
            Cli.Result r = Cli.vd("convert", "-c", "-O", "qcow2", "-o", o, src, dst);
            assertEquals(0, r.exit(), o + ": " + r);
            checkClean(dst);
            Tools.run("qemu-img", "compare", "-f", "raw", "-F", "qcow2", src.toString(), dst.toString());
            assertReadsAs(src, dst);
        }
    }

    @Test
    void emptyAndAllZeroSourcesGiveEmptyImages() throws Exception {
        Tools.require("qemu-img");
        Path src = dir.resolve("z.raw");
        try (FileChannel ch = FileChannel.open(src, StandardOpenOption.CREATE_NEW, StandardOpenOption.WRITE)) {
            ch.write(ByteBuffer.wrap(new byte[1 << 20]), 0);
            ch.truncate(8L << 20);
        }
        Path dst = dir.resolve("z.qcow2");
        assertEquals(0, Cli.vd("convert", "-c", "-O", "qcow2", src, dst).exit());
        checkClean(dst);
        Tools.run("qemu-img", "compare", "-f", "raw", "-F", "qcow2", src.toString(), dst.toString());
        assertTrue(qemuMap(dst).stream().noneMatch(e -> Boolean.TRUE.equals(e.get("data"))));
    }

    @Test
    void vmdkCompressedIsStreamOptimized() throws Exception {
        Tools.require("qemu-img");
        Path src = patterned(dir.resolve("v.raw"), (6L << 20) + 512, 5);
        Path dst = dir.resolve("v.vmdk");
        Cli.Result r = Cli.vd("convert", "-c", "-O", "vmdk", src, dst);
        assertEquals(0, r.exit(), r.toString());
        Tools.run("qemu-img", "compare", "-f", "raw", "-F", "vmdk", src.toString(), dst.toString());
        Map<String, Object> info = Tools.qemuInfo(dst, "vmdk");
        assertTrue(info.toString().contains("streamOptimized"), info.toString());
        assertTrue(Files.size(dst) < Files.size(src) * 3 / 4, "compressed: " + Files.size(dst));

        Cli.Result sparse = Cli.vd("convert", "-c", "-O", "vmdk", "-o", "subformat=monolithicSparse", src,
                dir.resolve("s.vmdk"));
        assertNotEquals(0, sparse.exit());
        assertEquals(List.of("vd: -c (compression) with vmdk means subformat=streamOptimized, not monolithicSparse"),
                sparse.errLines());
        assertFalse(Files.exists(dir.resolve("s.vmdk")));
    }

    @Test
    void otherFormatsRefuseCompression() throws Exception {
        Path src = patterned(dir.resolve("source.img"), 1L << 20, 3);
        for (String fmt : new String[] {"raw", "vdi", "vhdx"}) {
            Path dst = dir.resolve("r." + fmt);
            Cli.Result r = Cli.vd("convert", "-c", "-O", fmt, src, dst);
            assertNotEquals(0, r.exit(), fmt);
            assertEquals(List.of("vd: -c (compression) is not supported for " + fmt), r.errLines(), fmt);
            assertFalse(Files.exists(dst), fmt);
        }
    }

    /**
     * Walks the image's L1/L2 tables (8-byte entries) in Python and inflates every compressed
     * cluster with zlib's raw window bits -12, as QEMU's zlib compression type requires, in
     * 512-byte output steps so matches further back than the window fail; returns how many.
     */
    private static int inflateWithQemuWindow(Path image) throws Exception {
        return Integer.parseInt(compressedClusters(image).split(" ")[0]);
    }

    /**
     * "N DIGEST": how many compressed clusters {@code image} has, each inflated with qemu's 4 KiB
     * window (zlib windowBits -12) to exactly one cluster, and a SHA-256 of every one's guest
     * index and deflate bytes (the stream as stored, without the padding after it).
     */
    private static String compressedClusters(Path image) throws Exception {
        Tools.require("python3");
        String script = String.join("\n",
                "import hashlib, struct, sys, zlib",
                "f = open(sys.argv[1], 'rb'); h = f.read(72)",
                "cb = struct.unpack('>I', h[20:24])[0]; cs = 1 << cb",
                "l1n, l1o = struct.unpack('>IQ', h[36:48])",
                "f.seek(l1o); l1 = struct.unpack('>%dQ' % l1n, f.read(8 * l1n))",
                "x = 62 - (cb - 8); n = 0; digest = hashlib.sha256()",
                "for i, e in enumerate(l1):",
                "    if not e & ((1 << 56) - 512): continue",
                "    f.seek(e & ((1 << 56) - 512)); l2 = struct.unpack('>%dQ' % (cs // 8), f.read(cs))",
                "    for j, d in enumerate(l2):",
                "        if not d & (1 << 62): continue",
                "        off = d & ((1 << x) - 1); secs = ((d >> x) & ((1 << (62 - x)) - 1)) + 1",
                "        f.seek(off); buf = f.read(secs * 512 - (off & 511))",
                "        z = zlib.decompressobj(-12); out = z.decompress(buf)",
                "        assert len(out) == cs and z.eof, (off, len(out))",
                "        digest.update(struct.pack('>Q', i * (cs // 8) + j) + buf[:len(buf) - len(z.unused_data)])",
                "        n += 1",
                "print(n, digest.hexdigest())");
        return Tools.run("python3", "-c", script, image.toString()).trim();
    }

    private static void checkClean(Path image) throws Exception {
        Tools.Output o = Tools.exec(List.of("qemu-img", "check", "-f", "qcow2", image.toString()));
        assertEquals(0, o.exit(), image + ": " + o);
        assertTrue(o.out().contains("No errors were found"), o.out());
        assertFalse(o.out().contains("leaked"), o.out());
        Cli.Result ours = Cli.vd("check", image);
        assertEquals(0, ours.exit(), "vd check " + image + ": " + ours);
    }

    @SuppressWarnings("unchecked")
    private static List<Map<String, Object>> qemuMap(Path image) throws Exception {
        String json = Tools.run("qemu-img", "map", "--output=json", "-f", "qcow2", image.toString());
        return (List<Map<String, Object>>) JsonParser.parse(json);
    }

    /** Our reader gives the source's bytes, and zeros in the rounded-up tail. */
    private static void assertReadsAs(Path src, Path image) throws IOException {
        byte[] want = Files.readAllBytes(src);
        try (Disk d = Disk.open(image, OpenOptions.defaultReadOnly())) {
            ByteBuffer got = ByteBuffer.allocate((int) d.size());
            d.read(0, got);
            byte[] all = got.array();
            assertEquals(-1, java.util.Arrays.mismatch(want, 0, want.length, all, 0, want.length), image.toString());
            for (int i = want.length; i < all.length; i++) {
                assertEquals(0, all[i], "tail byte " + i);
            }
        }
    }
}
