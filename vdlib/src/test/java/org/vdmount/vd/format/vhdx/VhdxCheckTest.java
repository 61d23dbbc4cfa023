package org.vdmount.vd.format.vhdx;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.io.RandomAccessFile;
import java.nio.ByteBuffer;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.FileTime;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.vdmount.vd.Bytes;
import org.vdmount.vd.CreateOptions;
import org.vdmount.vd.Disk;
import org.vdmount.vd.OpenOptions;
import org.vdmount.vd.check.CheckReport;
import org.vdmount.vd.check.Finding;
import org.vdmount.vd.check.Repair;

/**
 * {@code vd check} of VHDX images made by qemu-img and by our writer, clean and with an unreplayed
 * log (qemu-img check agrees on both), then damaged: a block past the end, two entries on one
 * block, a broken non-current header (restored by {@code -r all}), a broken region table.
 */
class VhdxCheckTest {
    private static final long MIB = 1 << 20;

    @TempDir
    Path dir;

    private static CheckReport check(Path p, Repair r) throws IOException {
        return new VhdxFormat().checker().orElseThrow().check(p, r);
    }

    private static boolean has(CheckReport r, String structure) {
        return r.findings().stream().anyMatch(f -> f.kind() == Finding.Kind.CORRUPTION
                && f.structure().equals(structure));
    }

    /** qemu-img check's exit status (0 clean, 2 corruptions). */
    private static int qemuCheck(Path p) throws IOException {
        return Tools.exec("qemu-img", "check", "-f", "vhdx", p.toString()).exit();
    }

    private Path qemuImage(String subformat) throws IOException {
        Tools.assume("qemu-img", "qemu-io");
        Path img = dir.resolve(subformat + ".vhdx");
        Tools.run("qemu-img", "create", "-q", "-f", "vhdx", "-o", "subformat=" + subformat + ",block_size=1M",
                img.toString(), "16M");
        Tools.run("qemu-io", "-f", "vhdx", "-c", "write -P 0x3c 0 3M", "-c", "write -P 0x71 10M 1M", img.toString());
        return img;
    }

    private static void poke(Path img, long at, byte[] bytes) throws IOException {
        try (RandomAccessFile f = new RandomAccessFile(img.toFile(), "rw")) {
            f.seek(at);
            f.write(bytes);
        }
    }

    @Test
    void cleanDynamicImageIsCleanWithBlockCountsAndStaysUntouched() throws Exception {
        Path img = qemuImage("dynamic");
        byte[] before = Files.readAllBytes(img);
        FileTime mtime = FileTime.fromMillis(1_000_000_000L);
        Files.setLastModifiedTime(img, mtime);
        CheckReport r = check(img, Repair.NONE);
        assertEquals(0, r.corruptions(), r.findings().toString());
        assertEquals(0, r.exitStatus());
        assertEquals(16, r.totalClusters(), "1 MiB blocks over 16 MiB");
        assertEquals(4, r.allocatedClusters(), "blocks 0-2 and 10 were written");
        assertArrayEquals(before, Files.readAllBytes(img), "a check writes nothing");
        assertEquals(mtime, Files.getLastModifiedTime(img));
        assertEquals(0, qemuCheck(img));
    }

    @Test
    void cleanFixedImageIsClean() throws Exception {
        Path img = qemuImage("fixed");
        CheckReport r = check(img, Repair.NONE);
        assertEquals(0, r.corruptions(), r.findings().toString());
        assertEquals(16, r.totalClusters());
        // qemu-img makes a fixed image's unwritten blocks ZERO (space reserved, not present)
        assertEquals(4, r.allocatedClusters());
        assertEquals(0, qemuCheck(img));
    }

    @Test
    void ourDifferencingImageIsClean() throws Exception {
        Tools.assume("qemu-img");
        Path base = qemuImage("dynamic");
        Path child = dir.resolve("child.avhdx");
        try (Disk d = Disk.of(List.of(VhdxChainTest.createChild(child, base, CreateOptions.of(16 * MIB))))) {
            d.write(5 * MIB + 100, ByteBuffer.wrap(Tools.random(3000, 7))); // a partially present block
        }
        CheckReport r = check(child, Repair.NONE);
        assertEquals(0, r.corruptions(), r.findings().toString());
        assertEquals(1, r.allocatedClusters()); // QEMU does not open differencing VHDX: no peer here
        // the sector bitmap entry of chunk 0 follows its chunkRatio payload entries (MS-VHDX 2.5)
        long chunkRatio = Vhdx.SECTORS_PER_BITMAP_BLOCK * 512 / (2 * MIB);
        long at = entryOffset(child, (int) chunkRatio);
        assertEquals(Bat.SB_PRESENT, Bat.state(read64(child, at)), "the partial write made a sector bitmap");
        poke(child, at, le64(Bat.entry(Bat.SB_PRESENT, Vhdx.roundUp(Files.size(child), MIB) + 8 * MIB)));
        CheckReport bad = check(child, Repair.NONE);
        assertEquals(1, bad.corruptions(), bad.findings().toString());
        assertEquals(at, bad.findings().get(0).offset());
    }

    @Test
    void unreplayedLogIsACorruptionThatRepairAllReplays() throws Exception {
        Tools.assume("qemu-img");
        Path img = dir.resolve("dirty.vhdx");
        byte[] model = VhdxLogTest.dirtyBase(img);
        byte[] before = Files.readAllBytes(img);
        CheckReport r = check(img, Repair.NONE);
        assertTrue(has(r, "log"), r.findings().toString());
        assertEquals(1, r.corruptions(), r.findings().toString());
        assertArrayEquals(before, Files.readAllBytes(img), "a read-only check does not replay");
        Path copy = dir.resolve("copy.vhdx");
        Files.copy(img, copy);
        Tools.Result q = Tools.exec("qemu-img", "check", "-f", "vhdx", copy.toString());
        assertTrue(q.exit() != 0 && q.out().contains("log that needs to be replayed"), q.out());

        CheckReport fixed = check(img, Repair.ALL);
        assertEquals(0, fixed.corruptions(), fixed.findings().toString());
        assertEquals(1, fixed.corruptionsFixed());
        assertEquals(0, check(img, Repair.NONE).corruptions());
        assertEquals(0, qemuCheck(img));
        Tools.run("qemu-img", "check", "-q", "-r", "all", "-f", "vhdx", copy.toString()); // QEMU's replay
        assertEquals(0, check(copy, Repair.NONE).corruptions());
        Tools.run("qemu-img", "compare", "-f", "vhdx", "-F", "vhdx", img.toString(), copy.toString());
        try (Disk d = Disk.open(img, OpenOptions.defaultReadOnly())) {
            assertArrayEquals(model, Tools.readAll(d), "the replayed image reads as before");
        }
    }

    /** The file offset of BAT entry {@code i}. */
    private static long entryOffset(Path img, int i) throws IOException {
        byte[] t = new byte[RegionTable.SIZE];
        try (RandomAccessFile f = new RandomAccessFile(img.toFile(), "r")) {
            f.seek(Vhdx.REGION1_OFFSET);
            f.readFully(t);
        }
        return RegionTable.parse(t, img, Vhdx.REGION1_OFFSET).find(Vhdx.BAT_REGION).fileOffsetBytes() + 8L * i;
    }

    private static long read64(Path img, long at) throws IOException {
        byte[] b = new byte[8];
        try (RandomAccessFile f = new RandomAccessFile(img.toFile(), "r")) {
            f.seek(at);
            f.readFully(b);
        }
        return Bytes.of(b).u64le(0);
    }

    private static byte[] le64(long v) {
        byte[] b = new byte[8];
        Bytes.of(b).put64le(0, v);
        return b;
    }

    @Test
    void blockPastTheEndIsACorruptionAndRepairLeavesTheBat() throws Exception {
        Path img = qemuImage("dynamic");
        long at = entryOffset(img, 10);
        long far = Vhdx.roundUp(Files.size(img), MIB) + 64 * MIB;
        poke(img, at, le64(Bat.entry(Bat.FULLY_PRESENT, far)));
        CheckReport r = check(img, Repair.NONE);
        assertEquals(1, r.corruptions(), r.findings().toString());
        assertEquals(at, r.findings().get(0).offset());
        assertTrue(r.findings().get(0).message().contains("past the end"), r.findings().toString());
        byte[] before = Files.readAllBytes(img);
        CheckReport after = check(img, Repair.ALL);
        assertEquals(1, after.corruptions(), "a damaged BAT is not repaired");
        assertArrayEquals(before, Files.readAllBytes(img));
    }

    @Test
    void twoEntriesOnOneBlockAreACorruption() throws Exception {
        Path img = qemuImage("dynamic");
        long first = read64(img, entryOffset(img, 0));
        poke(img, entryOffset(img, 10), le64(first));
        CheckReport r = check(img, Repair.NONE);
        assertEquals(1, r.corruptions(), r.findings().toString());
        assertTrue(r.findings().get(0).message().contains("overlaps"), r.findings().toString());
    }

    @Test
    void damagedNonCurrentHeaderIsRestoredByRepairAll() throws Exception {
        Path img = qemuImage("dynamic");
        byte[] all = Files.readAllBytes(img);
        VhdxHeader h1 = VhdxHeader.parse(java.util.Arrays.copyOfRange(all, (int) Vhdx.HEADER1_OFFSET,
                (int) Vhdx.HEADER1_OFFSET + VhdxHeader.SIZE));
        VhdxHeader h2 = VhdxHeader.parse(java.util.Arrays.copyOfRange(all, (int) Vhdx.HEADER2_OFFSET,
                (int) Vhdx.HEADER2_OFFSET + VhdxHeader.SIZE));
        long nonCurrent = h1.sequence() >= h2.sequence() ? Vhdx.HEADER2_OFFSET : Vhdx.HEADER1_OFFSET;
        poke(img, nonCurrent + 100, new byte[] {0x55, 0x66});
        CheckReport r = check(img, Repair.NONE);
        assertEquals(1, r.corruptions(), r.findings().toString());
        assertEquals(nonCurrent, r.findings().get(0).offset());
        CheckReport fixed = check(img, Repair.ALL);
        assertEquals(0, fixed.corruptions(), fixed.findings().toString());
        assertEquals(1, fixed.corruptionsFixed());
        assertEquals(0, check(img, Repair.NONE).exitStatus());
        assertEquals(0, qemuCheck(img));
    }

    @Test
    void damagedRegionTableIsACorruption() throws Exception {
        Path img = qemuImage("dynamic");
        poke(img, Vhdx.REGION2_OFFSET + 40, new byte[] {0x7f});
        CheckReport r = check(img, Repair.NONE);
        assertTrue(has(r, "region table 2"), r.findings().toString());
        assertEquals(1, r.corruptions(), r.findings().toString());
        assertEquals(null, r.incompleteReason(), "the first table still leads to the BAT");
    }

    @Test
    void truncatedImageIsIncompleteNotACrash() throws Exception {
        Path img = qemuImage("dynamic");
        try (RandomAccessFile f = new RandomAccessFile(img.toFile(), "rw")) {
            f.setLength(1536 * 1024); // the header section and half the log
        }
        CheckReport r = check(img, Repair.NONE);
        assertTrue(r.corruptions() > 0, r.findings().toString());
        assertTrue(r.exitStatus() == 1 || r.exitStatus() == 2, r.findings().toString());
        assertTrue(qemuCheck(img) != 0, "qemu-img refuses it too");
    }
}
