package org.vdmount.mount.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** vd info's partitions against sfdisk --json, on raw disks and through a container. */
class PartitionsTest {
    @TempDir
    Path dir;

    static final String GPT_SCRIPT = "label: gpt\\nsize=10M, type=L, name=root\\nsize=5M, type=U, "
            + "name=\"EFI system\"\\ntype=S\\n";

    /** A 64 MiB raw disk (made by vd create) partitioned by sfdisk with the given script. */
    static Path disk(Path dir, String name, String sfdiskScript) throws Exception {
        Tools.require("sfdisk");
        Path img = dir.resolve(name);
        assertEquals(0, Cli.vd("create", "-f", "raw", img, "64M").exit());
        Tools.Output o = Tools.exec(List.of("bash", "-c", "printf '" + sfdiskScript + "' | sfdisk -q " + img), null,
                Map.of());
        assertEquals(0, o.exit(), o.err());
        return img;
    }

    /** sfdisk's view: number, start and length in bytes, type, name, uuid, bootable. */
    @SuppressWarnings("unchecked")
    private static List<List<Object>> sfdisk(Path img) throws Exception {
        Map<String, Object> table = (Map<String, Object>) ((Map<String, Object>) JsonParser.parse(
                Tools.run("sfdisk", "--json", img.toString()))).get("partitiontable");
        long sector = (Long) table.get("sectorsize");
        List<List<Object>> out = new ArrayList<>();
        for (Map<String, Object> p : (List<Map<String, Object>>) table.get("partitions")) {
            String node = (String) p.get("node");
            long number = Long.parseLong(node.substring(img.toString().length()));
            out.add(List.of(number, (Long) p.get("start") * sector, (Long) p.get("size") * sector,
                    normalType((String) p.get("type")), p.getOrDefault("name", ""),
                    ((String) p.getOrDefault("uuid", "")).toLowerCase(Locale.ROOT),
                    p.getOrDefault("bootable", false)));
        }
        return out;
    }

    /** MBR types as numbers ("7" and "07" alike), GUIDs lower case. */
    private static String normalType(String t) {
        return t.length() <= 2 ? Integer.toString(Integer.parseInt(t, 16)) : t.toLowerCase(Locale.ROOT);
    }

    @SuppressWarnings("unchecked")
    static List<List<Object>> vd(Map<String, Object> info) {
        List<List<Object>> out = new ArrayList<>();
        for (Map<String, Object> p : (List<Map<String, Object>>) info.get("partitions")) {
            out.add(List.of(p.get("number"), p.get("start"), p.get("length"), normalType((String) p.get("type")),
                    p.get("name"), ((String) p.get("uuid")).toLowerCase(Locale.ROOT), p.get("bootable")));
        }
        return out;
    }

    @Test
    void mbrWithLogicalPartitionsMatchesSfdisk() throws Exception {
        Path img = disk(dir, "mbr.raw", "label: dos\\n,8M,83,*\\n,8M,7\\n,8M,ef\\n,,5\\n,4M,83\\n,,82\\n");
        Map<String, Object> info = InfoTest.infoJson(img);
        assertEquals("mbr", info.get("partition-scheme"));
        assertEquals(sfdisk(img), vd(info));
        assertEquals(6, vd(info).size());

        Cli.Result human = Cli.vd("info", img);
        assertTrue(human.out().contains("partitions:    mbr, 6 (512-byte sectors)"), human.out());
        assertTrue(human.out().matches("(?s).*\\n  1 +1048576 +8388608 +8\\.0 MiB +Linux \\(83\\) +boot\\n.*"),
                human.out());
    }

    @Test
    void gptMatchesSfdisk() throws Exception {
        Path img = disk(dir, "gpt.raw", GPT_SCRIPT);
        Map<String, Object> info = InfoTest.infoJson(img);
        assertEquals("gpt", info.get("partition-scheme"));
        assertEquals(sfdisk(img), vd(info));
        assertEquals(3, vd(info).size());
    }
}
