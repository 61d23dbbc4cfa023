package org.vdmount.partitions;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Seeded random corruption of the table sectors of MBR, GPT (512 and 4096), APM and FAT disks: every
 * read returns (no exception), lists only partitions inside the disk and off sector 0, in increasing
 * number order, and reads a bounded amount. Half the GPT cases get their CRCs recomputed after the
 * damage so that hostile field values reach the checks behind the CRCs.
 */
class MutationTest {
    static final int DISK_BYTES = 4 << 20;
    static final int CASES_PER_DISK = 1000;

    @TempDir
    Path dir;

    @Test
    void mutatedTablesNeverEscapeTheDisk() throws Exception {
        Tools.require("sfdisk", "sgdisk", "fdisk", "mkfs.vfat");
        List<byte[]> disks = new ArrayList<>();
        List<String> names = new ArrayList<>();

        Path mbr = Tools.sparse(dir, "mbr.img", DISK_BYTES);
        Tools.run("label: dos\nstart=64, size=1000, type=83, bootable\nstart=1100, size=500, type=7\n"
                + "start=2000, size=5000, type=5\nstart=2100, size=500, type=83\nstart=2700, size=500, type=82\n"
                + "start=3300, size=500, type=b\nstart=3900, size=500, type=c\n", "sfdisk", "-q", mbr.toString());
        disks.add(Tools.readBytes(mbr, 0, DISK_BYTES));
        names.add("mbr");

        Path gpt = Tools.sparse(dir, "gpt.img", DISK_BYTES);
        Tools.run(null, "sgdisk", "-n", "1:0:+1M", "-c", "1:one", "-n", "3:0:+1M", "-t", "3:8200", "-A", "3:set:2",
                "-n", "4:0:0", "-c", "4:rest", gpt.toString());
        disks.add(Tools.readBytes(gpt, 0, DISK_BYTES));
        names.add("gpt");

        Path gpt4k = Tools.sparse(dir, "gpt4k.img", DISK_BYTES);
        Tools.run("g\nn\n1\n\n+1M\nn\n2\n\n\nw\n", "fdisk", "-b", "4096", gpt4k.toString());
        disks.add(Tools.readBytes(gpt4k, 0, DISK_BYTES));
        names.add("gpt4096");

        List<ApmTest.Entry> map = ApmTest.randomMap(new Random(7), DISK_BYTES / 512);
        byte[] apm = new byte[DISK_BYTES];
        byte[] head = ApmTest.apm(512, DISK_BYTES, map);
        System.arraycopy(head, 0, apm, 0, head.length);
        disks.add(apm);
        names.add("apm");

        Path fat = Tools.sparse(dir, "fat.img", DISK_BYTES);
        Tools.run(null, "mkfs.vfat", fat.toString());
        disks.add(Tools.readBytes(fat, 0, DISK_BYTES));
        names.add("fat");

        int total = 0;
        int withPartitions = 0;
        long startNanos = System.nanoTime();
        for (int d = 0; d < disks.size(); d++) {
            byte[] disk = disks.get(d);
            List<Integer> hot = hotSectors(disk);
            assertTrue(!hot.isEmpty(), names.get(d));
            byte[][] saved = new byte[hot.size()][];
            for (int i = 0; i < hot.size(); i++) {
                saved[i] = java.util.Arrays.copyOfRange(disk, hot.get(i) * 512, hot.get(i) * 512 + 512);
            }
            for (int c = 0; c < CASES_PER_DISK; c++) {
                long seed = 9_000_000L * d + c;
                Random r = new Random(seed);
                mutate(disk, hot, r);
                if (r.nextBoolean()) {
                    fixGptCrcs(disk);
                }
                String ctx = names.get(d) + " case seed " + seed;
                PartitionTable t = check(disk, ctx);
                withPartitions += t.partitions().isEmpty() ? 0 : 1;
                total++;
                for (int i = 0; i < hot.size(); i++) {
                    System.arraycopy(saved[i], 0, disk, hot.get(i) * 512, 512);
                }
            }
        }
        System.out.printf("MutationTest: %d mutated disks read in %d ms, %d still with partitions%n", total,
                (System.nanoTime() - startNanos) / 1_000_000, withPartitions);
        assertEquals(disks.size() * CASES_PER_DISK, total);
    }

    private static PartitionTable check(byte[] disk, String ctx) {
        MemorySource src = new MemorySource(disk);
        List<String> warnings = new ArrayList<>();
        PartitionTable t;
        try {
            t = PartitionTable.read(src, 0, warnings::add);
        } catch (Throwable e) {
            throw new AssertionError(ctx + ": " + e, e);
        }
        assertTrue(List.of(512, 1024, 2048, 4096).contains(t.sectorSize()), ctx + " sector size " + t.sectorSize());
        if (t.scheme() == Scheme.NONE && !t.partitions().isEmpty()) {
            fail(ctx + ": NONE with partitions");
        }
        int last = 0;
        for (Partition p : t.partitions()) {
            assertTrue(p.number() > last, ctx + ": numbers not increasing " + t);
            last = p.number();
            assertTrue(p.lengthBytes() > 0 && p.startByte() >= t.sectorSize() && p.endByte() <= disk.length,
                    ctx + ": partition outside the disk " + p);
            assertEquals(t.scheme(), p.scheme(), ctx);
        }
        assertTrue(src.bytesRead <= 3L << 20 && src.reads <= 2000, ctx + ": read " + src.bytesRead + " bytes in "
                + src.reads + " reads");
        return t;
    }

    /** Sectors holding anything: MBR, EBRs, GPT headers and arrays, APM blocks, boot sectors, FATs. */
    private static List<Integer> hotSectors(byte[] disk) {
        List<Integer> hot = new ArrayList<>();
        for (int s = 0; s < disk.length / 512; s++) {
            for (int i = s * 512; i < s * 512 + 512; i++) {
                if (disk[i] != 0) {
                    hot.add(s);
                    break;
                }
            }
        }
        return hot;
    }

    private static final long[] SPECIAL = {0, 1, 2, 33, 34, 127, 128, 0x7FFF_FFFFL, 0x8000_0000L, 0xFFFF_FFFFL,
        DISK_BYTES / 512 - 1, DISK_BYTES / 512, DISK_BYTES / 4096 - 1, 1L << 32, -1L, Long.MIN_VALUE};

    private static void mutate(byte[] disk, List<Integer> hot, Random r) {
        int n = 1 + r.nextInt(6);
        for (int k = 0; k < n; k++) {
            int sector = hot.get(hot.size() <= 3 || r.nextInt(3) == 0 ? r.nextInt(Math.min(3, hot.size()))
                    : r.nextInt(hot.size()));
            int base = sector * 512;
            switch (r.nextInt(6)) {
                case 0 -> disk[base + r.nextInt(512)] = (byte) r.nextInt(256);
                case 1 -> disk[base + r.nextInt(512)] ^= (byte) (1 << r.nextInt(8));
                case 2 -> Craft.put32le(disk, base + 4 * r.nextInt(128), value(r));
                case 3 -> Craft.put64le(disk, base + 8 * r.nextInt(64), value(r));
                case 4 -> Craft.put32be(disk, base + 4 * r.nextInt(128), value(r));
                default -> {
                    int other = hot.get(r.nextInt(hot.size())) * 512;
                    System.arraycopy(disk, other, disk, base, 512);
                }
            }
        }
    }

    private static long value(Random r) {
        return r.nextBoolean() ? SPECIAL[r.nextInt(SPECIAL.length)] : r.nextInt(3) == 0 ? r.nextLong()
                : r.nextInt(DISK_BYTES / 512 + 64);
    }

    /** Recomputes entry-array and header CRCs of every GPT header found, as a careful attacker would. */
    private static void fixGptCrcs(byte[] disk) {
        for (int ss : new int[] {512, 4096}) {
            for (long lba : new long[] {1, disk.length / ss - 1}) {
                int h = (int) (lba * ss);
                if (!new String(disk, h, 8, java.nio.charset.StandardCharsets.ISO_8859_1).equals("EFI PART")) {
                    continue;
                }
                long entriesLba = Craft.u64le(disk, h + 0x48);
                long bytes = Craft.u32le(disk, h + 0x50) * Craft.u32le(disk, h + 0x54);
                if (entriesLba >= 0 && entriesLba < disk.length / ss && bytes <= 1 << 20
                        && entriesLba * ss + bytes <= disk.length) {
                    Craft.put32le(disk, h + 0x58, Craft.crc32(disk, (int) (entriesLba * ss), (int) bytes));
                }
                Craft.fixGptHeaderCrc(disk, h);
            }
        }
    }
}
