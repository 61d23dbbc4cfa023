package org.vdmount.vd.format.vdi;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.ByteBuffer;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.FileTime;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;
import org.vdmount.vd.Bytes;
import org.vdmount.vd.Disk;
import org.vdmount.vd.OpenOptions;
import org.vdmount.vd.conformance.DiskBytes;
import org.vdmount.vd.conformance.ExternalTools;

/**
 * A stale cBlocksAllocated (a crash between a discard and the next flush leaves it too high; a
 * damaged or foreign writer too low, which makes VirtualBox allocate over a live block): a
 * writable open rewrites it from the block map with a warning, a read-only open only warns.
 */
class VdiRepairTest {
    private static final int MIB = 1 << 20;
    private static final int COUNT_FIELD = 0x184;

    @TempDir
    Path dir;

    @BeforeAll
    static void tools() {
        VdiTestSupport.assumeQemu();
    }

    /** A qemu-made dynamic VDI of 8 MiB blocks of 1 MiB, 4 of them written; returns its bytes. */
    private Path fourBlocks(String name) throws Exception {
        Path p = dir.resolve(name);
        VdiTestSupport.ok("qemu-img", "create", "-f", "vdi", p.toString(), "8M");
        VdiTestSupport.ok("qemu-io", "-f", "vdi", "-c", "write -P 0x11 0 1M", "-c", "write -P 0x22 3M 4096",
                "-c", "write -P 0x33 5M 1M", "-c", "write -P 0x44 7M 512", p.toString());
        VdiTestSupport.qemuCheckClean(p);
        assertEquals(4, Bytes.of(Files.readAllBytes(p)).u32le(COUNT_FIELD));
        return p;
    }

    private static void patchCount(Path p, long count) throws Exception {
        byte[] b = Files.readAllBytes(p);
        Bytes.of(b).put32le(COUNT_FIELD, count);
        Files.write(p, b);
    }

    @ParameterizedTest
    @ValueSource(ints = {7, 2, 0})
    void staleAllocatedCountIsRepairedReadWriteAndOnlyReportedReadOnly(int stale) throws Exception {
        Path p = fourBlocks("stale" + stale + ".vdi");
        byte[] content = VdiTestSupport.qemuRaw(p, dir);
        patchCount(p, stale);
        assertNotEquals(0, ExternalTools.exec(dir, "qemu-img", "check", "-f", "vdi", p.toString()).exit(),
                "qemu-img check sees the stale count");

        // read-only: one warning, the data, and not a byte or timestamp changed
        Files.setLastModifiedTime(p, FileTime.fromMillis(1_000_000_000_000L));
        byte[] before = Files.readAllBytes(p);
        List<String> warnings = new ArrayList<>();
        try (Disk d = Disk.open(p, OpenOptions.defaultReadOnly().withWarnings(warnings::add))) {
            assertArrayEquals(content, DiskBytes.readAll(d));
        }
        assertEquals(1, warnings.size(), warnings.toString());
        String w = warnings.get(0);
        assertTrue(w.contains(p.toString()) && w.contains("counts " + stale) && w.contains("uses 4")
                && w.contains("not repaired"), w);
        assertEquals(stale < 4, w.contains("allocate over live data"), w);
        assertArrayEquals(before, Files.readAllBytes(p), "read-only open wrote");
        assertEquals(1_000_000_000_000L, Files.getLastModifiedTime(p).toMillis(), "read-only open touched mtime");

        // read-write: repaired, named, and clean for qemu
        warnings.clear();
        try (Disk d = Disk.open(p, OpenOptions.defaultReadWrite().withWarnings(warnings::add))) {
            assertArrayEquals(content, DiskBytes.readAll(d));
        }
        assertEquals(1, warnings.size(), warnings.toString());
        assertTrue(warnings.get(0).contains("from " + stale + " to 4"), warnings.get(0));
        assertEquals(4, Bytes.of(Files.readAllBytes(p)).u32le(COUNT_FIELD));
        VdiTestSupport.qemuCheckClean(p);
        assertArrayEquals(content, VdiTestSupport.qemuRaw(p, dir));

        // a block written now goes after the live ones, and the next open has nothing to say
        byte[] fresh = new byte[4096];
        Arrays.fill(fresh, (byte) 0x55);
        warnings.clear();
        try (Disk d = Disk.open(p, OpenOptions.defaultReadWrite().withWarnings(warnings::add))) {
            d.write(MIB, ByteBuffer.wrap(fresh));
        }
        assertTrue(warnings.isEmpty(), warnings.toString());
        System.arraycopy(fresh, 0, content, MIB, fresh.length);
        VdiTestSupport.qemuCheckClean(p);
        assertArrayEquals(content, VdiTestSupport.qemuRaw(p, dir));
    }
    /**
     * {@code vd check -r all} rewrites a stale count (the only finding) from the block map and
     * checks again; {@code -r leaks} changes nothing; two entries naming one block are reported and
     * never "repaired" (which entry holds the data cannot be known).
     */
    @ParameterizedTest
    @ValueSource(ints = {7, 2, 0})
    void checkRepairAllRewritesAStaleCountOnly(int stale) throws Exception {
        org.vdmount.vd.check.ImageChecker checker = org.vdmount.vd.FormatRegistry.require("vdi").checker()
                .orElseThrow();
        Path p = fourBlocks("r" + stale + ".vdi");
        byte[] content = VdiTestSupport.qemuRaw(p, dir);
        patchCount(p, stale);
        byte[] before = Files.readAllBytes(p);
        org.vdmount.vd.check.CheckReport leaks = checker.check(p, org.vdmount.vd.check.Repair.LEAKS);
        assertEquals(2, leaks.exitStatus(), leaks.findings().toString());
        assertArrayEquals(before, Files.readAllBytes(p), "-r leaks wrote");

        org.vdmount.vd.check.CheckReport all = checker.check(p, org.vdmount.vd.check.Repair.ALL);
        assertEquals(0, all.exitStatus(), all.findings().toString());
        assertEquals(1, all.corruptionsFixed());
        assertEquals(4, Bytes.of(Files.readAllBytes(p)).u32le(COUNT_FIELD));
        VdiTestSupport.qemuCheckClean(p);
        assertArrayEquals(content, VdiTestSupport.qemuRaw(p, dir));

        // a block named twice (entry 5 -> the block of entry 0) besides a stale count: left alone
        Path twice = fourBlocks("t" + stale + ".vdi");
        byte[] b = Files.readAllBytes(twice);
        Bytes m = Bytes.of(b);
        long mapAt = m.u32le(0x154);
        m.put32le((int) mapAt + 5 * 4, m.u32le((int) mapAt));
        m.put32le(COUNT_FIELD, stale);
        Files.write(twice, b);
        org.vdmount.vd.check.CheckReport refused = checker.check(twice, org.vdmount.vd.check.Repair.ALL);
        assertEquals(2, refused.exitStatus(), refused.findings().toString());
        assertArrayEquals(b, Files.readAllBytes(twice), "a damaged block map was changed");
    }
}
