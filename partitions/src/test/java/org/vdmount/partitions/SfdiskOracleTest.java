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
 * Random layouts written by sfdisk and sgdisk on sparse 64 MiB images, read back and compared field by
 * field with {@code sfdisk -J} and {@code mmls -a}.
 */
class SfdiskOracleTest {
    static final long DISK_BYTES = 64L << 20;
    static final int MBR_LAYOUTS = 24;
    static final int GPT_LAYOUTS = 20;
    static final int SGDISK_LAYOUTS = 12; // sgdisk takes ~1 s per run

    static final String[] MBR_TYPES = {"83", "82", "7", "b", "c", "e", "8e", "fd", "a5", "ef", "1", "6", "da"};
    static final String[] EXTENDED_TYPES = {"5", "f", "85"};
    static final String[] GPT_TYPES = {
        "C12A7328-F81F-11D2-BA4B-00A0C93EC93B", "EBD0A0A2-B9E5-4433-87C0-68B6B72699C7",
        "E3C9E316-0B5C-4DB8-817D-F92DF00215AE", "0FC63DAF-8483-4772-8E79-3D69D8477DE4",
        "0657FD6D-A4AB-43C4-84E5-0933C84B4F4F", "E6D6D379-F507-44C2-A23C-238F2A3DF928",
        "A19D880F-05FC-4D3B-A006-743F0F84911E", "DE94BBA4-06D1-4D40-A16A-BFD50179D6AC",
        "48465300-0000-11AA-AA11-00306543ECAC", "7C3457EF-0000-11AA-AA11-00306543ECAC",
        "21686148-6449-6E6F-744E-656564454649", "12345678-9ABC-4DEF-8123-456789ABCDEF"};
    static final String[] SGDISK_CODES = {"ef00", "0700", "0c01", "8300", "8200", "8e00", "fd00", "2700", "af00",
        "af0a", "ef02", "a503"};
    static final String NAME_CHARS = "abcdefghijklmnopqrstuvwxyzABCDEFXYZ0123456789 _-.éüß日本";

    @TempDir
    Path dir;

    @AfterAll
    static void report() {
        System.out.println(OracleCounts.summary("SfdiskOracleTest"));
    }

    static String name(Random r) {
        StringBuilder sb = new StringBuilder();
        int n = 1 + r.nextInt(20);
        for (int i = 0; i < n; i++) {
            sb.append(NAME_CHARS.charAt(r.nextInt(NAME_CHARS.length())));
        }
        return sb.toString().strip().isEmpty() ? "p" : sb.toString().strip();
    }

    @Test
    void mbrWithExtendedAndLogicals() throws Exception {
        Tools.require("sfdisk", "mmls");
        for (int seed = 0; seed < MBR_LAYOUTS; seed++) {
            Random r = new Random(1000 + seed);
            Path img = Tools.sparse(dir, "mbr" + seed + ".img", DISK_BYTES);
            StringBuilder script = new StringBuilder("label: dos\n");
            int extSlot = 1 + r.nextInt(4);
            int logicals = 3 + r.nextInt(4);
            boolean bootDone = false;
            for (int slot = 1; slot <= 4; slot++) {
                if (slot == extSlot) {
                    script.append(img).append(slot).append(" : size=").append(logicals * 5 + 1)
                            .append("M, type=").append(EXTENDED_TYPES[r.nextInt(3)]).append('\n');
                } else if (r.nextInt(10) < 6) {
                    script.append(img).append(slot).append(" : size=").append(1 + r.nextInt(6)).append("M, type=")
                            .append(MBR_TYPES[r.nextInt(MBR_TYPES.length)]);
                    if (!bootDone && r.nextBoolean()) {
                        script.append(", bootable");
                        bootDone = true;
                    }
                    script.append('\n');
                }
            }
            for (int l = 0; l < logicals; l++) {
                script.append(img).append(5 + l).append(" : size=").append(1 + r.nextInt(4)).append("M, type=")
                        .append(MBR_TYPES[r.nextInt(MBR_TYPES.length)]).append('\n');
            }
            Tools.run(script.toString(), "sfdisk", "-q", img.toString());
            String ctx = "mbr layout " + seed + " [" + script + "]";

            List<Tools.OraclePart> oracle = Tools.parseSfdiskJson(Tools.run(null, "sfdisk", "-J", img.toString()));
            assertTrue(oracle.stream().filter(o -> o.number() >= 5).count() >= 3, ctx + ": needs >= 3 logicals");
            List<String> warnings = new ArrayList<>();
            PartitionTable t = FileSource.read(img, 0, warnings);
            assertEquals(Scheme.MBR, t.scheme(), ctx);
            assertEquals(512, t.sectorSize(), ctx);
            assertEquals(List.of(), warnings, ctx);
            OracleCheck.sfdisk(t, oracle, 512, ctx);
            OracleCheck.mmls(t, Tools.mmlsAllocated(img.toString()), 512, ctx);
            assertEquals(t, FileSource.read(img, 512, new ArrayList<>()), ctx + ": explicit 512");
            assertEquals(1, t.partitions().stream().filter(Partition::isExtendedContainer).count(), ctx);
        }
    }

    @Test
    void gptWithNamesBySfdisk() throws Exception {
        Tools.require("sfdisk", "mmls");
        for (int seed = 0; seed < GPT_LAYOUTS; seed++) {
            Random r = new Random(2000 + seed);
            Path img = Tools.sparse(dir, "gpt" + seed + ".img", DISK_BYTES);
            StringBuilder script = new StringBuilder("label: gpt\n");
            int number = 0;
            int count = 2 + r.nextInt(6);
            for (int i = 0; i < count; i++) {
                number += 1 + r.nextInt(3);
                script.append(img).append(number).append(" : size=").append(1 + r.nextInt(8)).append("M, type=")
                        .append(GPT_TYPES[r.nextInt(GPT_TYPES.length)]).append(", name=\"").append(name(r))
                        .append('"');
                if (r.nextInt(4) == 0) {
                    script.append(", attrs=LegacyBIOSBootable");
                }
                script.append('\n');
            }
            Tools.run(script.toString(), "sfdisk", "-q", img.toString());
            check(img, "sfdisk gpt layout " + seed + " [" + script + "]");
        }
    }

    @Test
    void gptBySgdisk() throws Exception {
        Tools.require("sgdisk", "sfdisk", "mmls");
        for (int seed = 0; seed < SGDISK_LAYOUTS; seed++) {
            Random r = new Random(3000 + seed);
            Path img = Tools.sparse(dir, "sg" + seed + ".img", DISK_BYTES);
            List<String> cmd = new ArrayList<>(List.of("sgdisk"));
            if (seed % 3 == 1) {
                cmd.add("--resize-table=" + (seed % 2 == 0 ? 256 : 248));
            }
            int number = 0;
            int count = 2 + r.nextInt(7);
            for (int i = 0; i < count; i++) {
                number += 1 + r.nextInt(4);
                cmd.add("--new=" + number + ":0:+" + (512 + r.nextInt(8192)) + "K");
                cmd.add("--typecode=" + number + ":" + SGDISK_CODES[r.nextInt(SGDISK_CODES.length)]);
                cmd.add("--change-name=" + number + ":" + name(r));
                if (r.nextInt(4) == 0) {
                    cmd.add("--attributes=" + number + ":set:2");
                }
            }
            cmd.add(img.toString());
            Tools.run(null, cmd.toArray(String[]::new));
            check(img, "sgdisk layout " + seed + " " + cmd);
        }
    }

    private void check(Path img, String ctx) throws Exception {
        List<Tools.OraclePart> oracle = Tools.parseSfdiskJson(Tools.run(null, "sfdisk", "-J", img.toString()));
        assertTrue(oracle.size() >= 2, ctx);
        List<String> warnings = new ArrayList<>();
        PartitionTable t = FileSource.read(img, 0, warnings);
        assertEquals(Scheme.GPT, t.scheme(), ctx);
        assertEquals(512, t.sectorSize(), ctx);
        assertEquals(List.of(), warnings, ctx);
        OracleCheck.sfdisk(t, oracle, 512, ctx);
        OracleCheck.mmls(t, Tools.mmlsAllocated(img.toString()), 512, ctx);
        assertEquals(t, FileSource.read(img, 512, new ArrayList<>()), ctx + ": explicit 512");
    }
}
