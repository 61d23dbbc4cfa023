package org.vdmount.partitions;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.io.RandomAccessFile;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** GPT with damaged or displaced tables: the backup stands in, or a warning explains what is missing. */
class GptRecoveryTest {
    static final long DISK_BYTES = 64L << 20;
    static final long LAST_LBA = DISK_BYTES / 512 - 1;

    @TempDir
    Path dir;
    Path img;
    List<Tools.OraclePart> clean;
    final List<String> warnings = new ArrayList<>();

    private static final int EDGE_BYTES = 1 << 20;
    private static byte[] cachedHead;
    private static byte[] cachedTail;

    /** sgdisk runs once (it takes ~1 s); later tests rebuild the sparse image from its table areas. */
    @BeforeEach
    void makeDisk() throws Exception {
        Tools.require("sgdisk", "sfdisk");
        img = Tools.sparse(dir, "g.img", DISK_BYTES);
        synchronized (GptRecoveryTest.class) {
            if (cachedHead == null) {
                Tools.run(null, "sgdisk", "-n", "1:2048:+8M", "-t", "1:ef00", "-c", "1:EFI system partition",
                        "-n", "2:0:+16M", "-t", "2:8300", "-c", "2:root", "-n", "4:0:+30M", "-t", "4:0700",
                        "-c", "4:data", img.toString());
                cachedHead = Tools.readBytes(img, 0, EDGE_BYTES);
                cachedTail = Tools.readBytes(img, DISK_BYTES - EDGE_BYTES, EDGE_BYTES);
            } else {
                Tools.writeBytes(img, 0, cachedHead);
                Tools.writeBytes(img, DISK_BYTES - EDGE_BYTES, cachedTail);
            }
        }
        clean = Tools.parseSfdiskJson(Tools.run(null, "sfdisk", "-J", img.toString()));
        assertEquals(3, clean.size());
    }

    private PartitionTable read() throws IOException {
        warnings.clear();
        return FileSource.read(img, 0, warnings);
    }

    private void flip(long offset) throws IOException {
        byte[] b = Tools.readBytes(img, offset, 1);
        b[0] ^= 0x5A;
        Tools.writeBytes(img, offset, b);
    }

    private void assertWarned(String fragment) {
        assertTrue(warnings.stream().anyMatch(w -> w.contains(fragment)), "no warning with '" + fragment + "' in "
                + warnings);
    }

    private void assertClean(PartitionTable t, String ctx) {
        assertEquals(Scheme.GPT, t.scheme(), ctx);
        OracleCheck.sfdisk(t, clean, 512, ctx);
    }

    @Test
    void cleanDiskHasNoWarnings() throws Exception {
        assertClean(read(), "clean");
        assertEquals(List.of(), warnings);
    }

    @Test
    void corruptPrimaryHeaderUsesBackup() throws Exception {
        flip(512 + 0x40); // inside the disk GUID: header CRC no longer matches
        assertClean(read(), "primary header corrupt");
        assertWarned("header CRC-32 mismatch");
        assertWarned("using the backup header at LBA " + LAST_LBA);
    }

    @Test
    void corruptPrimaryEntriesUseBackup() throws Exception {
        flip(1024 + 0x38); // first letter of entry 1's name: the entry array's CRC no longer matches
        PartitionTable t = read();
        assertClean(t, "primary entries corrupt");
        assertEquals("EFI system partition", t.partitions().get(0).name());
        assertWarned("fails its CRC-32");
        assertWarned("using the backup header");
    }

    @Test
    void corruptBackupIsReported() throws Exception {
        flip(LAST_LBA * 512 + 0x40);
        assertClean(read(), "backup corrupt");
        assertWarned("backup header at LBA " + LAST_LBA + " unusable");
    }

    @Test
    void bothCorruptGiveNoPartitions() throws Exception {
        flip(512 + 0x40);
        flip(LAST_LBA * 512 + 0x40);
        PartitionTable t = read();
        assertEquals(Scheme.NONE, t.scheme());
        assertEquals(List.of(), t.partitions());
        assertWarned("no usable backup");
        assertWarned("protective MBR");
    }

    @Test
    void grownDiskKeepsPartitionsAndWarns() throws Exception {
        grow();
        PartitionTable t = read();
        assertClean(t, "grown");
        assertWarned("disk resized");
        // sfdisk reads the grown image the same way
        OracleCheck.sfdisk(t, Tools.parseSfdiskJson(Tools.run(null, "sfdisk", "-J", img.toString())), 512, "grown");
    }

    @Test
    void grownDiskWithCorruptPrimaryHeaderFindsDisplacedBackup() throws Exception {
        grow();
        flip(512 + 0x10); // the header CRC field itself: the alternate-LBA field still names the backup
        assertClean(read(), "grown, primary header corrupt");
        assertWarned("using the backup header at LBA " + LAST_LBA);
    }

    @Test
    void grownDiskWithCorruptPrimaryEntriesFindsDisplacedBackup() throws Exception {
        grow();
        flip(1024 + 0x39);
        assertClean(read(), "grown, primary entries corrupt");
        assertWarned("using the backup header at LBA " + LAST_LBA);
    }

    @Test
    void shrunkDiskDropsWhatNoLongerFits() throws Exception {
        long newSize = 30L << 20;
        try (RandomAccessFile f = new RandomAccessFile(img.toFile(), "rw")) {
            f.setLength(newSize);
        }
        PartitionTable t = read();
        assertEquals(Scheme.GPT, t.scheme());
        List<Tools.OraclePart> fitting = clean.stream().filter(o -> (o.start() + o.size()) * 512 <= newSize).toList();
        assertTrue(fitting.size() < clean.size() && !fitting.isEmpty());
        OracleCheck.sfdisk(t, fitting, 512, "shrunk");
        assertWarned("entry 4 ");
        assertWarned("dropped");
        assertWarned("disk resized");
    }

    @Test
    void withoutProtectiveMbrOnlyAValidPrimaryCounts() throws Exception {
        Tools.writeBytes(img, 0, new byte[512]); // MBR wiped
        assertClean(read(), "no MBR");
        assertWarned("no protective MBR");
        flip(512 + 0x40);
        PartitionTable t = read();
        assertEquals(Scheme.NONE, t.scheme(), "a lone backup GPT is not trusted without a protective MBR");
        assertWarned("primary header unusable");
    }

    @Test
    void realMbrWinsOverStaleGpt() throws Exception {
        byte[] mbr = new byte[512];
        Craft.mbrEntry(mbr, 0, 0, 0x80, 0x83, 2048, 4096);
        Craft.signature(mbr, 0);
        Tools.writeBytes(img, 0, mbr);
        PartitionTable t = read();
        assertEquals(Scheme.MBR, t.scheme());
        assertEquals(List.of(new Partition(1, 2048 * 512L, 4096 * 512L, Scheme.MBR, "83", "Linux", "", "", true)),
                t.partitions());
        assertWarned("valid GPT ignored");
        // sfdisk (libfdisk) also prefers the MBR here
        OracleCheck.sfdisk(t, Tools.parseSfdiskJson(Tools.run(null, "sfdisk", "-J", img.toString())), 512, "stale");
    }

    @Test
    void hybridMbrShowsGpt() throws Exception {
        Tools.run(null, "sgdisk", "--hybrid=1:2", img.toString());
        byte[] mbr = Tools.readBytes(img, 0, 512);
        assertTrue(Mbr.parse(mbr).hasProtectiveEntry() && Mbr.parse(mbr).hasOtherEntries(), "sgdisk made a hybrid");
        assertClean(read(), "hybrid");
        assertWarned("hybrid MBR");
    }

    @Test
    void corruptPrimaryOn4096Disk() throws Exception {
        Tools.require("fdisk");
        img = Tools.sparse(dir, "g4.img", DISK_BYTES);
        Tools.run("g\nn\n1\n\n+8M\nn\n3\n\n+16M\nw\n", "fdisk", "-b", "4096", img.toString());
        List<Tools.OraclePart> oracle = Tools.parseFdiskList(Tools.run(null, "fdisk", "-b", "4096", "-l", "-o",
                "Device,Start,Sectors,Type-UUID", img.toString()), img);
        assertEquals(2, oracle.size());
        flip(4096 + 0x40);
        for (int given : new int[] {0, 4096}) {
            PartitionTable t = FileSource.read(img, given, warnings);
            assertEquals(4096, t.sectorSize());
            OracleCheck.sfdisk(t, oracle, 4096, false, "4096, primary corrupt, given " + given);
            assertWarned("using the backup header at LBA " + (DISK_BYTES / 4096 - 1) + " (4096-byte sectors)");
            warnings.clear();
        }
    }

    private void grow() throws IOException {
        try (RandomAccessFile f = new RandomAccessFile(img.toFile(), "rw")) {
            f.setLength(DISK_BYTES + (32L << 20)); // truncate -s +32M: the backup is no longer at the end
        }
    }
}
