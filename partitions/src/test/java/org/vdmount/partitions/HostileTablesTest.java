package org.vdmount.partitions;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.stream.IntStream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** Crafted hostile MBR/EBR and GPT tables and filesystem boot sectors: no exception, nothing invented. */
class HostileTablesTest {
    static final long DISK_BYTES = 64L << 20;
    static final long SECTORS = DISK_BYTES / 512;

    @TempDir
    Path dir;
    final List<String> warnings = new ArrayList<>();

    private PartitionTable read(byte[] head, long size) throws IOException {
        warnings.clear();
        return PartitionTable.read(new MemorySource(head, new byte[0], size), 0, warnings::add);
    }

    private Path file(String name, byte[] head) throws IOException {
        Path p = Tools.sparse(dir, name, DISK_BYTES);
        Tools.writeBytes(p, 0, head);
        return p;
    }

    private void assertWarned(String fragment) {
        assertTrue(warnings.stream().anyMatch(w -> w.contains(fragment)), "no '" + fragment + "' in " + warnings);
    }

    private static int[] numbers(PartitionTable t) {
        return t.partitions().stream().mapToInt(Partition::number).toArray();
    }

    /** An MBR with an extended partition at 2048 of {@code extSectors}; EBRs added by the caller. */
    private static byte[] extendedDisk(long extSectors) {
        byte[] b = new byte[4 << 20];
        Craft.mbrEntry(b, 0, 0, 0, 0x05, 2048, extSectors);
        Craft.signature(b, 0);
        return b;
    }

    private static void ebr(byte[] b, long lba, long logicalRel, long logicalSectors, long linkRel) {
        int base = (int) (lba * 512);
        Craft.mbrEntry(b, base, 0, 0, 0x83, logicalRel, logicalSectors);
        if (linkRel >= 0) {
            Craft.mbrEntry(b, base, 1, 0, 0x05, linkRel, 100);
        }
        Craft.signature(b, base);
    }

    @Test
    void ebrLoopIsCut() throws Exception {
        byte[] b = extendedDisk(100_000);
        ebr(b, 2048, 63, 100, 1000);
        ebr(b, 3048, 63, 100, 0); // links back to the first EBR
        PartitionTable t = read(b, DISK_BYTES);
        assertEquals(Scheme.MBR, t.scheme());
        assertEquals(List.of(1, 5, 6), IntStream.of(numbers(t)).boxed().toList());
        assertWarned("loops back to LBA 2048");
        // mmls stops at the loop as well (sfdisk does not: it lists 60 partitions)
        Tools.require("mmls");
        OracleCheck.mmls(t, Tools.mmlsAllocated(file("loop.img", b).toString()), 512, "ebr loop");
    }

    @Test
    void ebrSelfLoopIsCut() throws Exception {
        byte[] b = extendedDisk(100_000);
        ebr(b, 2048, 63, 100, 1000);
        ebr(b, 3048, 63, 100, 1000); // links to itself
        PartitionTable t = read(b, DISK_BYTES);
        assertEquals(List.of(1, 5, 6), IntStream.of(numbers(t)).boxed().toList());
        assertWarned("loops back to LBA 3048");
    }

    @Test
    void linkOutsideExtendedPartitionIsCut() throws Exception {
        byte[] b = extendedDisk(4000);
        ebr(b, 2048, 63, 100, 1000);
        ebr(b, 3048, 63, 100, 5000); // 2048 + 5000 is past the container's end
        PartitionTable t = read(b, DISK_BYTES);
        assertEquals(List.of(1, 5, 6), IntStream.of(numbers(t)).boxed().toList());
        assertWarned("outside the extended partition");
    }

    @Test
    void chainLongerThan128IsCut() throws Exception {
        byte[] b = extendedDisk(100_000);
        int ebrs = 200;
        for (int i = 0; i < ebrs; i++) {
            ebr(b, 2048 + 8L * i, 2, 4, i + 1 < ebrs ? 8L * (i + 1) : -1);
        }
        PartitionTable t = read(b, DISK_BYTES);
        assertEquals(1 + MbrReader.MAX_EBRS, t.partitions().size());
        assertEquals(4 + MbrReader.MAX_EBRS, t.partitions().get(t.partitions().size() - 1).number());
        assertWarned("more than 128 EBRs");
    }

    @Test
    void logicalOnItsOwnEbrIsDroppedButKeepsItsNumber() throws Exception {
        byte[] b = extendedDisk(100_000);
        ebr(b, 2048, 0, 100, 1000); // relative start 0: covers its own EBR
        ebr(b, 3048, 63, 100, -1);
        PartitionTable t = read(b, DISK_BYTES);
        assertEquals(List.of(1, 6), IntStream.of(numbers(t)).boxed().toList());
        assertWarned("logical partition 5 (type 0x83) starts at LBA 2048, on its own table");
    }

    @Test
    void entriesPastTheDiskAreDroppedAndNothingLeftIsNoTable() throws Exception {
        byte[] b = new byte[4096];
        Craft.mbrEntry(b, 0, 0, 0, 0x83, 2048, 1000);
        Craft.mbrEntry(b, 0, 2, 0, 0x07, SECTORS - 10, 20); // ends past the disk
        Craft.mbrEntry(b, 0, 3, 0, 0x0C, 0, 20);           // covers the MBR itself
        Craft.signature(b, 0);
        PartitionTable t = read(b, DISK_BYTES);
        assertEquals(Scheme.MBR, t.scheme());
        assertEquals(List.of(1), IntStream.of(numbers(t)).boxed().toList());
        assertWarned("primary entry 3 (type 0x07) ends at LBA");
        assertWarned("primary entry 4 (type 0x0c) starts at LBA 0");

        Craft.mbrEntry(b, 0, 0, 0, 0x83, SECTORS, 1000);
        t = read(b, DISK_BYTES);
        assertEquals(Scheme.NONE, t.scheme());
        assertEquals(List.of(), t.partitions());
        assertWarned("no valid entry left");
    }

    @Test
    void invalidBootIndicatorIsNoTable() throws Exception {
        byte[] b = new byte[4096];
        Craft.mbrEntry(b, 0, 0, 0x81, 0x83, 2048, 1000);
        Craft.signature(b, 0);
        PartitionTable t = read(b, DISK_BYTES);
        assertEquals(Scheme.NONE, t.scheme());
        assertWarned("boot indicators");
    }

    @Test
    void protectiveMbrWithoutGptIsNoTable() throws Exception {
        byte[] b = new byte[4096];
        Craft.mbrEntry(b, 0, 0, 0, 0xEE, 1, SECTORS - 1);
        Craft.signature(b, 0);
        PartitionTable t = read(b, DISK_BYTES);
        assertEquals(Scheme.NONE, t.scheme());
        assertWarned("no usable GPT");
    }

    @Test
    void invalidSectorSizeIsProbed() throws Exception {
        byte[] b = new byte[4096];
        Craft.mbrEntry(b, 0, 0, 0, 0x83, 2048, 1000);
        Craft.signature(b, 0);
        warnings.clear();
        PartitionTable t = PartitionTable.read(new MemorySource(b, new byte[0], DISK_BYTES), 520, warnings::add);
        assertEquals(512, t.sectorSize());
        assertEquals(1, t.partitions().size());
        assertWarned("sector size 520 invalid");
        assertEquals(Scheme.NONE, PartitionTable.read(new MemorySource(new byte[100]), 0, null).scheme());
    }

    // ---- GPT ----------------------------------------------------------------------------------

    private static byte[] gptImage;

    /** A fresh copy of a 4 MiB sgdisk disk held in memory (sgdisk runs once: it takes ~1 s). */
    private byte[] gptDisk() throws Exception {
        Tools.require("sgdisk");
        synchronized (HostileTablesTest.class) {
            if (gptImage == null) {
                Path img = Tools.sparse(dir, "g.img", 4L << 20);
                Tools.run(null, "sgdisk", "-n", "1:0:+1M", "-c", "1:one", "-n", "2:0:+1M", "-c", "2:two",
                        img.toString());
                gptImage = Tools.readBytes(img, 0, 4 << 20);
            }
            return gptImage.clone();
        }
    }

    private static final int PRIMARY = 512;
    private static final int BACKUP = (4 << 20) - 512;

    private static void setAndFix(byte[] disk, int header, int off, long value, int width) {
        if (width == 4) {
            Craft.put32le(disk, header + off, value);
        } else {
            Craft.put64le(disk, header + off, value);
        }
        Craft.fixGptHeaderCrc(disk, header);
    }

    private PartitionTable readGpt(byte[] disk) throws IOException {
        warnings.clear();
        MemorySource src = new MemorySource(disk);
        PartitionTable t = PartitionTable.read(src, 0, warnings::add);
        assertTrue(src.bytesRead < 3L << 20, "read " + src.bytesRead + " bytes");
        return t;
    }

    @Test
    void hugeEntryCountIsRejectedWithoutAllocating() throws Exception {
        byte[] d = gptDisk();
        setAndFix(d, PRIMARY, 0x50, 0xFFFF_FFFFL, 4);
        PartitionTable t = readGpt(d);
        assertEquals(2, t.partitions().size(), "backup used");
        assertWarned("entry array of 4294967295 x 128 bytes");
        setAndFix(d, BACKUP, 0x50, 0x10_0000L, 4);
        t = readGpt(d);
        assertEquals(Scheme.NONE, t.scheme());
        assertEquals(List.of(), t.partitions());
    }

    @Test
    void entrySizeZeroOrOddIsRejected() throws Exception {
        for (long size : new long[] {0, 8, 127, 132, 0xFFFF_FFF8L}) {
            byte[] d = gptDisk();
            setAndFix(d, PRIMARY, 0x54, size, 4);
            setAndFix(d, BACKUP, 0x54, size, 4);
            PartitionTable t = readGpt(d);
            assertEquals(Scheme.NONE, t.scheme(), "entry size " + size);
            assertWarned("entry size " + size);
        }
    }

    @Test
    void crcMismatchesAreRejected() throws Exception {
        byte[] d = gptDisk();
        Craft.put32le(d, PRIMARY + 0x58, 0x1234_5678); // entries CRC wrong, header CRC fixed
        Craft.fixGptHeaderCrc(d, PRIMARY);
        d[BACKUP + 0x10] ^= 1;                          // backup header CRC wrong
        PartitionTable t = readGpt(d);
        assertEquals(Scheme.NONE, t.scheme());
        assertWarned("fails its CRC-32");
        assertWarned("header CRC-32 mismatch");
    }

    @Test
    void hostileHeaderFieldsAreRejected() throws Exception {
        Object[][] cases = {
            {0x0C, 0L, 4, "header size 0"},
            {0x0C, 4096L, 4, "header size 4096"},
            {0x18, 7L, 8, "says it is at LBA 7"},
            {0x48, -1L, 8, "outside the disk"},
            {0x48, 8191L, 8, "outside the disk"},
            {0x48, 1L, 8, "overlaps its header"},
            {0x28, 0L, 8, "usable area"},
            {0x28, 3L, 8, "overlaps the header or its entry array"},
            {0x30, 1L, 8, "usable area"},
            {0x20, 100L, 8, "overlaps the header or its entry array"}, // alternate header inside the usable area
        };
        for (Object[] c : cases) {
            String what = "field 0x" + Integer.toHexString((int) c[0]) + " = " + c[1];
            byte[] d = gptDisk();
            setAndFix(d, PRIMARY, (int) c[0], (long) c[1], (int) c[2]);
            PartitionTable t = readGpt(d);
            assertEquals(2, t.partitions().size(), what + ": backup used " + warnings);
            assertWarned((String) c[3]);
            assertWarned("using the backup header");
            if ((int) c[0] != 0x28 && (int) c[0] != 0x20) { // the backup has no such overlap to fear
                setAndFix(d, BACKUP, (int) c[0], (long) c[1], (int) c[2]);
                t = readGpt(d);
                assertEquals(Scheme.NONE, t.scheme(), what + " " + warnings);
                assertWarned((String) c[3]);
            }
        }
    }

    @Test
    void hostileEntriesAreDropped() throws Exception {
        byte[] d = gptDisk();
        int e1 = 1024;
        int e2 = 1024 + 128;
        Craft.put64le(d, e1 + 0x28, 1L << 40);          // entry 1 ends far past the disk
        Craft.put64le(d, e2 + 0x20, 5000);               // entry 2 ends before it starts
        Craft.put64le(d, e2 + 0x28, 4000);
        int e3 = 1024 + 2 * 128;                         // entry 3 covers the tables
        System.arraycopy(d, e1, d, e3, 16);
        Craft.put64le(d, e3 + 0x20, 0);
        Craft.put64le(d, e3 + 0x28, 100);
        Craft.put32le(d, PRIMARY + 0x58, Craft.crc32(d, 1024, 128 * 128));
        Craft.fixGptHeaderCrc(d, PRIMARY);
        PartitionTable t = readGpt(d);
        assertEquals(Scheme.GPT, t.scheme());
        assertEquals(List.of(), t.partitions());
        assertWarned("entry 1 ");
        assertWarned("entry 2 [5000, 4000] ends before it starts");
        assertWarned("entry 3 [0, 100] lies outside the usable area");
    }

    // ---- filesystem boot sectors --------------------------------------------------------------

    @Test
    void fatVolumesAreNoTables() throws Exception {
        Tools.require("mkfs.vfat", "sfdisk");
        Object[][] cases = {{"fat12.img", 1_474_560L, new String[] {}}, {"fat16.img", 32L << 20, new String[] {"-F", "16"}},
            {"fat32.img", 64L << 20, new String[] {"-F", "32"}}};
        for (Object[] c : cases) {
            Path img = Tools.sparse(dir, (String) c[0], (long) c[1]);
            List<String> cmd = new ArrayList<>(List.of("mkfs.vfat"));
            cmd.addAll(List.of((String[]) c[2]));
            cmd.add(img.toString());
            Tools.run(null, cmd.toArray(String[]::new));
            warnings.clear();
            PartitionTable t = FileSource.read(img, 0, warnings);
            assertEquals(Scheme.NONE, t.scheme(), c[0] + " " + warnings);
            assertEquals(List.of(), t.partitions());
            assertWarned("FAT volume boot record"); // recognised as a boot sector, not just an empty table
            assertEquals(List.of(), Tools.parseSfdiskJson(Tools.run(null, "sfdisk", "-J", img.toString())));
        }
    }

    @Test
    void ntfsVolumeIsNoTable() throws Exception {
        Path img = Tools.sparse(dir, "ntfs.img", 64L << 20);
        if (Tools.has("mkfs.ntfs")) {
            Tools.run(null, "mkfs.ntfs", "-F", "-Q", "-q", img.toString());
        } else {
            Tools.writeBytes(img, 0, craftedNtfsBootSector());
        }
        warnings.clear();
        PartitionTable t = FileSource.read(img, 0, warnings);
        assertEquals(Scheme.NONE, t.scheme(), warnings.toString());
        assertEquals(List.of(), t.partitions());
    }

    @Test
    void bootSectorsWithGarbageEntriesAreNoTables() throws Exception {
        byte[] ntfs = craftedNtfsBootSector();
        PartitionTable t = read(ntfs, DISK_BYTES);
        assertEquals(Scheme.NONE, t.scheme());
        assertWarned("NTFS volume boot record");

        byte[] fat = new byte[512];
        fat[0] = (byte) 0xEB;
        fat[1] = 0x3C;
        fat[2] = (byte) 0x90;
        Craft.putAscii(fat, 3, "MSDOS5.0");
        Craft.put16le(fat, 0x0B, 512);
        fat[0x0D] = 4;
        Craft.put16le(fat, 0x0E, 1);
        fat[0x10] = 2;
        fat[0x15] = (byte) 0xF8;
        Craft.mbrEntry(fat, 0, 1, 0, 0x4E, 0, 0x2000); // boot code that happens to look like an entry at LBA 0
        Craft.signature(fat, 0);
        t = read(fat, DISK_BYTES);
        assertEquals(Scheme.NONE, t.scheme());
        assertWarned("FAT volume boot record");

        byte[] exfat = new byte[512];
        exfat[0] = (byte) 0xEB;
        exfat[1] = 0x76;
        exfat[2] = (byte) 0x90;
        Craft.putAscii(exfat, 3, "EXFAT   ");
        Craft.mbrEntry(exfat, 0, 2, 0x80, 0x07, 1, SECTORS); // runs past the disk
        Craft.signature(exfat, 0);
        t = read(exfat, DISK_BYTES);
        assertEquals(Scheme.NONE, t.scheme());
        assertWarned("exFAT volume boot record");

        // Windows' FAT32 boot code keeps its messages up to 0x1FD: invalid boot indicators
        byte[] fat32 = fat.clone();
        Craft.putAscii(fat32, 0x1AC, "\r\nRemove disks or other media.\r\nDisk error\r\nPress any key to restart\r\n");
        Craft.signature(fat32, 0);
        assertEquals(Scheme.NONE, read(fat32, DISK_BYTES).scheme());
    }

    /** An NTFS boot sector as mkfs.ntfs writes it, with boot code bytes that mimic table entries. */
    static byte[] craftedNtfsBootSector() {
        byte[] b = new byte[512];
        b[0] = (byte) 0xEB;
        b[1] = 0x52;
        b[2] = (byte) 0x90;
        Craft.putAscii(b, 3, "NTFS    ");
        Craft.put16le(b, 0x0B, 512);
        b[0x0D] = 8;
        b[0x15] = (byte) 0xF8;
        Craft.put64le(b, 0x28, SECTORS - 1);
        Craft.mbrEntry(b, 0, 0, 0, 0x07, 0, SECTORS);
        Craft.signature(b, 0);
        return b;
    }
}
