package org.vdmount.vd.format.parallels;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.vdmount.vd.format.qcow2.QemuTools.assertClean;
import static org.vdmount.vd.format.qcow2.QemuTools.assertSameAsQemu;
import static org.vdmount.vd.format.qcow2.QemuTools.img;
import static org.vdmount.vd.format.qcow2.QemuTools.io;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.FileTime;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Random;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;
import org.vdmount.vd.Bytes;
import org.vdmount.vd.CreateOptions;
import org.vdmount.vd.Disk;
import org.vdmount.vd.FormatRegistry;
import org.vdmount.vd.Image;
import org.vdmount.vd.OpenOptions;
import org.vdmount.vd.UnsupportedFeatureException;
import org.vdmount.vd.VdException;
import org.vdmount.vd.conformance.ModelRun;
import org.vdmount.vd.conformance.Oracle;
import org.vdmount.vd.conformance.OracleRunner;
import org.vdmount.vd.format.qcow2.QemuTools;

/** Parallels image files: qemu-made images read byte-exact; our writes and creates pass qemu-img check. */
class ParallelsTest {
    private static final int SIZE = 8 << 20;

    @TempDir
    Path dir;

    @BeforeEach
    void needQemu() {
        QemuTools.assumeQemu();
    }

    private void patterns(String image) throws IOException {
        io(dir, "parallels", image, "write -P 0xab 1000 5000", "write -P 0x11 200017 100000",
                "write -P 0x22 " + (SIZE - 700) + " 700", "write -P 0x44 6000123 4567");
    }

    private void scribbleAndVerify(String image, long seed) throws IOException {
        byte[] model = QemuTools.qemuRaw(dir, image);
        try (Disk d = Disk.open(dir.resolve(image), OpenOptions.defaultReadWrite())) {
            ModelRun.scribble(d, model, new Random(seed), 250);
        }
        OracleRunner.verify(Oracle.qemu("parallels"), List.of(dir.resolve(image)), model);
        assertSameAsQemu(dir, image);
    }

    @ParameterizedTest
    @ValueSource(strings = {"cluster_size=1M", "cluster_size=64k", "cluster_size=4k"})
    void qemuImagesReadAndWrite(String options) throws IOException {
        img(dir, "create", "-f", "parallels", "-o", options, "a.hds", Integer.toString(SIZE));
        patterns("a.hds");
        assertSameAsQemu(dir, "a.hds");
        assertEquals("parallels", FormatRegistry.probe(dir.resolve("a.hds")).name());
        scribbleAndVerify("a.hds", options.hashCode());
    }

    @ParameterizedTest
    @ValueSource(strings = {"1M", "64K", "4K"})
    void createdImagesAreLaidOutAsQemuLaysThemOut(String cluster) throws IOException {
        long size = 10_000_000 + 512 * 3;
        img(dir, "create", "-f", "parallels", "-o", "cluster_size=" + cluster, "q.hds", Long.toString(size));
        FormatRegistry.require("parallels").create(dir.resolve("o.hds"),
                CreateOptions.of(size).with("cluster_size", cluster)).close();
        assertArrayEquals(Files.readAllBytes(dir.resolve("q.hds")), Files.readAllBytes(dir.resolve("o.hds")));
        String info = img(dir, "info", "--output=json", "o.hds");
        assertTrue(info.contains("\"format\": \"parallels\""), info);
        assertTrue(info.contains("\"virtual-size\": " + (size + 511) / 512 * 512), info);
        scribbleAndVerify("o.hds", 7);
    }

    @Test
    void plainAndBadClusterSizesAreRefusedAtCreate() throws IOException {
        var f = FormatRegistry.require("parallels");
        VdException e = assertThrows(VdException.class, () -> f.create(dir.resolve("p.hds"),
                CreateOptions.of(SIZE).with("subformat", "plain")));
        assertTrue(e.getMessage().contains("subformat=plain"), e.getMessage());
        e = assertThrows(VdException.class, () -> f.create(dir.resolve("p.hds"),
                CreateOptions.of(SIZE).with("cluster_size", "3000")));
        assertTrue(e.getMessage().contains("cluster_size 3000"), e.getMessage());
        assertFalse(Files.exists(dir.resolve("p.hds")));
    }

    @Test
    void theInUseFlagIsSetWhileOpenWritableAndReadOnlyOpensNeverWrite() throws IOException {
        img(dir, "create", "-f", "parallels", "a.hds", Integer.toString(SIZE));
        patterns("a.hds");
        Path p = dir.resolve("a.hds");
        byte[] before = Files.readAllBytes(p);
        Files.setLastModifiedTime(p, FileTime.fromMillis(1_000_000_000_000L));
        try (Disk d = Disk.open(p, OpenOptions.defaultReadOnly())) {
            d.read(0, ByteBuffer.allocate(4096));
        }
        assertArrayEquals(before, Files.readAllBytes(p));
        assertEquals(1_000_000_000_000L, Files.getLastModifiedTime(p).toMillis());
        try (Disk d = Disk.open(p, OpenOptions.defaultReadWrite())) {
            assertEquals(ParallelsHeader.IN_USE, u32(p, 0x2C));
            d.write(0, ByteBuffer.wrap(new byte[] {1, 2, 3}));
        }
        assertEquals(0, u32(p, 0x2C));
        assertClean(dir, "parallels", "a.hds");
    }

    @Test
    void anUncleanImageWithEntriesPastTheEndIsRepairedByAWritableOpen() throws IOException {
        img(dir, "create", "-f", "parallels", "-o", "cluster_size=64k", "a.hds", Integer.toString(SIZE));
        patterns("a.hds");
        Path p = dir.resolve("a.hds");
        long size = Files.size(p);
        put32(p, 0x40 + 4 * 100, (size + (1 << 20)) / 65536); // entry 100 points 1 MiB past the end
        List<String> warnings = new ArrayList<>();
        // not in use: a writable open refuses, a read-only one warns and reads what it can
        VdException e = assertThrows(VdException.class, () -> Disk.open(p, OpenOptions.defaultReadWrite()));
        assertTrue(e.getMessage().contains("entry 100") && e.getMessage().contains("past the end"), e.getMessage());
        try (Disk d = Disk.open(p, OpenOptions.defaultReadOnly().withWarnings(warnings::add))) {
            d.read(0, ByteBuffer.allocate(4096));
            assertThrows(IOException.class, () -> d.read(100L * 65536, ByteBuffer.allocate(512)));
        }
        assertEquals(1, warnings.size(), warnings.toString());
        // left in use (a crash): the writable open clears the entry, as qemu-img check -r all would
        put32(p, 0x2C, ParallelsHeader.IN_USE);
        assertEquals(2, QemuTools.check(dir, "parallels", "a.hds").exit());
        warnings.clear();
        try (Disk d = Disk.open(p, OpenOptions.defaultReadWrite().withWarnings(warnings::add))) {
            ByteBuffer b = ByteBuffer.allocate(512);
            d.read(100L * 65536, b);
            assertTrue(Bytes.of(b.array()).isZero(0, 512));
        }
        assertTrue(warnings.stream().anyMatch(w -> w.contains("1 BAT entries pointing past the end")), warnings.toString());
        assertClean(dir, "parallels", "a.hds");
        assertSameAsQemu(dir, "a.hds");
    }

    @Test
    void discardFreesClustersAndTheNextSessionReusesThem() throws IOException {
        img(dir, "create", "-f", "parallels", "-o", "cluster_size=64k", "a.hds", Integer.toString(SIZE));
        io(dir, "parallels", "a.hds", "write -P 0x11 0 1M", "write -P 0x22 2M 64k");
        Path p = dir.resolve("a.hds");
        long sizeBefore = Files.size(p);
        try (Disk d = Disk.open(p, OpenOptions.defaultReadWrite())) {
            long allocated = d.top().allocatedBytes();
            d.discard(65536, 4 * 65536);
            assertEquals(allocated - 4 * 65536, d.top().allocatedBytes());
            ByteBuffer b = ByteBuffer.allocate(4 * 65536);
            d.read(65536, b);
            assertTrue(Bytes.of(b.array()).isZero(0, b.capacity()));
        }
        assertClean(dir, "parallels", "a.hds");
        assertSameAsQemu(dir, "a.hds");
        try (Disk d = Disk.open(p, OpenOptions.defaultReadWrite())) {
            byte[] data = new byte[4 * 65536];
            Arrays.fill(data, (byte) 0x33);
            d.write(5L << 20, ByteBuffer.wrap(data));
        }
        assertEquals(sizeBefore, Files.size(p), "the four freed clusters were reused");
        assertClean(dir, "parallels", "a.hds");
        assertSameAsQemu(dir, "a.hds");
    }

    /** "WithoutFreeSpace" images count BAT entries in sectors; made here from a qemu image by hand. */
    @Test
    void oldMagicImagesCountTheBatInSectors() throws IOException {
        img(dir, "create", "-f", "parallels", "-o", "cluster_size=64k", "a.hds", Integer.toString(SIZE));
        patterns("a.hds");
        Path p = dir.resolve("a.hds");
        byte[] b = Files.readAllBytes(p);
        Bytes h = Bytes.of(b);
        h.putBytes(0, ParallelsHeader.MAGIC);
        for (int i = 0; i < h.u32le(0x20); i++) {
            h.put32le(0x40 + 4 * i, h.u32le(0x40 + 4 * i) * 128);
        }
        Files.write(p, b);
        assertSameAsQemu(dir, "a.hds");
        scribbleAndVerify("a.hds", 3);
        assertArrayEquals(ParallelsHeader.MAGIC, Arrays.copyOf(Files.readAllBytes(p), 16));
    }

    /** 63-sector clusters (old Parallels images) read; they are not a power of two, so writes are refused. */
    @Test
    void clustersOf63SectorsReadButDoNotOpenWritable() throws IOException {
        Path p = dir.resolve("old.hds");
        int clusters = 10;
        long cluster = 63 * 512;
        long dataOff = 512; // data_off 0: the BAT's end rounded up to a sector
        byte[] b = new byte[(int) (dataOff + 3 * cluster)];
        Bytes h = Bytes.of(b);
        new ParallelsHeader(false, 2, 16, 1, 63, clusters, clusters * 63, 0, 0, 0, 0).write(h);
        h.put32le(0x40 + 4 * 2, dataOff / 512);                    // guest cluster 2 → host cluster 0
        h.put32le(0x40 + 4 * 7, (dataOff + 2 * cluster) / 512);     // guest cluster 7 → host cluster 2
        Arrays.fill(b, (int) dataOff, (int) (dataOff + cluster), (byte) 0x5A);
        Arrays.fill(b, (int) (dataOff + 2 * cluster), b.length, (byte) 0xA5);
        Files.write(p, b);
        assertSameAsQemu(dir, "old.hds");
        UnsupportedFeatureException e = assertThrows(UnsupportedFeatureException.class,
                () -> Disk.open(p, OpenOptions.defaultReadWrite()));
        assertTrue(e.getMessage().contains("63 sectors"), e.getMessage());
    }

    @Test
    void aDirtyBitmapIsDroppedByAWritableOpenAndAnUnknownNecessaryFeatureRefusesIt() throws IOException {
        img(dir, "create", "-f", "parallels", "-o", "cluster_size=64k", "a.hds", Integer.toString(SIZE));
        io(dir, "parallels", "a.hds", "write -P 0x11 0 64k");
        Path p = dir.resolve("a.hds");
        long ext = Files.size(p);
        byte[] cluster = new byte[65536];
        Bytes c = Bytes.of(cluster);
        c.put64le(0, FormatExtension.MAGIC);
        c.put64le(24, 0x1234_5678_9ABC_DEF0L).put64le(32, FormatExtension.FLAG_NECESSARY).put32le(40, 8);
        try (var ch = java.nio.channels.FileChannel.open(p, java.nio.file.StandardOpenOption.WRITE)) {
            ch.write(ByteBuffer.wrap(cluster), ext);
        }
        put64(p, 0x38, ext / 512);
        List<String> warnings = new ArrayList<>();
        try (Disk d = Disk.open(p, OpenOptions.defaultReadOnly().withWarnings(warnings::add))) {
            assertEquals(SIZE, d.size());
        }
        assertTrue(warnings.stream().anyMatch(w -> w.contains("MD5")), warnings.toString());
        UnsupportedFeatureException e = assertThrows(UnsupportedFeatureException.class,
                () -> Disk.open(p, OpenOptions.defaultReadWrite()));
        assertTrue(e.getMessage().contains("0x123456789abcdef0") && e.getMessage().contains("necessary"),
                e.getMessage());
        // the same cluster holding a dirty bitmap section: dropped, then the file is cut after the data
        c.put64le(24, FormatExtension.DIRTY_BITMAP);
        try (var ch = java.nio.channels.FileChannel.open(p, java.nio.file.StandardOpenOption.WRITE)) {
            ch.write(ByteBuffer.wrap(cluster), ext);
        }
        warnings.clear();
        try (Disk d = Disk.open(p, OpenOptions.defaultReadWrite().withWarnings(warnings::add))) {
            d.write(1 << 20, ByteBuffer.wrap(new byte[65536]));
        }
        assertTrue(warnings.stream().anyMatch(w -> w.contains("dirty bitmap extension dropped")), warnings.toString());
        assertEquals(0, u32(p, 0x38));
        assertClean(dir, "parallels", "a.hds");
        assertSameAsQemu(dir, "a.hds");
    }

    private static final String[][] HOSTILE = {
        // offset, value (hex, 4 bytes LE unless 8 given), expected words
        {"1c", "0", "cluster size (tracks) is 0"},
        {"1c", "200000", "exceeds the supported"},
        {"20", "1", "less than the disk size"},
        {"20", "7fffffff", "truncated BAT"},
        {"10", "3", "unsupported version 3"},
        {"30", "81", "not a non-zero multiple of the cluster size"},
        {"2c", "12345678", "in-use field"},
        {"40", "1", "not a cluster of the data area"},
    };

    @Test
    void hostileHeadersAndTablesAreRefusedInOneLine() throws IOException {
        img(dir, "create", "-f", "parallels", "-o", "cluster_size=64k", "a.hds", Integer.toString(SIZE));
        io(dir, "parallels", "a.hds", "write -P 0x11 0 64k");
        byte[] good = Files.readAllBytes(dir.resolve("a.hds"));
        for (String[] c : HOSTILE) {
            Path p = dir.resolve("h" + c[0] + c[1] + ".hds");
            byte[] b = good.clone();
            int off = Integer.parseInt(c[0], 16);
            Bytes.of(b).put32le(off, Long.parseLong(c[1], 16));
            if (off == 0x40) {
                Bytes.of(b).put32le(0x30, 0x100); // data area from cluster 2: entry 0 (cluster 1) lies below it
            }
            Files.write(p, b);
            for (OpenOptions o : List.of(OpenOptions.defaultReadOnly(), OpenOptions.defaultReadWrite())) {
                VdException e = assertThrows(VdException.class, () -> Disk.open(p, o), c[2]);
                assertTrue(e.getMessage().contains(c[2]) && e.getMessage().contains(p.toString())
                        && !e.getMessage().contains("\n"), e.getMessage());
            }
        }
    }

    @Test
    void aFileWithOnlyTheMagicIsParallelsAndRefusedAsCorrupt() throws IOException {
        Path p = dir.resolve("x.hds");
        byte[] b = new byte[65536];
        Bytes.of(b).putBytes(0, ParallelsHeader.MAGIC).put32le(0x10, 2);
        Files.write(p, b);
        assertEquals("parallels", FormatRegistry.probe(p).name());
        VdException e = assertThrows(VdException.class, () -> Disk.open(p, OpenOptions.defaultReadOnly()));
        assertTrue(e.getMessage().startsWith("parallels: corrupt header in " + p), e.getMessage());
    }

    @Test
    void infoDetails() throws IOException {
        img(dir, "create", "-f", "parallels", "a.hds", Integer.toString(SIZE));
        try (Image i = FormatRegistry.open(dir.resolve("a.hds"), OpenOptions.defaultReadOnly())) {
            assertEquals("expanding", i.variant());
            assertEquals(1L << 20, i.details().get("cluster_size"));
            assertEquals("WithouFreSpacExt", i.details().get("magic"));
        }
    }

    private static long u32(Path p, int off) throws IOException {
        return Bytes.of(Arrays.copyOf(Files.readAllBytes(p), off + 4)).u32le(off);
    }

    private static void put32(Path p, int off, long v) throws IOException {
        byte[] b = Files.readAllBytes(p);
        Bytes.of(b).put32le(off, v);
        Files.write(p, b);
    }

    private static void put64(Path p, int off, long v) throws IOException {
        byte[] b = Files.readAllBytes(p);
        Bytes.of(b).put64le(off, v);
        Files.write(p, b);
    }
}
