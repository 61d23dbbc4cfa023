package org.vdmount.vd.format.vmdk;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.FileTime;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;
import org.vdmount.vd.Bytes;
import org.vdmount.vd.FormatRegistry;
import org.vdmount.vd.check.CheckReport;
import org.vdmount.vd.check.Finding;
import org.vdmount.vd.check.ImageChecker;
import org.vdmount.vd.check.Repair;

/**
 * {@code vd check} for VMDK against qemu-made images, clean and with damaged grain tables, each
 * cross-checked with {@code qemu-img check -f vmdk} where QEMU checks the same thing (QEMU checks
 * grain entries against the end of the file only; not the redundant copy, not duplicates).
 */
class VmdkCheckTest {
    private static final int GRAIN = 64 << 10;

    @TempDir
    Path dir;

    @BeforeAll
    static void tools() {
        Tools.need("qemu-img", "qemu-io");
    }

    private static CheckReport check(Path p) throws Exception {
        ImageChecker c = FormatRegistry.require("vmdk").checker().orElseThrow();
        return c.check(p, Repair.NONE);
    }

    private int qemuCheck(Path p) throws Exception {
        return Tools.exec(dir, "qemu-img", "check", "-f", "vmdk", p.toString()).exit();
    }

    /** A qemu-made 64 MiB image with 3 grains written (one of them in the second grain table). */
    private Path image(String subformat) throws Exception {
        Path p = dir.resolve(subformat + ".vmdk");
        Tools.run(dir, "qemu-img", "create", "-f", "vmdk", "-o", "subformat=" + subformat, p.toString(), "64M");
        Tools.run(dir, "qemu-io", "-f", "vmdk", "-c", "write -P 0x11 0 64k", "-c", "write -P 0x22 1M 100",
                "-c", "write -P 0x33 40M 64k", p.toString());
        assertEquals(0, qemuCheck(p), "qemu-img check of the fresh image");
        return p;
    }

    @ParameterizedTest
    @ValueSource(strings = {"monolithicSparse", "twoGbMaxExtentSparse", "monolithicFlat", "twoGbMaxExtentFlat"})
    void cleanImagesAreClean(String subformat) throws Exception {
        CheckReport r = check(image(subformat));
        assertEquals(0, r.exitStatus(), r.findings() + " " + r.incompleteReason());
        assertEquals(0, r.corruptions());
        if (subformat.endsWith("Sparse")) {
            assertEquals(64L * 1024 * 1024 / GRAIN, r.totalClusters());
            assertEquals(3, r.allocatedClusters());
        } else {
            assertEquals(-1, r.allocatedClusters(), "flat extents have no grains");
        }
    }

    private record Tables(long gt, long rgt) {
    }

    /** Offsets of grain table 0 and its redundant copy in a monolithicSparse file. */
    private static Tables tables(byte[] f) {
        Bytes b = Bytes.of(f);
        long gd = b.u64le(0x38) * 512;
        long rgd = b.u64le(0x30) * 512;
        assertNotEquals(0, rgd, "qemu writes a redundant directory");
        return new Tables(b.u32le((int) gd) * 512, b.u32le((int) rgd) * 512);
    }

    @Test
    void grainPastEndOfFileIsCorruptionLikeQemu() throws Exception {
        Path p = image("monolithicSparse");
        byte[] f = Files.readAllBytes(p);
        Tables t = tables(f);
        long past = f.length / 512 + 1024;
        Bytes.of(f).put32le((int) t.gt(), past).put32le((int) t.rgt(), past); // both copies: only the EOF fault
        Files.write(p, f);
        assertNotEquals(0, qemuCheck(p), "qemu-img check sees the entry past EOF");
        CheckReport r = check(p);
        assertEquals(1, r.corruptions(), r.findings().toString());
        Finding x = r.findings().get(0);
        assertEquals(t.gt(), x.offset());
        assertTrue(x.message().contains("past the end of the file"), x.message());
        assertEquals(2, r.exitStatus());
        assertEquals(2, r.allocatedClusters());
    }

    @Test
    void redundantCopyMismatchIsCorruption() throws Exception {
        Path p = image("monolithicSparse");
        byte[] f = Files.readAllBytes(p);
        Tables t = tables(f);
        Bytes.of(f).put32le((int) t.gt(), 0); // primary changed: grain 0 dropped, the redundant copy keeps it
        Files.write(p, f);
        assertEquals(0, qemuCheck(p), "QEMU does not compare the redundant copy");
        CheckReport r = check(p);
        assertEquals(1, r.corruptions(), r.findings().toString());
        assertTrue(r.findings().get(0).message().contains("grain tables vs redundant copy"), r.findings().toString());
        assertEquals(t.rgt(), r.findings().get(0).offset());
    }

    @Test
    void grainNamedTwiceIsCorruption() throws Exception {
        Path p = image("monolithicSparse");
        byte[] f = Files.readAllBytes(p);
        Tables t = tables(f);
        Bytes b = Bytes.of(f);
        long g0 = b.u32le((int) t.gt());
        int idx = 1024 * 1024 / GRAIN; // the grain at 1 MiB, entry 16 of table 0
        assertNotEquals(0, b.u32le((int) t.gt() + idx * 4));
        b.put32le((int) t.gt() + idx * 4, g0).put32le((int) t.rgt() + idx * 4, g0);
        Files.write(p, f);
        CheckReport r = check(p);
        assertEquals(1, r.corruptions(), r.findings().toString());
        assertTrue(r.findings().get(0).message().contains("another entry names too"), r.findings().toString());
        assertEquals(t.gt() + idx * 4, r.findings().get(0).offset());
    }

    @Test
    void missingOrShortExtentFilesAreCorruptions() throws Exception {
        Path sparse = image("twoGbMaxExtentSparse");
        Files.delete(dir.resolve("twoGbMaxExtentSparse-s001.vmdk"));
        CheckReport r = check(sparse);
        assertEquals(1, r.corruptions(), r.findings().toString());
        assertTrue(r.findings().get(0).message().contains("not found"), r.findings().toString());

        Path flat = image("monolithicFlat");
        Path data = dir.resolve("monolithicFlat-flat.vmdk");
        try (var ch = java.nio.channels.FileChannel.open(data, java.nio.file.StandardOpenOption.WRITE)) {
            ch.truncate(1 << 20);
        }
        r = check(flat);
        assertEquals(1, r.corruptions(), r.findings().toString());
        assertTrue(r.findings().get(0).message().contains("descriptor needs " + (64 << 20)), r.findings().toString());
    }

    /** The qemu-made test image converted to streamOptimized (the same 3 grains, compressed). */
    private Path stream() throws Exception {
        Path s = dir.resolve("stream.vmdk");
        Tools.run(dir, "qemu-img", "convert", "-O", "vmdk", "-o", "subformat=streamOptimized",
                image("monolithicSparse").toString(), s.toString());
        assertEquals(0, qemuCheck(s), "qemu-img check of the fresh stream");
        return s;
    }

    /**
     * File offset of grain table {@code i} of a stream: QEMU writes its directory where the header's
     * 0x38 names it (VMware's "GD at end" streams name it in a footer instead).
     */
    private static long streamTable(byte[] f, int i) {
        Bytes b = Bytes.of(f);
        long gd = b.u64le(0x38);
        assertNotEquals(-1L, gd, "qemu's stream has its directory offset in the header");
        return b.u32le((int) (gd * 512 + 4L * i)) * 512;
    }

    @Test
    void cleanStreamIsCleanWithEveryGrainInflated() throws Exception {
        CheckReport r = check(stream());
        assertEquals(0, r.exitStatus(), r.findings() + " " + r.incompleteReason());
        assertEquals(64L * 1024 * 1024 / GRAIN, r.totalClusters());
        assertEquals(3, r.allocatedClusters());
        assertEquals(3, r.compressedClusters());

        // our writer's stream keeps its directory in a footer at the end, as VMware's do
        Path ours = dir.resolve("ours.vmdk");
        byte[] grain = new byte[GRAIN];
        java.util.Arrays.fill(grain, (byte) 0x44);
        try (org.vdmount.vd.Image created = new VmdkFormat().create(ours,
                org.vdmount.vd.CreateOptions.of(64L << 20).with("subformat", "streamOptimized"));
             org.vdmount.vd.Disk d = org.vdmount.vd.Disk.of(java.util.List.of(created))) {
            d.write(0, java.nio.ByteBuffer.wrap(grain));
            d.write(48L << 20, java.nio.ByteBuffer.wrap(grain));
        }
        assertEquals(-1L, Bytes.of(Files.readAllBytes(ours)).u64le(0x38), "directory offset in the footer");
        assertEquals(0, qemuCheck(ours));
        CheckReport o = check(ours);
        assertEquals(0, o.exitStatus(), o.findings() + " " + o.incompleteReason());
        assertEquals(2, o.allocatedClusters());
        assertEquals(2, o.compressedClusters());
    }

    @Test
    void streamGrainPastEndOfFileIsCorruptionLikeQemu() throws Exception {
        Path s = stream();
        byte[] f = Files.readAllBytes(s);
        long gt = streamTable(f, 0);
        Bytes.of(f).put32le((int) gt, f.length / 512 + 1024);
        Files.write(s, f);
        assertNotEquals(0, qemuCheck(s), "qemu-img check sees the entry past EOF");
        CheckReport r = check(s);
        assertEquals(2, r.exitStatus());
        assertEquals(1, r.corruptions(), r.findings().toString());
        assertEquals(gt, r.findings().get(0).offset());
        assertTrue(r.findings().get(0).message().contains("past the end of the file"), r.findings().toString());
    }

    /** What QEMU's check does not look at: markers and deflate data of the grains themselves. */
    @Test
    void streamGrainsAreCheckedWhereQemuDoesNotLook() throws Exception {
        Path s = stream();
        byte[] clean = Files.readAllBytes(s);
        long gt = streamTable(clean, 0);
        long g0 = Bytes.of(clean).u32le((int) gt) * 512L;
        long g16 = Bytes.of(clean).u32le((int) gt + 16 * 4) * 512L;

        byte[] f = clean.clone();
        Bytes.of(f).put64le((int) g16, 7); // grain 16's marker names another sector
        Files.write(s, f);
        CheckReport lba = check(s);
        assertEquals(1, lba.corruptions(), lba.findings().toString());
        assertEquals(g16, lba.findings().get(0).offset());
        assertTrue(lba.findings().get(0).message().contains("grain 16 (guest sector 2048) has a marker for sector 7"),
                lba.findings().toString());

        f = clean.clone();
        for (int i = 20; i < 40; i++) {
            f[(int) g0 + i] ^= 0x5a; // inside grain 0's deflate data
        }
        Files.write(s, f);
        assertEquals(0, qemuCheck(s), "qemu-img check does not inflate grains");
        CheckReport bad = check(s);
        assertEquals(2, bad.exitStatus());
        assertEquals(1, bad.corruptions(), bad.findings().toString());
        assertEquals("compressed grain", bad.findings().get(0).structure());
        assertTrue(bad.findings().get(0).message().startsWith("ERROR: grain 0 (guest sector 0): "),
                bad.findings().toString());

        f = clean.clone();
        Bytes.of(f).put32le((int) gt + 16 * 4, g0 / 512); // grain 16 points at grain 0's data
        Files.write(s, f);
        CheckReport twice = check(s);
        assertTrue(twice.findings().stream().anyMatch(x -> x.message().contains("overlaps grain")),
                twice.findings().toString());
        assertEquals(2, twice.exitStatus());
    }

    @Test
    void readOnlyCheckChangesNothing() throws Exception {
        Path p = image("monolithicSparse");
        byte[] f = Files.readAllBytes(p);
        Bytes.of(f).put32le((int) tables(f).gt(), 0);
        Files.write(p, f);
        Files.setLastModifiedTime(p, FileTime.fromMillis(1_000_000_000_000L));
        CheckReport r = check(p);
        assertEquals(2, r.exitStatus());
        assertNull(r.incompleteReason());
        assertArrayEquals(f, Files.readAllBytes(p));
        assertEquals(1_000_000_000_000L, Files.getLastModifiedTime(p).toMillis());
        CheckReport leaks = FormatRegistry.require("vmdk").checker().orElseThrow().check(p, Repair.LEAKS);
        assertEquals(1, leaks.corruptions());
        assertTrue(leaks.notes().stream().anyMatch(n -> n.contains("nothing was changed")), leaks.notes().toString());
        assertArrayEquals(f, Files.readAllBytes(p));
    }

    @Test
    void repairAllRewritesTheRedundantCopyFromAConsistentPrimary() throws Exception {
        Path p = image("monolithicSparse");
        byte[] f = Files.readAllBytes(p);
        Tables t = tables(f);
        Bytes.of(f).put32le((int) t.gt(), 0);
        Files.write(p, f);
        Tools.run(dir, "qemu-img", "convert", "-O", "raw", p.toString(), dir.resolve("a.raw").toString());
        byte[] content = Files.readAllBytes(dir.resolve("a.raw"));
        CheckReport r = FormatRegistry.require("vmdk").checker().orElseThrow().check(p, Repair.ALL);
        assertEquals(0, r.corruptions(), r.findings().toString());
        assertEquals(1, r.corruptionsFixed());
        assertEquals(0, r.exitStatus());
        byte[] g = Files.readAllBytes(p);
        assertEquals(0, Bytes.of(g).u32le((int) t.rgt()), "the redundant copy took the primary's entry");
        assertEquals(0, check(p).corruptions());
        assertEquals(0, qemuCheck(p));
        Tools.run(dir, "qemu-img", "convert", "-O", "raw", p.toString(), dir.resolve("b.raw").toString());
        assertArrayEquals(content, Files.readAllBytes(dir.resolve("b.raw")), "the data reads the same");
    }

    @Test
    void repairAllLeavesBothCopiesWhenThePrimaryIsItselfDamaged() throws Exception {
        Path p = image("monolithicSparse");
        byte[] f = Files.readAllBytes(p);
        Tables t = tables(f);
        Bytes.of(f).put32le((int) t.gt(), f.length / 512 + 1024); // primary past EOF and unlike its copy
        Files.write(p, f);
        CheckReport r = FormatRegistry.require("vmdk").checker().orElseThrow().check(p, Repair.ALL);
        assertEquals(2, r.corruptions(), r.findings().toString());
        assertTrue(r.notes().stream().anyMatch(n -> n.contains("not rewritten")), r.notes().toString());
        assertArrayEquals(f, Files.readAllBytes(p));
    }

    @Test
    void directoryNamingOneTableOverAndOverStopsInsteadOfLooping() throws Exception {
        Path p = dir.resolve("big.vmdk");
        Tools.run(dir, "qemu-img", "create", "-f", "vmdk", p.toString(), "64G");
        Tools.run(dir, "qemu-io", "-f", "vmdk", "-c", "write -P 1 0 64k", p.toString());
        byte[] f = Files.readAllBytes(p);
        Bytes b = Bytes.of(f);
        long gd = b.u64le(0x38) * 512;
        long rgd = b.u64le(0x30) * 512;
        long gt0 = b.u32le((int) gd);
        // 16 times the capacity: a directory of 32768 entries (128 KiB, still inside the file), every
        // entry naming table 0, i.e. 64 MiB of tables per copy from an 8 MiB file
        b.put64le(0x0C, b.u64le(0x0C) * 16);
        int entries = (int) ((64L << 30) * 16 / (512L * GRAIN));
        for (int i = 0; i < entries; i++) {
            b.put32le((int) (gd + i * 4L), gt0);
            b.put32le((int) (rgd + i * 4L), gt0);
        }
        Path hostile = dir.resolve("hostile.vmdk");
        Files.write(hostile, f);
        CheckReport r = check(hostile);
        assertEquals(1, r.exitStatus(), r.findings().toString());
        assertTrue(r.incompleteReason().contains("names more grain tables than the file holds"), r.incompleteReason());
    }
}
