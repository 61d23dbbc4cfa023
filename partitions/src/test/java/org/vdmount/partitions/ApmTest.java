package org.vdmount.partitions;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Apple Partition Maps crafted per libvsapm's description (driver descriptor "ER" in block 0, "PM"
 * entries from block 1), cross-checked with {@code mmls -t mac}.
 */
class ApmTest {
    static final long DISK_BYTES = 32L << 20;

    @TempDir
    Path dir;
    final List<String> warnings = new ArrayList<>();

    record Entry(String name, String type, long start, long count, long status) {
    }

    @AfterAll
    static void report() {
        System.out.println(OracleCounts.summary("ApmTest"));
    }

    /** A disk image's first {@code (entries + 1) * blockSize} bytes holding the map. */
    static byte[] apm(int blockSize, long diskBytes, List<Entry> entries) {
        byte[] b = new byte[(entries.size() + 1) * blockSize];
        Craft.putAscii(b, 0, "ER");
        Craft.put16be(b, 2, blockSize);
        Craft.put32be(b, 4, diskBytes / blockSize);
        for (int i = 0; i < entries.size(); i++) {
            Entry e = entries.get(i);
            int o = (i + 1) * blockSize;
            Craft.putAscii(b, o, "PM");
            Craft.put32be(b, o + 0x04, entries.size());
            Craft.put32be(b, o + 0x08, e.start());
            Craft.put32be(b, o + 0x0C, e.count());
            Craft.putAscii(b, o + 0x10, e.name());
            Craft.putAscii(b, o + 0x30, e.type());
            Craft.put32be(b, o + 0x54, e.count());
            Craft.put32be(b, o + 0x58, e.status());
        }
        return b;
    }

    /** A random map as hdiutil/Apple tools lay them out: map, drivers, HFS volumes, free space. */
    static List<Entry> randomMap(Random r, long diskBlocks) {
        List<Entry> entries = new ArrayList<>();
        entries.add(new Entry("Apple", "Apple_partition_map", 1, 63, 0x37));
        long next = 64;
        String[] types = {"Apple_Driver43", "Apple_HFS", "Apple_Free", "Apple_HFSX", "Apple_UNIX_SVR2", "Apple_Boot"};
        int n = 2 + r.nextInt(6);
        for (int i = 0; i < n && next < diskBlocks - 1; i++) {
            long count = Math.min(1 + r.nextInt((int) (diskBlocks / 8)), diskBlocks - next);
            String type = types[r.nextInt(types.length)];
            entries.add(new Entry(type.equals("Apple_Free") ? "" : "vol " + i, type, next, count,
                    type.equals("Apple_Free") ? 0 : 0x33 | (r.nextBoolean() ? 0x8 : 0)));
            next += count;
        }
        if (next < diskBlocks) {
            entries.add(new Entry("", "Apple_Free", next, diskBlocks - next, 0));
        }
        return entries;
    }

    private PartitionTable read(byte[] head, long size) throws IOException {
        warnings.clear();
        return PartitionTable.read(new MemorySource(head, new byte[0], size), 0, warnings::add);
    }

    private static void checkAgainstMap(PartitionTable t, List<Entry> map, int blockSize) {
        List<Partition> expected = new ArrayList<>();
        for (int i = 0; i < map.size(); i++) {
            Entry e = map.get(i);
            if (!e.type().equals("Apple_Free")) {
                expected.add(new Partition(i + 1, e.start() * blockSize, e.count() * blockSize, Scheme.APM, e.type(),
                        TypeNames.apm(e.type()), e.name(), "", (e.status() & 0x8) != 0));
            }
        }
        assertEquals(expected, t.partitions());
    }

    @Test
    void craftedMapsMatchMmls() throws Exception {
        Tools.require("mmls");
        for (int seed = 0; seed < 12; seed++) {
            Random r = new Random(6000 + seed);
            List<Entry> map = randomMap(r, DISK_BYTES / 512);
            byte[] head = apm(512, DISK_BYTES, map);
            PartitionTable t = read(head, DISK_BYTES);
            String ctx = "apm layout " + seed + " " + map;
            assertEquals(Scheme.APM, t.scheme(), ctx);
            assertEquals(512, t.sectorSize(), ctx);
            assertEquals(List.of(), warnings, ctx);
            checkAgainstMap(t, map, 512);

            Path img = Tools.sparse(dir, "apm" + seed + ".img", DISK_BYTES);
            Tools.writeBytes(img, 0, head);
            List<Tools.MmlsPart> mmls = Tools.mmlsAllocated("-t", "mac", img.toString());
            assertTrue(Tools.run(null, "mmls", img.toString()).contains("MAC Partition Map"), "mmls autodetects APM");
            OracleCheck.mmls(t, mmls, 512, ctx);
        }
    }

    @Test
    void blockSize2048AsInYosemiteDmg() throws Exception {
        List<Entry> map = List.of(new Entry("Apple", "Apple_partition_map", 1, 3, 0x37),
                new Entry("disk image", "Apple_HFS", 4, 8000, 0x40000033), new Entry("", "Apple_Free", 8004, 188, 0));
        byte[] head = apm(2048, DISK_BYTES, map);
        PartitionTable t = read(head, DISK_BYTES);
        assertEquals(Scheme.APM, t.scheme());
        assertEquals(2048, t.sectorSize());
        checkAgainstMap(t, map, 2048);
        if (Tools.has("mmls")) {
            Path img = Tools.sparse(dir, "apm2048.img", DISK_BYTES);
            Tools.writeBytes(img, 0, head);
            Tools.Result r = Tools.exec(null, "mmls", "-b", "2048", "-t", "mac", "-a", img.toString());
            if (r.exit() == 0) { // TSK reads the map in its own block size
                OracleCheck.mmls(t, Tools.parseMmls(r.out()).stream()
                        .filter(p -> !p.slot().equals("Meta") && !p.slot().startsWith("-")).toList(), 2048, "apm 2048");
            }
        }
    }

    @Test
    void hostileMaps() throws Exception {
        List<Entry> map = List.of(new Entry("Apple", "Apple_partition_map", 1, 63, 0x37),
                new Entry("a", "Apple_HFS", 64, 1000, 0x33), new Entry("b", "Apple_HFS", 2000, 1L << 31, 0x33),
                new Entry("c", "Apple_HFS", 2, 10, 0x33));
        byte[] head = apm(512, DISK_BYTES, map);
        PartitionTable t = read(head, DISK_BYTES);
        assertEquals(List.of(1, 2), t.partitions().stream().map(Partition::number).toList());
        assertTrue(warnings.stream().anyMatch(w -> w.contains("entry 3")), warnings.toString());
        assertTrue(warnings.stream().anyMatch(w -> w.contains("entry 4")), warnings.toString());

        byte[] huge = head.clone();
        Craft.put32be(huge, 512 + 4, 0xFFFF_FFFFL); // map claims 4 billion entries
        MemorySource src = new MemorySource(huge, new byte[0], DISK_BYTES);
        warnings.clear();
        t = PartitionTable.read(src, 0, warnings::add);
        assertEquals(List.of(1, 2), t.partitions().stream().map(Partition::number).toList());
        assertTrue(src.reads < 20, "stops at the first block without PM: " + src.reads + " reads");
        assertTrue(warnings.stream().anyMatch(w -> w.contains("no \"PM\" signature")), warnings.toString());

        byte[] badBlock = head.clone();
        Craft.put16be(badBlock, 2, 0); // block size 0 in the descriptor
        t = read(badBlock, DISK_BYTES);
        assertEquals(512, t.sectorSize());
        assertEquals(2, t.partitions().size());
        assertTrue(warnings.stream().anyMatch(w -> w.contains("block size 0")), warnings.toString());

        byte[] erOnly = new byte[1024];
        Craft.putAscii(erOnly, 0, "ER"); // "ER" without a map is not an APM
        assertEquals(Scheme.NONE, read(erOnly, DISK_BYTES).scheme());
    }
}
