package org.vdmount.mount.cli;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * {@code --allow-truncated} on the {@code vd} verbs that read: a VDI qemu-img wrote, cut inside
 * its data. The lost ranges come from {@code qemu-img map} of the uncut image, the bytes from
 * {@code qemu-img convert} of the cut one (qemu reads zeros past the end of a VDI).
 */
class AllowTruncatedCliTest {
    private static final long MIB = 1 << 20;

    @TempDir
    Path dir;
    private Path vdi;
    private long cut;
    private long needed;
    private List<Map<String, Object>> expectedMissing;

    @BeforeEach
    void cutImage() throws Exception {
        Tools.require("qemu-img");
        Tools.require("qemu-io");
        Path raw = dir.resolve("src.raw");
        Tools.run("qemu-img", "create", "-f", "raw", raw.toString(), "4M");
        Tools.run("qemu-io", "-f", "raw", "-c", "write -P 0x11 0 1M", "-c", "write -P 0x22 1M 1M",
                "-c", "write -P 0x33 3M 1M", raw.toString());
        vdi = dir.resolve("evidence.vdi");
        Tools.run("qemu-img", "convert", "-f", "raw", "-O", "vdi", raw.toString(), vdi.toString());
        List<long[]> runs = new ArrayList<>();
        for (Object o : (List<?>) JsonParser.parse(Tools.run("qemu-img", "map", "--output=json", vdi.toString()))) {
            Map<?, ?> m = (Map<?, ?>) o;
            if (Boolean.TRUE.equals(m.get("data")) && m.get("offset") != null) {
                runs.add(new long[] {num(m.get("start")), num(m.get("length")), num(m.get("offset"))});
            }
        }
        long lo = runs.stream().mapToLong(r -> r[2]).min().orElseThrow();
        needed = runs.stream().mapToLong(r -> r[2] + r[1]).max().orElseThrow();
        cut = lo + MIB + MIB / 2 + 512;
        expectedMissing = new ArrayList<>();
        for (long[] r : runs) {
            if (r[2] + r[1] > cut) {
                long lost = Math.max(0, cut - r[2]);
                expectedMissing.add(Map.of("start", r[0] + lost, "length", r[1] - lost));
            }
        }
        assertEquals(2, expectedMissing.size(), "half of the second block and all of the third: " + expectedMissing);
        try (FileChannel ch = FileChannel.open(vdi, StandardOpenOption.WRITE)) {
            ch.truncate(cut);
        }
    }

    private static long num(Object o) {
        return ((Number) o).longValue();
    }

    private String warning() {
        return "vd: warning: " + vdi + " is truncated at " + cut + " of " + needed + " bytes: guest bytes "
                + expectedMissing.get(0).get("start") + "-";
    }

    @Test
    void infoListsTheMissingRanges() {
        Cli.Result r = Cli.vd("info", "--json", "--allow-truncated", vdi);
        assertEquals(0, r.exit(), r.toString());
        assertEquals(1, r.errLines().size(), r.toString());
        assertTrue(r.errLines().get(0).startsWith(warning()), r.toString());
        Map<?, ?> layer = (Map<?, ?>) ((List<?>) ((Map<?, ?>) JsonParser.parse(r.out())).get("chain")).get(0);
        List<Map<String, Object>> got = new ArrayList<>();
        for (Object o : (List<?>) layer.get("missing-ranges")) {
            Map<?, ?> m = (Map<?, ?>) o;
            got.add(Map.of("start", num(m.get("start")), "length", num(m.get("length"))));
        }
        assertEquals(expectedMissing, got);

        Cli.Result human = Cli.vd("--allow-truncated", "info", vdi);
        assertEquals(0, human.exit(), human.toString());
        String line = human.out().lines().filter(l -> l.strip().startsWith("missing ranges:")).findFirst()
                .orElseThrow(() -> new AssertionError(human.out()));
        long start = num(expectedMissing.get(0).get("start"));
        assertTrue(line.contains(start + "-" + (start + num(expectedMissing.get(0).get("length")) - 1)), line);

        Cli.Result plain = Cli.vd("info", "--json", vdi);
        assertFalse(plain.out().contains("missing-ranges"), "only asked for with the override: " + plain);
    }

    @Test
    void convertReadsZerosWhereDataIsMissingAsQemuDoes() throws Exception {
        Path out = dir.resolve("out.raw");
        Cli.Result old = Cli.vd("convert", vdi, out);
        assertEquals(1, old.exit(), old.toString());
        assertEquals(1, old.errLines().size(), old.toString());
        assertTrue(old.err().startsWith("vd: ") && old.err().contains("truncated"), old.toString());
        assertFalse(old.err().contains("--allow-truncated"), "the old refusal stays as it was: " + old);
        assertFalse(Files.exists(out));

        Cli.Result r = Cli.vd("convert", "--allow-truncated", vdi, out);
        assertEquals(0, r.exit(), r.toString());
        assertEquals(1, r.errLines().size(), r.toString());
        assertTrue(r.errLines().get(0).startsWith(warning()), r.toString());
        Path qemu = dir.resolve("qemu.raw");
        Tools.run("qemu-img", "convert", "-f", "vdi", "-O", "raw", vdi.toString(), qemu.toString());
        assertArrayEquals(Files.readAllBytes(qemu), Files.readAllBytes(out));
        assertEquals(cut, Files.size(vdi), "the evidence is left as it is");

        Cli.Result same = Cli.vd("compare", "--allow-truncated", vdi, qemu);
        assertEquals(0, same.exit(), same.toString());
        Cli.Result map = Cli.vd("map", "--json", "--allow-truncated", vdi);
        assertEquals(0, map.exit(), map.toString());
    }

    @Test
    void writingVerbsRefuseTheOverride() {
        Cli.Result commit = Cli.vd("commit", "--allow-truncated", vdi);
        assertEquals(2, commit.exit(), commit.toString());
        assertEquals(1, commit.errLines().size(), commit.toString());
        assertTrue(commit.err().contains("--allow-truncated cannot be used with commit"), commit.toString());

        Cli.Result repair = Cli.vd("check", "-r", "all", "--allow-truncated", vdi);
        assertEquals(2, repair.exit(), repair.toString());
        assertEquals(1, repair.errLines().size(), repair.toString());
        assertTrue(repair.err().contains("--allow-truncated cannot be used with check -r"), repair.toString());
        Cli.Result serve = Cli.vd("serve", "--rw", "--allow-truncated", vdi);
        assertEquals(2, serve.exit(), serve.toString());
        assertEquals(1, serve.errLines().size(), serve.toString());
        assertTrue(serve.err().contains("cannot be combined with --rw"), serve.toString());
        assertEquals(cut, vdi.toFile().length());
    }

    @Test
    void aCutInsideTheTablesIsStillRefused() throws Exception {
        try (FileChannel ch = FileChannel.open(vdi, StandardOpenOption.WRITE)) {
            ch.truncate(520); // inside the block map at 512
        }
        Cli.Result r = Cli.vd("info", "--allow-truncated", vdi);
        assertEquals(1, r.exit(), r.toString());
        assertEquals(1, r.errLines().size(), r.toString());
        assertTrue(r.err().startsWith("vd: ") && r.err().contains(vdi.toString())
                && r.err().contains("the header and the tables must be present"), r.toString());
    }
}
