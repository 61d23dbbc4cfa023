package org.vdmount.mount.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.RandomAccessFile;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.FileTime;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** vd check against qemu-img check on qcow2 images damaged on purpose, and the formats without a check. */
class CheckTest {
    @TempDir
    Path dir;

    @BeforeEach
    void tools() {
        Tools.require("qemu-img");
        Tools.require("qemu-io");
    }

    /** A 4 MiB qcow2 (64 KiB clusters, 16-bit refcounts) with two data clusters at host clusters 5 and 6. */
    private Path image(String name) throws Exception {
        Path p = dir.resolve(name);
        Tools.run("qemu-img", "create", "-f", "qcow2", p.toString(), "4M");
        Tools.run("qemu-io", "-f", "qcow2", "-c", "write -P 1 0 128k", p.toString());
        return p;
    }

    /** Sets the refcount of host cluster {@code c} in the first refcount block, extending the file to hold it. */
    private static void setRefcount(Path p, int c, int value) throws Exception {
        try (RandomAccessFile f = new RandomAccessFile(p.toFile(), "rw")) {
            f.seek(48);
            long table = f.readLong();
            f.seek(table);
            long block = f.readLong() & ~511L;
            f.seek(block + 2L * c);
            f.writeShort(value);
            if (f.length() < (c + 1L) << 16) {
                f.setLength((c + 1L) << 16);
            }
        }
    }

    private static Tools.Output qemuCheck(Path p, String... extra) throws Exception {
        List<String> cmd = new java.util.ArrayList<>(List.of("qemu-img", "check"));
        cmd.addAll(Arrays.asList(extra));
        cmd.add(p.toString());
        return Tools.exec(cmd);
    }

    @Test
    void cleanImageIsCleanWithQemusStatisticsAndNothingChanges() throws Exception {
        Path p = image("clean.qcow2");
        Files.setLastModifiedTime(p, FileTime.fromMillis(1_000_000_000L));
        byte[] before = Files.readAllBytes(p);
        Cli.Result r = Cli.vd("check", p);
        assertEquals(0, r.exit(), r.toString());
        assertEquals(qemuCheck(p).out(), r.out());
        assertTrue(Arrays.equals(before, Files.readAllBytes(p)));
        assertEquals(1_000_000_000L, Files.getLastModifiedTime(p).toMillis(), "read-only check changed mtime");
    }

    @Test
    void leakIsFoundAsQemuFindsItAndRepairedSoQemuIsClean() throws Exception {
        Path p = image("leak.qcow2");
        setRefcount(p, 9, 1);
        assertEquals(3, qemuCheck(p).exit());
        Cli.Result r = Cli.vd("check", p);
        assertEquals(3, r.exit(), r.toString());
        assertTrue(r.err().contains("Leaked cluster 9 refcount=1 reference=0"), r.toString());
        assertTrue(r.out().contains("1 leaked clusters were found on the image."), r.toString());
        Path copy = dir.resolve("copy.qcow2");
        Files.copy(p, copy);
        Cli.Result fixed = Cli.vd("check", "-r", "leaks", p);
        assertEquals(0, fixed.exit(), fixed.toString());
        assertTrue(fixed.out().contains("    1 leaked clusters\n    0 corruptions"), fixed.toString());
        assertEquals(0, qemuCheck(p).exit(), qemuCheck(p).toString());
        Tools.run("qemu-img", "compare", copy.toString(), p.toString());
    }

    @SuppressWarnings("unchecked")
    @Test
    void corruptionIsFoundLeftAloneByLeakRepairAndFixedByRepairAll() throws Exception {
        Path p = image("bad.qcow2");
        setRefcount(p, 5, 0); // a data cluster in use with refcount 0
        setRefcount(p, 9, 1); // and a leak
        assertEquals(2, qemuCheck(p).exit());
        Cli.Result r = Cli.vd("check", "--json", p);
        assertEquals(2, r.exit(), r.toString());
        Map<String, Object> j = (Map<String, Object>) JsonParser.parse(r.out());
        assertEquals(1L, ((Number) j.get("corruptions")).longValue(), r.out());
        assertEquals(1L, ((Number) j.get("leaks")).longValue(), r.out());
        assertEquals("qcow2", j.get("format"));
        byte[] before = Files.readAllBytes(p);
        Cli.Result leaksOnly = Cli.vd("check", "-r", "leaks", p);
        assertEquals(2, leaksOnly.exit(), leaksOnly.toString());
        assertTrue(Arrays.equals(before, Files.readAllBytes(p)), "-r leaks changed an image with corruptions");
        Cli.Result all = Cli.vd("check", "-r", "all", p);
        assertEquals(0, all.exit(), all.toString());
        assertTrue(all.out().contains("    1 leaked clusters\n    1 corruptions"), all.toString());
        assertEquals(0, qemuCheck(p).exit(), qemuCheck(p).toString());
        String data = Tools.run("qemu-io", "-f", "qcow2", "-r", "-c", "read -P 1 0 128k", p.toString());
        assertTrue(data.contains("read 131072/131072"), data);
    }

    @Test
    void damagedTablesAreACorruptionNotACrash() throws Exception {
        Path p = image("l1.qcow2");
        long l1;
        try (RandomAccessFile f = new RandomAccessFile(p.toFile(), "rw")) {
            f.seek(40);
            l1 = f.readLong();
            f.seek(l1);
            f.writeLong(0x8000_0000_0000_0000L | 0x7fff_0000L); // L2 table past the end of the file
        }
        assertEquals(2, qemuCheck(p).exit());
        Cli.Result r = Cli.vd("check", p);
        assertEquals(2, r.exit(), r.toString());
        assertTrue(r.err().contains("L1") || r.err().contains("L2"), r.toString());
        Cli.Result all = Cli.vd("check", "-r", "all", p);
        assertEquals(2, all.exit(), all.toString());
        assertTrue(all.err().contains("not repaired"), all.toString());
    }

    /** Little-endian u32 at {@code at} of a file. */
    private static long u32le(RandomAccessFile f, long at) throws Exception {
        f.seek(at);
        return Integer.toUnsignedLong(Integer.reverseBytes(f.readInt()));
    }

    @Test
    void vdiCountsAndBlockMapAgreeWithQemu() throws Exception {
        Path raw = dir.resolve("s.raw");
        Tools.run("qemu-img", "create", "-f", "raw", raw.toString(), "8M");
        Tools.run("qemu-io", "-f", "raw", "-c", "write -P 1 0 64k", "-c", "write -P 2 3M 1M", raw.toString());
        Path clean = dir.resolve("c.vdi");
        Tools.run("qemu-img", "convert", "-f", "raw", "-O", "vdi", raw.toString(), clean.toString());
        Cli.Result ok = Cli.vd("check", clean);
        assertEquals(0, ok.exit(), ok.toString());
        assertEquals(qemuCheck(clean).out(), ok.out());
        // allocated-block count one too low
        Path count = dir.resolve("count.vdi");
        Files.copy(clean, count);
        try (RandomAccessFile f = new RandomAccessFile(count.toFile(), "rw")) {
            long n = u32le(f, 0x184);
            f.seek(0x184);
            f.writeInt(Integer.reverseBytes((int) n - 1));
        }
        // a block named twice (entry 5 copies entry 0)
        Path twice = dir.resolve("twice.vdi");
        Files.copy(clean, twice);
        try (RandomAccessFile f = new RandomAccessFile(twice.toFile(), "rw")) {
            long map = u32le(f, 0x154);
            long first = u32le(f, map);
            f.seek(map + 20);
            f.writeInt(Integer.reverseBytes((int) first));
        }
        for (Path p : List.of(count, twice)) {
            byte[] before = Files.readAllBytes(p);
            Tools.Output q = qemuCheck(p);
            Cli.Result r = Cli.vd("check", p);
            assertEquals(q.exit(), r.exit(), q + "\n" + r);
            assertEquals(2, r.exit());
            assertEquals(q.err().lines().filter(l -> l.startsWith("ERROR")).count(),
                    r.err().lines().filter(l -> l.startsWith("ERROR")).count(), q + "\n" + r); // as many errors
            assertTrue(r.out().contains(q.out().strip()), q + "\n" + r);
            assertTrue(Arrays.equals(before, Files.readAllBytes(p)));
        }
    }

    @Test
    void formatsWithoutACheckSayItWithQemusStatus() throws Exception {
        Path raw = dir.resolve("x.raw");
        Files.write(raw, new byte[65536]);
        assertEquals(63, qemuCheck(raw, "-f", "raw").exit());
        Cli.Result r = Cli.vd("check", "-f", "raw", raw);
        assertEquals(63, r.exit(), r.toString());
        assertEquals(List.of("vd: " + raw + ": check is not supported by raw"), r.errLines());
        Cli.Result bad = Cli.vd("check", "-r", "some", raw);
        assertEquals(2, bad.exit(), bad.toString());
    }

    /** VHDX: a qemu-img image and a child made by vd create -b are clean; a damaged second header is repaired. */
    @Test
    void vhdxChecksCleanAndRepairsADamagedNonCurrentHeader() throws Exception {
        Path p = dir.resolve("d.vhdx");
        Tools.run("qemu-img", "create", "-f", "vhdx", "-o", "block_size=1M", p.toString(), "8M");
        Tools.run("qemu-io", "-f", "vhdx", "-c", "write -P 5 1M 2M", p.toString());
        Path child = dir.resolve("c.avhdx");
        assertEquals(0, Cli.vd("create", "-f", "vhdx", "-b", p.toString(), child.toString()).exit());
        Cli.Result c = Cli.vd("check", child);
        assertEquals(0, c.exit(), c.toString());
        Cli.Result r = Cli.vd("check", p);
        assertEquals(0, r.exit(), r.toString());
        assertTrue(r.out().contains("No errors were found on the image."), r.toString());
        Cli.Result j = Cli.vd("check", "--json", p.toString());
        assertTrue(j.out().replace(" ", "").contains("\"allocated-clusters\":2,"), j.toString());
        assertTrue(j.out().replace(" ", "").contains("\"total-clusters\":8,"), j.toString());
        try (RandomAccessFile f = new RandomAccessFile(p.toFile(), "rw")) {
            f.seek(64 * 1024 + 200); // header 1: qemu-img leaves header 2 current after its open
            f.write(0x5a);
        }
        assertEquals(0, qemuCheck(p).exit(), "QEMU only reads the current header");
        Cli.Result damaged = Cli.vd("check", p);
        assertEquals(2, damaged.exit(), damaged.toString());
        Cli.Result fixed = Cli.vd("check", "-r", "all", p.toString());
        assertEquals(0, fixed.exit(), fixed.toString());
        assertEquals(0, Cli.vd("check", p).exit());
        assertEquals(0, qemuCheck(p).exit());
    }

    @Test
    void vmdkEntryPastTheEndIsFoundAsQemuFindsIt() throws Exception {
        Path p = dir.resolve("s.vmdk");
        Tools.run("qemu-img", "create", "-f", "vmdk", p.toString(), "8M");
        Tools.run("qemu-io", "-f", "vmdk", "-c", "write -P 1 0 64k", "-c", "write -P 2 1M 64k", p.toString());
        Cli.Result clean = Cli.vd("check", p);
        assertEquals(0, clean.exit(), clean.toString());
        assertTrue(clean.out().contains("No errors were found on the image."), clean.toString());
        try (RandomAccessFile f = new RandomAccessFile(p.toFile(), "rw")) {
            byte[] h = new byte[512];
            f.readFully(h);
            var b = java.nio.ByteBuffer.wrap(h).order(java.nio.ByteOrder.LITTLE_ENDIAN);
            long gd = b.getLong(0x38) * 512;
            long rgd = b.getLong(0x30) * 512;
            for (long dirAt : new long[] {gd, rgd}) {
                f.seek(dirAt);
                long gt = Integer.toUnsignedLong(Integer.reverseBytes(f.readInt())) * 512;
                f.seek(gt + 16 * 4); // the grain at 1 MiB
                f.writeInt(Integer.reverseBytes((int) (f.length() / 512 + 4096)));
            }
        }
        long len = Files.size(p);
        Tools.Output q = qemuCheck(p, "-f", "vmdk");
        Cli.Result r = Cli.vd("check", p);
        assertEquals(2, r.exit(), r.toString());
        // QEMU stops at the first such entry with "Check failed" (exit 1); vd counts it as a corruption
        assertTrue(q.exit() != 0 && q.err().contains("ERROR: cluster offset for sector 2048 points after EOF"), q.toString());
        assertEquals(List.of("ERROR: grain 16 (guest sector 2048) at sector " + (len / 512 + 4096)
                + " points past the end of the file (" + len + " bytes)"), r.errLines());
        assertTrue(r.out().contains("1 errors were found on the image."), r.toString());
    }
}
