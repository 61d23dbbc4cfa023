package org.vdmount.vd.format.vhd;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.io.RandomAccessFile;
import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.vdmount.vd.Bytes;
import org.vdmount.vd.check.CheckReport;
import org.vdmount.vd.check.Finding;
import org.vdmount.vd.check.Repair;

/**
 * {@code vd check} of VHD images made by qemu-img, then damaged the ways the footer, the copy at
 * 0, the dynamic header and the BAT get damaged: each is found; {@code -r all} restores footers
 * and header checksums from what is intact (the guest data reads as before, QEMU opens the
 * result), and leaves a damaged BAT alone.
 */
class VhdCheckTest {
    private static final int MIB = 1024 * 1024;

    @TempDir
    Path dir;
    private Path img;
    private byte[] guest;

    @BeforeEach
    void image() throws Exception {
        VhdTestSupport.assumeTool("qemu-img");
        VhdTestSupport.assumeTool("qemu-io");
        img = dir.resolve("d.vhd");
        VhdTestSupport.ok("qemu-img", "create", "-q", "-f", "vpc", img.toString(), "16M");
        VhdTestSupport.ok("qemu-io", "-f", "vpc", "-c", "write -P 0x3c 0 3M", "-c", "write -P 0x71 10M 1M",
                img.toString());
        guest = VhdTestSupport.qemuRaw(img, dir);
    }

    private static CheckReport check(Path p, Repair r) throws IOException {
        return new VhdCheck().check(p, r);
    }

    private void poke(long at, byte[] bytes) throws IOException {
        try (RandomAccessFile f = new RandomAccessFile(img.toFile(), "rw")) {
            f.seek(at);
            f.write(bytes);
        }
    }

    private byte[] peek(long at, int n) throws IOException {
        byte[] b = new byte[n];
        try (RandomAccessFile f = new RandomAccessFile(img.toFile(), "r")) {
            f.seek(at);
            f.readFully(b);
        }
        return b;
    }

    private static boolean has(CheckReport r, String structure) {
        return r.findings().stream().anyMatch(f -> f.kind() == Finding.Kind.CORRUPTION && f.structure().equals(structure));
    }

    @Test
    void aCleanImageIsCleanWithItsBlockCounts() throws Exception {
        byte[] before = Files.readAllBytes(img);
        CheckReport r = check(img, Repair.NONE);
        assertEquals(0, r.corruptions(), r.findings().toString());
        assertEquals(0, r.exitStatus());
        long size = VhdTestSupport.qemuSize(img); // 16 MiB rounded up to whole CHS cylinders
        assertEquals((size + 2 * MIB - 1) / (2 * MIB), r.totalClusters(), "2 MiB blocks over the virtual size");
        assertEquals(3, r.allocatedClusters(), "blocks 0, 1 and 5 were written");
        assertArrayEquals(before, Files.readAllBytes(img), "a check writes nothing");
    }

    @Test
    void aDamagedFooterAtTheEndIsRestoredFromTheCopy() throws Exception {
        long end = Files.size(img) - 512;
        poke(end + 0x30, new byte[] {1, 2, 3, 4}); // original size field: the checksum no longer matches
        CheckReport r = check(img, Repair.NONE);
        assertTrue(has(r, "footer"), r.findings().toString());
        assertEquals(2, r.exitStatus());
        CheckReport fixed = check(img, Repair.ALL);
        assertEquals(0, fixed.corruptions(), fixed.findings().toString());
        assertTrue(fixed.corruptionsFixed() > 0);
        assertArrayEquals(peek(0, 512), peek(end, 512), "the end footer equals the copy again");
        assertArrayEquals(guest, VhdTestSupport.qemuRaw(img, dir));
    }

    @Test
    void aLostFooterAtTheEndIsAppendedFromTheCopy() throws Exception {
        long size = Files.size(img);
        try (RandomAccessFile f = new RandomAccessFile(img.toFile(), "rw")) {
            f.setLength(size - 512);
        }
        CheckReport r = check(img, Repair.NONE);
        assertTrue(has(r, "footer"), r.findings().toString());
        CheckReport fixed = check(img, Repair.ALL);
        assertEquals(0, fixed.corruptions(), fixed.findings().toString());
        assertEquals(size, Files.size(img));
        assertArrayEquals(guest, VhdTestSupport.qemuRaw(img, dir));
    }

    @Test
    void aDamagedCopyAtZeroIsRestoredFromTheEnd() throws Exception {
        poke(0x10, new byte[] {(byte) 0xee}); // inside the data offset field of the copy
        CheckReport r = check(img, Repair.NONE);
        assertTrue(has(r, "footer copy"), r.findings().toString());
        CheckReport leaksOnly = check(img, Repair.LEAKS);
        assertTrue(has(leaksOnly, "footer copy"), "-r leaks repairs nothing");
        CheckReport fixed = check(img, Repair.ALL);
        assertEquals(0, fixed.corruptions(), fixed.findings().toString());
        long end = Files.size(img) - 512;
        assertArrayEquals(peek(end, 512), peek(0, 512));
    }

    @Test
    void aDynamicHeaderChecksumIsRecomputedWhenItsFieldsAreSound() throws Exception {
        long hdr = Bytes.of(peek(0, 512)).u64be(0x10);
        poke(hdr + 0x300, new byte[] {0x55}); // a reserved byte: the fields stay valid
        CheckReport r = check(img, Repair.NONE);
        assertTrue(has(r, "dynamic header"), r.findings().toString());
        CheckReport fixed = check(img, Repair.ALL);
        assertEquals(0, fixed.corruptions(), fixed.findings().toString());
        assertArrayEquals(guest, VhdTestSupport.qemuRaw(img, dir));
    }

    @Test
    void aBatEntryPastTheEndOrOverlappingIsACorruptionLeftAlone() throws Exception {
        long hdr = Bytes.of(peek(0, 512)).u64be(0x10);
        long bat = Bytes.of(peek(hdr, 1024)).u64be(0x10);
        byte[] first = peek(bat, 4);
        poke(bat + 4 * 5, first); // block 5 names block 0's sectors: overlap
        CheckReport r = check(img, Repair.NONE);
        assertTrue(has(r, "vhd") && r.findings().get(0).message().contains("overlap"), r.findings().toString());
        byte[] before = Files.readAllBytes(img);
        CheckReport after = check(img, Repair.ALL);
        assertTrue(after.corruptions() > 0);
        assertArrayEquals(before, Files.readAllBytes(img), "a damaged BAT is not touched");

        poke(bat + 4 * 5, new byte[] {0x00, 0x7f, (byte) 0xff, 0x00}); // far past the end of the file
        CheckReport past = check(img, Repair.NONE);
        assertTrue(past.findings().get(0).message().contains("past the data end"), past.findings().toString());
    }

    @Test
    void aFixedImageIsChecked() throws Exception {
        Path fixed = dir.resolve("f.vhd");
        VhdTestSupport.ok("qemu-img", "create", "-q", "-f", "vpc", "-o", "subformat=fixed", fixed.toString(), "4M");
        assertEquals(0, check(fixed, Repair.NONE).corruptions());
        try (RandomAccessFile f = new RandomAccessFile(fixed.toFile(), "rw")) {
            f.seek(f.length() - 512 + 0x28);
            f.write(new byte[] {9, 9});
        }
        CheckReport r = check(fixed, Repair.ALL);
        assertTrue(has(r, "footer"), r.findings().toString());
        assertTrue(r.notes().stream().anyMatch(n -> n.contains("not repaired")), r.notes().toString());
    }
}
