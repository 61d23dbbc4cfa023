package org.vdmount.partitions;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Disks with 4096-byte logical sectors. util-linux 2.38 (Debian 12) has no {@code sfdisk --sector-size},
 * so the tables are written by {@code fdisk -b 4096} (the same libfdisk) from a command script, listed
 * by {@code fdisk -b 4096 -l} (and by {@code sfdisk -J --sector-size 4096} where sfdisk has that option)
 * and by {@code mmls -b 4096}.
 */
class Sector4096OracleTest {
    static final long DISK_BYTES = 128L << 20;
    static final int SS = 4096;
    static final int LAYOUTS = 10;

    @TempDir
    Path dir;

    @AfterAll
    static void report() {
        System.out.println(OracleCounts.summary("Sector4096OracleTest"));
    }

    @Test
    void mbrWithLogicals() throws Exception {
        Tools.require("fdisk", "mmls");
        for (int seed = 0; seed < LAYOUTS; seed++) {
            Random r = new Random(4000 + seed);
            Path img = Tools.sparse(dir, "m" + seed + ".img", DISK_BYTES);
            int primaries = 1 + r.nextInt(3);
            int logicals = 3 + r.nextInt(4);
            StringBuilder s = new StringBuilder("o\n");
            for (int p = 1; p <= primaries; p++) {
                s.append("n\np\n").append(p).append("\n\n+").append(4 + r.nextInt(12)).append("M\n");
            }
            // The extended partition takes the rest of the disk; with 3 primaries its slot 4 is implied.
            s.append("n\ne\n").append(primaries == 3 ? "" : (primaries + 1) + "\n").append("\n\n");
            for (int l = 0; l < logicals; l++) { // no room for primaries left: fdisk adds logicals directly
                s.append("n\n\n+").append(4 + r.nextInt(8)).append("M\n");
            }
            String[] types = {"83", "82", "7", "b", "c", "8e", "fd"};
            List<Integer> numbers = new ArrayList<>();
            for (int p = 1; p <= primaries; p++) {
                numbers.add(p);
            }
            for (int l = 0; l < logicals; l++) {
                numbers.add(5 + l);
            }
            for (int n : numbers) {
                s.append("t\n").append(n).append('\n').append(types[r.nextInt(types.length)]).append('\n');
            }
            s.append("a\n").append(1 + r.nextInt(primaries)).append("\nw\n");
            Tools.run(s.toString(), "fdisk", "-b", "4096", img.toString());
            String ctx = "4096 mbr layout " + seed;

            List<Tools.OraclePart> oracle = Tools.parseFdiskList(Tools.run(null, "fdisk", "-b", "4096", "-l", "-o",
                    "Device,Start,Sectors,Id", img.toString()), img);
            assertEquals(primaries + 1 + logicals, oracle.size(), ctx + ": fdisk script went astray: " + oracle);
            List<String> warnings = new ArrayList<>();
            PartitionTable t = FileSource.read(img, SS, warnings);
            assertEquals(Scheme.MBR, t.scheme(), ctx);
            assertEquals(SS, t.sectorSize(), ctx);
            assertEquals(List.of(), warnings, ctx);
            OracleCheck.sfdisk(t, oracle, SS, false, ctx);
            sfdiskJson(t, img, ctx);
            OracleCheck.mmls(t, Tools.mmlsAllocated("-b", "4096", img.toString()), SS, ctx);
        }
    }

    @Test
    void gptWithNames() throws Exception {
        Tools.require("fdisk", "mmls");
        String[] guids = {"C12A7328-F81F-11D2-BA4B-00A0C93EC93B", "0FC63DAF-8483-4772-8E79-3D69D8477DE4",
            "EBD0A0A2-B9E5-4433-87C0-68B6B72699C7", "0657FD6D-A4AB-43C4-84E5-0933C84B4F4F",
            "E6D6D379-F507-44C2-A23C-238F2A3DF928"};
        for (int seed = 0; seed < LAYOUTS; seed++) {
            Random r = new Random(5000 + seed);
            Path img = Tools.sparse(dir, "g" + seed + ".img", DISK_BYTES);
            int count = 2 + r.nextInt(5);
            StringBuilder s = new StringBuilder("g\n");
            List<Integer> numbers = new ArrayList<>();
            int number = 0;
            for (int i = 0; i < count; i++) {
                number += 1 + r.nextInt(3);
                numbers.add(number);
                s.append("n\n").append(number).append("\n\n+").append(1 + r.nextInt(16)).append("M\n");
            }
            for (int n : numbers) {
                s.append("t\n").append(n).append('\n').append(guids[r.nextInt(guids.length)]).append('\n');
            }
            s.append("x\n");
            for (int n : numbers) {
                s.append("n\n").append(n).append('\n').append("part ").append(n).append(r.nextBoolean() ? " é" : "")
                        .append('\n');
            }
            s.append("r\nw\n");
            Tools.run(s.toString(), "fdisk", "-b", "4096", img.toString());
            String ctx = "4096 gpt layout " + seed;

            List<Tools.OraclePart> oracle = Tools.parseFdiskList(Tools.run(null, "fdisk", "-b", "4096", "-l", "-o",
                    "Device,Start,Sectors,Type-UUID", img.toString()), img);
            assertEquals(count, oracle.size(), ctx + ": fdisk script went astray: " + oracle);
            for (int given : new int[] {SS, 0}) { // the probe (0) must find the 4096-byte GPT by itself
                List<String> warnings = new ArrayList<>();
                PartitionTable t = FileSource.read(img, given, warnings);
                assertEquals(Scheme.GPT, t.scheme(), ctx);
                assertEquals(SS, t.sectorSize(), ctx);
                assertEquals(List.of(), warnings, ctx);
                OracleCheck.sfdisk(t, oracle, SS, false, ctx);
                sfdiskJson(t, img, ctx);
                OracleCheck.mmls(t, Tools.mmlsAllocated("-b", "4096", img.toString()), SS, ctx);
                for (Partition p : t.partitions()) {
                    assertTrue(p.name().startsWith("part " + p.number()), ctx + ": name " + p);
                }
            }
            List<String> warnings = new ArrayList<>();
            PartitionTable wrong = FileSource.read(img, 512, warnings);
            assertEquals(SS, wrong.sectorSize(), ctx + ": a disk claiming 512 still finds the 4096 GPT");
            assertTrue(warnings.stream().anyMatch(w -> w.contains("4096-byte sectors")), ctx + " " + warnings);
        }
    }

    /** Full comparison with sfdisk -J where util-linux is new enough (2.39+) to take --sector-size. */
    private static void sfdiskJson(PartitionTable t, Path img, String ctx) throws Exception {
        if (!Tools.has("sfdisk") || !Tools.exec(null, "sfdisk", "--help").out().contains("--sector-size")) {
            return;
        }
        OracleCheck.sfdisk(t, Tools.parseSfdiskJson(
                Tools.run(null, "sfdisk", "-J", "--sector-size", "4096", img.toString())), SS, ctx);
    }
}
