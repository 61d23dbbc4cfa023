package org.vdmount.vd.format.qcow2;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.vdmount.vd.format.qcow2.QemuTools.img;
import static org.vdmount.vd.format.qcow2.QemuTools.io;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.attribute.FileTime;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.ArrayList;
import java.util.HexFormat;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;
import org.vdmount.vd.CorruptImageException;
import org.vdmount.vd.Disk;
import org.vdmount.vd.Image;
import org.vdmount.vd.OpenOptions;
import org.vdmount.vd.VdException;
import org.vdmount.vd.conformance.ModelRun;
import org.vdmount.vd.conformance.ExternalTools;
import org.vdmount.vd.conformance.DiskBytes;
import org.vdmount.vd.conformance.Oracle;
import org.vdmount.vd.conformance.OracleRunner;

/**
 * Images left dirty by a crash (qemu-io's abort with lazy refcounts): a writable open rebuilds
 * the refcounts, after which our writes pass qemu-img check and compare; a read-only open changes
 * nothing; damaged metadata is refused untouched; a crash at any write of the repair leaves an
 * image that is still repairable, with its data intact.
 */
class Qcow2RepairTest {
    private static final int SIZE = 8 << 20;

    @TempDir
    Path dir;

    @BeforeEach
    void needQemu() {
        QemuTools.assumeQemu();
    }

    @AfterEach
    void hookOff() {
        RefcountRebuild.stopAfterWrites = -1;
    }

    // ---- making dirty images with qemu --------------------------------------------------------

    /** qemu-io runs the commands, then aborts: a crash before the lazy refcounts reach the file. */
    private void crash(String image, String... commands) throws IOException {
        List<String> cmd = new ArrayList<>(List.of("qemu-io", "-f", "qcow2"));
        for (String c : commands) {
            cmd.add("-c");
            cmd.add(c);
        }
        cmd.add("-c");
        cmd.add("abort");
        cmd.add(image);
        ExternalTools.Result r = QemuTools.run(dir, true, cmd.toArray(new String[0]));
        assertNotEquals(0, r.exit(), "qemu-io abort should kill qemu-io");
    }

    /** Builds scenario {@code kind}; returns the names of its internal snapshots. */
    private List<String> dirtyImage(String kind, String image) throws IOException {
        String lazy = "lazy_refcounts=on";
        switch (kind) {
            case "plain" -> {
                img(dir, "create", "-f", "qcow2", "-o", lazy, image, Integer.toString(SIZE));
                crash(image, "write -P 0xaa 0 3M", "write -P 0xab 5M 100k");
                return List.of();
            }
            case "snapshots" -> {
                img(dir, "create", "-f", "qcow2", "-o", lazy + ",cluster_size=4k", image, Integer.toString(SIZE));
                io(dir, "qcow2", image, "write -P 0x11 0 2M");
                img(dir, "snapshot", "-c", "one", image);
                io(dir, "qcow2", image, "write -P 0x12 1M 2M", "write -z 100k 8k");
                img(dir, "snapshot", "-c", "two", image);
                crash(image, "write -P 0xaa 512k 3M", "write -z 6M 64k", "discard 1536k 64k",
                        "write -P 0xac 7M 1M");
                return List.of("one", "two");
            }
            case "compressed" -> {
                QemuTools.randomRaw(dir.resolve("src.raw"), SIZE, 17);
                halfCompressible(dir.resolve("src.raw"), 2 << 20);
                img(dir, "convert", "-c", "-O", "qcow2", "-o", "cluster_size=16k", "src.raw", image);
                img(dir, "amend", "-o", lazy, image);
                img(dir, "snapshot", "-c", "packed", image);
                crash(image, "write -c -P 0x33 4M 64k", "write -P 0x44 100k 300k", "write -P 0x45 6M 1M");
                return List.of("packed");
            }
            case "extl2-backing" -> {
                img(dir, "create", "-f", "raw", "base.raw", Integer.toString(SIZE));
                io(dir, "raw", "base.raw", "write -P 0x5c 0 " + SIZE);
                img(dir, "create", "-f", "qcow2", "-o", lazy + ",extended_l2=on,cluster_size=32k", "-b", "base.raw",
                        "-F", "raw", image);
                crash(image, "write -P 0xaa 1000 70000", "write -z 2M 5000", "write -P 0xab 3M 1M");
                return List.of();
            }
            case "bitmaps" -> {
                img(dir, "create", "-f", "qcow2", "-o", lazy, image, Integer.toString(SIZE));
                io(dir, "qcow2", image, "write -P 0x21 0 1M");
                img(dir, "bitmap", "--add", image, "bm0");
                crash(image, "write -P 0xaa 512k 2M");
                return List.of();
            }
            case "tiny-refcounts" -> {
                img(dir, "create", "-f", "qcow2", "-o", lazy + ",cluster_size=512,refcount_bits=2", image,
                        Integer.toString(SIZE));
                io(dir, "qcow2", image, "write -P 0x31 0 1M");
                img(dir, "snapshot", "-c", "s", image);
                crash(image, "write -P 0xaa 300k 2M");
                return List.of("s");
            }
            case "data-file" -> {
                img(dir, "create", "-f", "qcow2", "-o", lazy + ",data_file=d.data", image, Integer.toString(SIZE));
                crash(image, "write -P 0xaa 0 3M");
                return List.of();
            }
            default -> throw new IllegalArgumentException(kind);
        }
    }

    // ---- helpers ------------------------------------------------------------------------------

    private boolean dirtyBit(String image) throws IOException {
        return (header(image).getLong(0x48) & 1) != 0;
    }

    private ByteBuffer header(String image) throws IOException {
        byte[] b = new byte[112];
        try (var in = Files.newInputStream(dir.resolve(image))) {
            in.readNBytes(b, 0, b.length);
        }
        return ByteBuffer.wrap(b);
    }

    static String sha256(Path p) throws IOException {
        try {
            return HexFormat.of().formatHex(MessageDigest.getInstance("SHA-256").digest(Files.readAllBytes(p)));
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException(e);
        }
    }

    private byte[] ourSnapshot(String image, String name) throws IOException {
        Image snap = new Qcow2Format().openSnapshot(dir.resolve(image), name, OpenOptions.defaultReadOnly());
        try (Disk d = Disk.fromTop(snap, OpenOptions.defaultReadOnly())) {
            return DiskBytes.readAll(d);
        }
    }

    private byte[] qemuSnapshot(String image, String name) throws IOException {
        Files.copy(dir.resolve(image), dir.resolve("snap.qcow2"), StandardCopyOption.REPLACE_EXISTING);
        img(dir, "snapshot", "-a", name, "snap.qcow2");
        byte[] b = QemuTools.qemuRaw(dir, "snap.qcow2");
        Files.delete(dir.resolve("snap.qcow2"));
        return b;
    }

    /** qemu-img check finds nothing, qemu-img compare matches {@code model}, the dirty bit is clear. */
    private void assertCleanAndEqual(String image, byte[] model) throws IOException {
        OracleRunner.verify(Oracle.qemu("qcow2"), List.of(dir.resolve(image)), model);
        assertFalse(dirtyBit(image), "dirty bit cleared");
    }

    /** Opens writable (the repair runs), checks the warning and content, scribbles, closes. */
    private void repairAndWrite(String image, byte[] model, long seed, int ops) throws IOException {
        List<String> warnings = new ArrayList<>();
        try (Disk d = Disk.open(dir.resolve(image), OpenOptions.defaultReadWrite().withWarnings(warnings::add))) {
            assertEquals(1, warnings.size(), "one warning: " + warnings);
            assertTrue(warnings.get(0).contains("refcounts rebuilt") && !warnings.get(0).contains("\n"),
                    warnings.get(0));
            DiskBytes.assertSame(model, DiskBytes.readAll(d), image + " right after the repair");
            ModelRun.scribble(d, model, new Random(seed), ops);
        }
    }

    // ---- tests --------------------------------------------------------------------------------

    @ParameterizedTest
    @ValueSource(strings = {"plain", "snapshots", "compressed", "extl2-backing", "bitmaps", "tiny-refcounts",
        "data-file"})
    void writableOpenRepairsWhatQemuLeftDirty(String kind) throws IOException {
        List<String> snapshots = dirtyImage(kind, "d.qcow2");
        assertTrue(dirtyBit("d.qcow2"), "qemu-io abort leaves the dirty bit");
        assertTrue(img(dir, "info", "d.qcow2").contains("cleanly shut down: no"));
        if (!kind.equals("data-file")) { // there qemu's few metadata clusters happen to be counted already
            ExternalTools.Result check = QemuTools.check(dir, "qcow2", "d.qcow2");
            assertNotEquals(0, check.exit(), "qemu-img check should complain about the dirty image");
        }
        if (kind.equals("compressed")) {
            assertTrue(compressedSpanningTwoClusters(dir.resolve("d.qcow2")) > 0,
                    "the image should hold compressed clusters whose sectors span two host clusters");
        }
        byte[] model = QemuTools.qemuRaw(dir, "d.qcow2");
        Map<String, byte[]> snaps = new LinkedHashMap<>();
        for (String s : snapshots) {
            snaps.put(s, ourSnapshot("d.qcow2", s));
        }

        repairAndWrite("d.qcow2", model, kind.hashCode(), 150);
        assertCleanAndEqual("d.qcow2", model);
        for (Map.Entry<String, byte[]> s : snaps.entrySet()) {
            DiskBytes.assertSame(s.getValue(), qemuSnapshot("d.qcow2", s.getKey()),
                    kind + " snapshot " + s.getKey() + " after repair and writes");
        }
        List<String> warnings = new ArrayList<>();
        try (Disk d = Disk.open(dir.resolve("d.qcow2"), OpenOptions.defaultReadWrite().withWarnings(warnings::add))) {
            d.write(0, ByteBuffer.wrap(new byte[] {1, 2, 3}));
        }
        assertEquals(List.of(), warnings, "a clean image is not repaired again");
        QemuTools.assertClean(dir, "qcow2", "d.qcow2");
    }

    @Test
    void readOnlyOpenOfADirtyImageWritesNothing() throws IOException {
        dirtyImage("snapshots", "d.qcow2");
        Path p = dir.resolve("d.qcow2");
        Files.setLastModifiedTime(p, FileTime.fromMillis(1_000_000_000_000L));
        String sha = sha256(p);
        byte[] expect = QemuTools.qemuRaw(dir, "d.qcow2");
        List<String> warnings = new ArrayList<>();
        try (Disk d = Disk.open(p, OpenOptions.defaultReadOnly().withWarnings(warnings::add))) {
            DiskBytes.assertSame(expect, DiskBytes.readAll(d), "read-only view of the dirty image");
            assertEquals(true, d.top().details().get("dirty"));
        }
        ourSnapshot("d.qcow2", "one");
        assertEquals(List.of(), warnings);
        assertEquals(sha, sha256(p), "bytes unchanged");
        assertEquals(FileTime.fromMillis(1_000_000_000_000L), Files.getLastModifiedTime(p), "mtime unchanged");
        assertTrue(dirtyBit("d.qcow2"));
    }

    /** Stale refcounts of every kind (missing, leaked) and wrong COPIED flags, set by hand on a qemu image. */
    @Test
    void staleRefcountsAndCopiedFlagsAreRebuilt() throws IOException {
        img(dir, "create", "-f", "qcow2", "-o", "cluster_size=4k", "s.qcow2", Integer.toString(SIZE));
        io(dir, "qcow2", "s.qcow2", "write -P 0x11 0 1M");
        img(dir, "snapshot", "-c", "one", "s.qcow2");
        io(dir, "qcow2", "s.qcow2", "write -P 0x12 512k 64k");
        byte[] snapshot = ourSnapshot("s.qcow2", "one");
        byte[] model = QemuTools.qemuRaw(dir, "s.qcow2");
        Layout l = new Layout(dir.resolve("s.qcow2"));
        byte[] b = Files.readAllBytes(dir.resolve("s.qcow2"));
        ByteBuffer bb = ByteBuffer.wrap(b);
        // active L2 entry 0 (shared with the snapshot, refcount 2): claim COPIED, as if writable in place
        long l2 = l.l2Offset(b, 0);
        bb.putLong((int) l2, bb.getLong((int) l2) | 1L << 63);
        // active L2 entry 128 (512k, our own after the write): drop COPIED
        bb.putLong((int) l2 + 128 * 8, bb.getLong((int) l2 + 128 * 8) & ~(1L << 63));
        // refcounts: a used cluster at 0, and a cluster appended to the file at 3 (a leak)
        long block = bb.getLong((int) bb.getLong(0x30));
        long used = (bb.getLong((int) l2 + 128 * 8) & 0x00ff_ffff_ffff_fe00L) >>> 12;
        bb.putShort((int) (block + used * 2), (short) 0);
        long leaked = (b.length + 4095L) >>> 12;
        bb.putShort((int) (block + leaked * 2), (short) 3);
        bb.putLong(0x48, bb.getLong(0x48) | 1); // dirty
        b = java.util.Arrays.copyOf(b, (int) (leaked + 1 << 12));
        Files.write(dir.resolve("s.qcow2"), b);
        assertNotEquals(0, QemuTools.check(dir, "qcow2", "s.qcow2").exit());

        List<String> warnings = new ArrayList<>();
        try (Disk d = Disk.open(dir.resolve("s.qcow2"), OpenOptions.defaultReadWrite().withWarnings(warnings::add))) {
            assertEquals(1, warnings.size(), warnings.toString());
            String w = warnings.get(0);
            assertTrue(w.contains("1 leaked clusters freed") && w.contains("2 COPIED flags fixed"), w);
            ModelRun.scribble(d, model, new Random(31), 100);
            d.write(0, ByteBuffer.wrap(new byte[4096])); // into the cluster shared with the snapshot
            java.util.Arrays.fill(model, 0, 4096, (byte) 0);
        }
        assertCleanAndEqual("s.qcow2", model);
        DiskBytes.assertSame(snapshot, qemuSnapshot("s.qcow2", "one"),
                "snapshot survives a wrong COPIED flag");
    }

    @ParameterizedTest
    @ValueSource(strings = {"twice", "past-eof-data", "past-eof-l2", "data-on-l1", "compressed-on-data",
        "snapshot-l1-past-eof"})
    void damagedDirtyImagesAreRefusedUntouched(String damage) throws IOException {
        dirtyImage("snapshots", "d.qcow2");
        Path p = dir.resolve("d.qcow2");
        byte[] b = Files.readAllBytes(p);
        ByteBuffer bb = ByteBuffer.wrap(b);
        Layout l = new Layout(p);
        long l2 = l.l2Offset(b, 0);
        long pastEof = (b.length + 8191L) & ~4095L;
        String expect;
        switch (damage) {
            case "twice" -> {
                bb.putLong((int) l2 + 8, bb.getLong((int) l2 + 16));
                expect = "referenced twice by the active image";
            }
            case "past-eof-data" -> {
                bb.putLong((int) l2 + 8, pastEof | 1L << 63);
                expect = "past the end of the file";
            }
            case "past-eof-l2" -> {
                bb.putLong((int) l.l1Offset, pastEof | 1L << 63);
                expect = "past the end of the file";
            }
            case "data-on-l1" -> {
                bb.putLong((int) l2 + 8, l.l1Offset | 1L << 63);
                expect = "is used as data but already as metadata";
            }
            case "compressed-on-data" -> {
                long data = bb.getLong((int) l2 + 16) & 0x00ff_ffff_ffff_fe00L;
                bb.putLong((int) l2 + 8, 1L << 62 | data + 1024);
                expect = "compressed data";
            }
            default -> {
                long snapTable = bb.getLong(0x40);
                bb.putLong((int) snapTable, pastEof);
                expect = "past the end of the file";
            }
        }
        Files.write(p, b);
        Files.setLastModifiedTime(p, FileTime.fromMillis(1_000_000_000_000L));
        String sha = sha256(p);
        VdException e = assertThrows(VdException.class, () -> Disk.open(p, OpenOptions.defaultReadWrite()).close());
        assertTrue(e instanceof CorruptImageException, e.toString());
        assertTrue(e.getMessage().contains(expect) && e.getMessage().contains("not repaired")
                && !e.getMessage().contains("\n"), e.getMessage());
        assertEquals(sha, sha256(p), "a refused repair writes nothing");
        assertEquals(FileTime.fromMillis(1_000_000_000_000L), Files.getLastModifiedTime(p));
        try (Disk d = Disk.open(p, OpenOptions.defaultReadOnly())) {
            assertEquals(SIZE, d.size(), "still opens read-only");
        }
    }

    @Test
    void crashAtEveryWriteOfTheRepairLeavesARepairableImage() throws IOException {
        dirtyImage("snapshots", "pristine.qcow2");
        // a wrong COPIED flag too, so the crash points include the in-place flag fixes
        Path pristine = dir.resolve("pristine.qcow2");
        byte[] b = Files.readAllBytes(pristine);
        long l2 = new Layout(pristine).l2Offset(b, 0);
        ByteBuffer.wrap(b).putLong((int) l2, ByteBuffer.wrap(b).getLong((int) l2) | 1L << 63);
        Files.write(pristine, b);
        byte[] expect = QemuTools.qemuRaw(dir, "pristine.qcow2");
        byte[] snapshot = ourSnapshot("pristine.qcow2", "one");

        Files.copy(pristine, dir.resolve("full.qcow2"));
        Disk.open(dir.resolve("full.qcow2"), OpenOptions.defaultReadWrite()).close();
        int writes = RefcountRebuild.lastWrites;
        assertTrue(writes >= 5, "COPIED fixes, blocks, table, header pointer, dirty bit: " + writes);
        QemuTools.assertClean(dir, "qcow2", "full.qcow2");

        for (int n = 0; n < writes; n++) {
            Path c = dir.resolve("c.qcow2");
            Files.copy(pristine, c, StandardCopyOption.REPLACE_EXISTING);
            RefcountRebuild.stopAfterWrites = n;
            VdException e = assertThrows(VdException.class, () -> Disk.open(c, OpenOptions.defaultReadWrite()).close());
            assertTrue(e.getMessage().contains("test hook"), e.getMessage());
            RefcountRebuild.stopAfterWrites = -1;
            assertTrue(dirtyBit("c.qcow2"), "still dirty after a crash at write " + n);
            try (Disk d = Disk.open(c, OpenOptions.defaultReadOnly())) {
                DiskBytes.assertSame(expect, DiskBytes.readAll(d), "data after a crash at write " + n);
            }
            Files.copy(c, dir.resolve("q.qcow2"), StandardCopyOption.REPLACE_EXISTING);
            QemuTools.run(dir, true, "qemu-img", "check", "-r", "all", "q.qcow2");
            QemuTools.assertClean(dir, "qcow2", "q.qcow2");
            DiskBytes.assertSame(expect, QemuTools.qemuRaw(dir, "q.qcow2"),
                    "qemu's repair after crash " + n);

            byte[] model = expect.clone();
            repairAndWrite("c.qcow2", model, n, 30);
            assertCleanAndEqual("c.qcow2", model);
            DiskBytes.assertSame(snapshot, ourSnapshot("c.qcow2", "one"), "snapshot after crash " + n);
        }
    }

    /**
     * Random nibbles over the first {@code bytes}: each cluster compresses to about half, so
     * consecutive compressed clusters straddle host cluster boundaries.
     */
    static void halfCompressible(Path raw, int bytes) throws IOException {
        byte[] b = new byte[bytes];
        new java.util.Random(23).nextBytes(b);
        for (int i = 0; i < b.length; i++) {
            b[i] &= 0x0F;
        }
        try (var ch = java.nio.channels.FileChannel.open(raw, java.nio.file.StandardOpenOption.WRITE)) {
            ch.write(ByteBuffer.wrap(b), 0);
        }
    }

    /** Compressed descriptors of the active image whose sectors touch two host clusters. */
    private static int compressedSpanningTwoClusters(Path p) throws IOException {
        byte[] b = Files.readAllBytes(p);
        ByteBuffer bb = ByteBuffer.wrap(b);
        int cb = bb.getInt(0x14);
        int shift = 62 - (cb - 8);
        Layout l = new Layout(p);
        int spanning = 0;
        for (int i = 0; i < bb.getInt(0x24); i++) {
            long l2 = l.l2Offset(b, i);
            for (int k = 0; l2 != 0 && k < 1 << (cb - 3); k++) {
                long e = bb.getLong((int) l2 + 8 * k);
                if ((e & 1L << 62) != 0) {
                    long off = e & ((1L << shift) - 1);
                    long end = (off & ~511L) + (((e >>> shift) & ((1L << (cb - 8)) - 1)) + 1) * 512;
                    spanning += off >>> cb != (end - 1) >>> cb ? 1 : 0;
                }
            }
        }
        return spanning;
    }

    /** Where the header says the active L1 table is. */
    private record Layout(long l1Offset, int clusterBits) {
        Layout(Path p) throws IOException {
            this(readHeader(p).getLong(0x28), readHeader(p).getInt(0x14));
        }

        private static ByteBuffer readHeader(Path p) throws IOException {
            byte[] b = new byte[112];
            try (var in = Files.newInputStream(p)) {
                in.readNBytes(b, 0, b.length);
            }
            return ByteBuffer.wrap(b);
        }

        long l2Offset(byte[] b, int l1Index) {
            return ByteBuffer.wrap(b).getLong((int) (l1Offset + 8L * l1Index)) & 0x00ff_ffff_ffff_fe00L;
        }
    }
}
