package org.vdmount.vd.compact;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;
import org.vdmount.vd.Allocation;
import org.vdmount.vd.Disk;
import org.vdmount.vd.FormatRegistry;
import org.vdmount.vd.Image;
import org.vdmount.vd.OpenOptions;
import org.vdmount.vd.Run;
import org.vdmount.vd.UnsupportedFeatureException;
import org.vdmount.vd.check.CheckReport;
import org.vdmount.vd.check.Repair;
import org.vdmount.vd.conformance.ExternalTools;

/**
 * {@code vd compact} per format: a base image with half its written blocks overwritten with zeros,
 * and a child whose blocks repeat its parent. After compaction the file is smaller by about the
 * freed blocks, reads the same (our reader, and qemu-img compare against a raw copy qemu took
 * before), and qemu-img check and our check find nothing.
 */
class CompactTest {
    static final Map<String, Map<String, String>> OPTIONS = Map.of(
            "vdi", Map.of(),
            "qcow2", Map.of("cluster_size", "64K"),
            "vhd", Map.of("block_size", "512K"),
            "vhdx", Map.of("block_size", "1M", "log_size", "1M"),
            "qed", Map.of("cluster_size", "64K"));
    /** qemu's name for the format, where qemu-img reads it (VDI, VHD, VHDX: base images only). */
    static final Map<String, String> QEMU = Map.of("vdi", "vdi", "qcow2", "qcow2", "vhd", "vpc", "vhdx", "vhdx",
            "qed", "qed");
    /** Formats qemu-img check supports. */
    static final java.util.Set<String> QEMU_CHECKS = java.util.Set.of("vdi", "qcow2", "vhdx", "qed");

    @TempDir
    Path dir;

    @ParameterizedTest
    @ValueSource(strings = {"vdi", "qcow2", "vhd", "vhdx", "qed"})
    void aBaseImageGivesBackItsZeroBlocks(String format) throws Exception {
        ExternalTools.assume("qemu-img");
        Path img = dir.resolve("base." + format);
        int zeroBlocks = CompactFixture.base(img, format, OPTIONS.get(format), 7);
        Path raw = dir.resolve("before.raw");
        ExternalTools.run(null, "qemu-img", "convert", "-f", QEMU.get(format), "-O", "raw", img.toString(),
                raw.toString());
        byte[] before = Files.readAllBytes(raw);
        long bs = allocatedBlocks(img, CompactFixture.WRITTEN);

        long[] progress = {0};
        CompactResult r = Compaction.compact(img, null, OpenOptions.defaultReadOnly(), v -> progress[0] = v);

        assertEquals(zeroBlocks, r.blocksFreed(), r.toString());
        assertEquals(0, r.blocksZeroed(), r.toString());
        assertEquals(Files.size(img), r.fileBytesAfter());
        long gained = r.fileBytesBefore() - r.fileBytesAfter();
        assertTrue(gained >= (zeroBlocks - 1) * bs && gained <= (zeroBlocks + 1) * bs,
                "file shrank by about " + zeroBlocks + " blocks of " + bs + ": " + r);
        assertEquals(before.length, progress[0], "progress reached the virtual size");
        assertReads(before, img);
        ExternalTools.run(null, "qemu-img", "compare", "-q", "-f", "raw", "-F", QEMU.get(format), raw.toString(),
                img.toString());
        if (QEMU_CHECKS.contains(format)) {
            ExternalTools.run(null, "qemu-img", "check", "-q", "-f", QEMU.get(format), img.toString());
        }
        assertClean(img, format);
        allocatedBlocks(img, CompactFixture.WRITTEN - zeroBlocks);

        CompactResult again = Compaction.compact(img, null, OpenOptions.defaultReadOnly(), v -> { });
        assertEquals(0, again.blocksFreed() + again.blocksMoved(), "a second run finds nothing: " + again);
        assertEquals(r.fileBytesAfter(), again.fileBytesAfter());
    }

    @ParameterizedTest
    @ValueSource(strings = {"vdi", "qcow2", "vhd", "vhdx", "qed"})
    void aChildGivesBackBlocksEqualToItsParent(String format) throws Exception {
        Path base = dir.resolve("parent." + format);
        CompactFixture.base(base, format, OPTIONS.get(format), 11);
        Path child = dir.resolve("child." + format);
        CompactFixture.child(child, base, format, OPTIONS.get(format), 12);
        byte[] before = contents(child);
        byte[] parentBefore = contents(base);
        boolean qemuReads = (format.equals("qcow2") || format.equals("qed"))
                && ExternalTools.has("qemu-img"); // qemu opens no VDI child
        Path raw = dir.resolve("child-before.raw");
        if (qemuReads) {
            ExternalTools.run(null, "qemu-img", "convert", "-f", format, "-O", "raw", child.toString(), raw.toString());
            assertEquals(-1, Arrays.mismatch(before, Files.readAllBytes(raw)), "qemu reads the child as we do");
        }
        long bs = allocatedBlocks(child, 10);

        CompactResult r = Compaction.compact(child, null, OpenOptions.defaultReadOnly(), v -> { });

        // blocks 0, 2, 4, 6 repeat the parent; 12 and 14 are zeros over parent data (VHD: no zero state)
        boolean zeroState = !format.equals("vhd");
        assertEquals(4, r.blocksFreed(), r.toString());
        assertEquals(zeroState ? 2 : 0, r.blocksZeroed(), r.toString());
        assertTrue(r.fileBytesBefore() - r.fileBytesAfter() >= (zeroState ? 5 : 4) * bs, r.toString());
        assertReads(before, child);
        assertReads(parentBefore, base);
        assertClean(child, format);
        if (qemuReads) {
            ExternalTools.run(null, "qemu-img", "compare", "-q", "-f", "raw", "-F", format, raw.toString(),
                    child.toString());
            ExternalTools.run(null, "qemu-img", "check", "-q", "-f", format, child.toString());
        }
        try (Disk d = Disk.open(child, OpenOptions.defaultReadOnly())) {
            Image top = d.top();
            for (int b = 0; b < 16; b++) {
                Allocation want = b == 12 || b == 14 ? (zeroState ? Allocation.ZERO : Allocation.DATA)
                        : b >= 8 && b < 12 ? Allocation.DATA : Allocation.UNALLOCATED;
                assertEquals(want, Run.kind(top.map(b * bs, bs)), "block " + b);
            }
        }
    }

    @Test
    void aFormatWithoutACompactorIsRefusedInOneLine() throws Exception {
        // VMDK has no compactor (neither VirtualBox nor qemu compacts it in place)
        Path img = dir.resolve("x.vmdk");
        try (Image i = FormatRegistry.require("vmdk").create(img, org.vdmount.vd.CreateOptions.of(1 << 20))) {
            i.flush();
        }
        UnsupportedFeatureException e = assertThrows(UnsupportedFeatureException.class,
                () -> Compaction.compact(img, null, OpenOptions.defaultReadOnly(), v -> { }));
        assertTrue(e.getMessage().startsWith("compact is not supported by vmdk (") && e.getMessage().contains("x.vmdk"),
                e.getMessage());
    }

    @Test
    void aFixedVdiIsRefused() throws Exception {
        Path img = dir.resolve("f.vdi");
        try (Image i = FormatRegistry.require("vdi").create(img,
                org.vdmount.vd.CreateOptions.of(1 << 20).with("subformat", "fixed"))) {
            i.flush();
        }
        UnsupportedFeatureException e = assertThrows(UnsupportedFeatureException.class,
                () -> Compaction.compact(img, null, OpenOptions.defaultReadOnly(), v -> { }));
        assertTrue(e.getMessage().contains("fixed image"), e.getMessage());
    }

    /**
     * A raw file keeps its size and gives its all-zero host blocks back as holes: written zeros
     * become holes qemu-img map reports as zero, data and a zero run covering no whole aligned host
     * block stay, the bytes read the same, and a second run gives back nothing.
     */
    @Test
    void aRawFileDigsHolesWhereItHoldsZeros() throws Exception {
        Path img = dir.resolve("disk.raw");
        int mib = 1 << 20;
        byte[] content = new byte[4 * mib];
        new java.util.Random(5).nextBytes(content);
        Arrays.fill(content, mib, 2 * mib + 4096 * 3, (byte) 0);             // 1 MiB + 3 host blocks of zeros
        Arrays.fill(content, 3 * mib + 100, 3 * mib + 100 + 4096, (byte) 0); // zeros, but no whole aligned block
        Files.write(img, content);                                            // every byte allocated
        long hostBefore = org.vdmount.vd.nativeio.HostFiles.allocatedBytes(img);
        org.junit.jupiter.api.Assumptions.assumeTrue(hostBefore >= content.length, "the host allocates written zeros");

        CompactResult r = Compaction.compact(img, null, OpenOptions.defaultReadOnly(), v -> { });

        assertEquals(content.length, Files.size(img), "a raw file keeps its size");
        assertEquals(content.length, r.fileBytesAfter());
        assertEquals((mib + 3 * 4096) / 4096, r.blocksFreed(), r.toString());
        assertEquals(hostBefore, r.hostBytesBefore());
        assertEquals(hostBefore - (mib + 3 * 4096), r.hostBytesAfter(), r.toString());
        assertReads(content, img);
        if (ExternalTools.has("qemu-img")) {
            String map = ExternalTools.run(null, "qemu-img", "map", "-f", "raw", "--output=json", img.toString());
            String hole = map.lines().filter(l -> l.contains("\"start\": " + mib + ", \"length\": " + (mib + 3 * 4096)))
                    .findFirst().orElse("");
            assertTrue(hole.contains("\"zero\": true, \"data\": false"), map);
        }
        CompactResult again = Compaction.compact(img, null, OpenOptions.defaultReadOnly(), v -> { });
        assertEquals(0, again.blocksFreed(), again.toString());
        assertReads(content, img);
    }

    /** Asserts the top layer holds {@code n} blocks of data; returns the block size. */
    static long allocatedBlocks(Path img, int n) throws IOException {
        try (Disk d = Disk.open(img, OpenOptions.defaultReadOnly())) {
            long bs = d.top().blockSize();
            long data = 0;
            for (long off = 0; off < d.size(); off += bs) {
                if (Run.kind(d.top().map(off, bs)) == Allocation.DATA) {
                    data++;
                }
            }
            assertEquals(n, data, img + ": blocks of data");
            return bs;
        }
    }

    static byte[] contents(Path img) throws IOException {
        try (Disk d = Disk.open(img, OpenOptions.defaultReadOnly())) {
            ByteBuffer b = ByteBuffer.allocate((int) d.size());
            d.read(0, b);
            return b.array();
        }
    }

    static void assertReads(byte[] expected, Path img) throws IOException {
        byte[] now = contents(img);
        assertEquals(expected.length, now.length);
        int at = Arrays.mismatch(expected, now);
        assertEquals(-1, at, img + " differs at byte " + at);
    }

    /** Our check where the format has one; else a read-write open and close must accept the file. */
    static void assertClean(Path img, String format) throws IOException {
        var checker = FormatRegistry.require(format).checker();
        if (checker.isPresent()) {
            CheckReport c = checker.get().check(img, Repair.NONE);
            assertEquals(0, c.exitStatus(), img + ": " + c);
        } else {
            try (Disk d = Disk.open(img, OpenOptions.defaultReadWrite())) {
                d.flush();
            }
        }
    }
}
