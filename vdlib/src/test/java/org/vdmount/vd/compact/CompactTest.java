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
            "qed", Map.of("cluster_size", "64K"),
            "vmdk", Map.of("zeroed_grain", "on"),
            "parallels", Map.of("cluster_size", "64K"),
            "qcow", Map.of());
    /** qemu's name for the format, where qemu-img reads it (VDI, VHD, VHDX: base images only). */
    static final Map<String, String> QEMU = Map.of("vdi", "vdi", "qcow2", "qcow2", "vhd", "vpc", "vhdx", "vhdx",
            "qed", "qed", "vmdk", "vmdk", "parallels", "parallels", "qcow", "qcow");
    /** Formats qemu-img check supports. */
    static final java.util.Set<String> QEMU_CHECKS = java.util.Set.of("vdi", "qcow2", "vhdx", "qed", "vmdk",
            "parallels");

    @TempDir
    Path dir;

    @ParameterizedTest
    @ValueSource(strings = {"vdi", "qcow2", "vhd", "vhdx", "qed", "vmdk", "parallels", "qcow"})
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

        assertSecondRunFindsNothing(img, r);
    }

    @ParameterizedTest
    @ValueSource(strings = {"vdi", "qcow2", "vhd", "vhdx", "qed", "vmdk", "qcow"})
    void aChildGivesBackBlocksEqualToItsParent(String format) throws Exception {
        Path base = dir.resolve("parent." + format);
        CompactFixture.base(base, format, OPTIONS.get(format), 11);
        Path child = dir.resolve("child." + format);
        CompactFixture.child(child, base, format, OPTIONS.get(format), 12);
        byte[] before = contents(child);
        byte[] parentBefore = contents(base);
        boolean qemuReads = (format.equals("qcow2") || format.equals("qed") || format.equals("vmdk")
                || format.equals("qcow"))
                && ExternalTools.has("qemu-img"); // qemu opens no VDI child
        Path raw = dir.resolve("child-before.raw");
        if (qemuReads) {
            ExternalTools.run(null, "qemu-img", "convert", "-f", format, "-O", "raw", child.toString(), raw.toString());
            assertEquals(-1, Arrays.mismatch(before, Files.readAllBytes(raw)), "qemu reads the child as we do");
        }
        long bs = allocatedBlocks(child, 10);

        CompactResult r = Compaction.compact(child, null, OpenOptions.defaultReadOnly(), v -> { });

        // blocks 0, 2, 4, 6 repeat the parent; 12 and 14 are zeros over parent data (VHD, QCOW v1: no
        // zero state, so they stay data)
        boolean zeroState = !format.equals("vhd") && !format.equals("qcow");
        assertEquals(4, r.blocksFreed(), r.toString());
        assertEquals(zeroState ? 2 : 0, r.blocksZeroed(), r.toString());
        assertTrue(r.fileBytesBefore() - r.fileBytesAfter() >= (zeroState ? 5 : 4) * bs, r.toString());
        assertReads(before, child);
        assertReads(parentBefore, base);
        assertClean(child, format);
        if (qemuReads) {
            ExternalTools.run(null, "qemu-img", "compare", "-q", "-f", "raw", "-F", format, raw.toString(),
                    child.toString());
            if (QEMU_CHECKS.contains(format)) {
                ExternalTools.run(null, "qemu-img", "check", "-q", "-f", format, child.toString());
            }
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
        // a LUKS container maps every guest byte to a fixed place: nothing is sparse, nothing to compact
        Path img = dir.resolve("x.luks");
        org.vdmount.vd.CreateOptions co = org.vdmount.vd.CreateOptions.of(1 << 20).with("iter-time", "10")
                .withSecrets(org.vdmount.vd.conformance.Kit.SECRET);
        try (Image i = FormatRegistry.require("luks").create(img, co)) {
            i.flush();
        }
        byte[] before = Files.readAllBytes(img);
        UnsupportedFeatureException e = assertThrows(UnsupportedFeatureException.class,
                () -> Compaction.compact(img, null, OpenOptions.defaultReadOnly(), v -> { }));
        assertTrue(e.getMessage().startsWith("compact is not supported by luks (") && e.getMessage().contains("x.luks")
                && !e.getMessage().contains("\n"), e.getMessage());
        assertEquals(-1, Arrays.mismatch(before, Files.readAllBytes(img)), "the file is untouched");
    }

    /**
     * A QCOW version 1 image qemu-io wrote with compressed clusters (qemu puts each at a sector of
     * its own, after the L2 table): compressed zeros are freed, the compressed data packs into the
     * byte gap after the L1 table, the plain data cluster moves down into the cluster they left, and
     * the file ends after the header cluster, the L2 table and the data cluster. qemu reads it the same.
     */
    @Test
    void aQemuMadeQcowPacksItsCompressedClusters() throws Exception {
        ExternalTools.assume("qemu-img", "qemu-io");
        Path img = dir.resolve("c.qcow");
        ExternalTools.run(null, "qemu-img", "create", "-q", "-f", "qcow", img.toString(), "1M");
        java.util.List<String> cmd = new java.util.ArrayList<>(java.util.List.of("qemu-io", "-f", "qcow"));
        for (String c : new String[] {"write -c -P 7 0 4k", "write -c -P 0 4k 4k", "write -P 9 64k 4k",
            "write -c -P 5 8k 4k", "write -c -P 0 12k 4k", "write -c -P 0 16k 4k", "write -c -P 3 20k 4k"}) {
            cmd.add("-c");
            cmd.add(c);
        }
        cmd.add(img.toString());
        ExternalTools.run(null, cmd.toArray(new String[0]));
        Path raw = dir.resolve("c.raw");
        ExternalTools.run(null, "qemu-img", "convert", "-f", "qcow", "-O", "raw", img.toString(), raw.toString());
        byte[] before = Files.readAllBytes(raw);
        assertReads(before, img);

        CompactResult r = Compaction.compact(img, null, OpenOptions.defaultReadOnly(), v -> { });

        assertEquals(3, r.blocksFreed(), r.toString());
        assertEquals(0, r.blocksZeroed(), r.toString());
        // first pass: the three compressed clusters; the data cluster only once the lowest has left
        // the cluster below it; the L2 table is in place already
        assertEquals(4, r.blocksMoved(), "three compressed clusters and the data cluster: " + r);
        assertEquals(3 * 4096, r.fileBytesAfter(), r.toString());
        assertEquals(3 * 4096, Files.size(img));
        ExternalTools.run(null, "qemu-img", "compare", "-q", "-f", "raw", "-F", "qcow", raw.toString(),
                img.toString());
        assertSameAsRaw(raw, img);
        assertReads(before, img);
        assertClean(img, "qcow");
        try (Disk d = Disk.open(img, OpenOptions.defaultReadOnly())) {
            for (int b : new int[] {1, 3, 4}) {
                assertEquals(Allocation.UNALLOCATED, Run.kind(d.top().map(b * 4096L, 4096)), "block " + b);
            }
            for (int b : new int[] {0, 2, 5, 16}) {
                assertEquals(Allocation.DATA, Run.kind(d.top().map(b * 4096L, 4096)), "block " + b);
            }
        }
        assertSecondRunFindsNothing(img, r);
        // qemu writes over the packed clusters and the image stays readable by both
        ExternalTools.run(null, "qemu-io", "-f", "qcow", "-c", "write -P 1 2k 4k", "-c", "write -c -P 2 28k 4k",
                img.toString());
        ExternalTools.run(null, "qemu-img", "convert", "-f", "qcow", "-O", "raw", img.toString(), raw.toString());
        assertSameAsRaw(raw, img);
    }

    /**
     * A QCOW version 1 child with compressed clusters, assembled here (qemu refuses compressed
     * writes to an image with a backing file) over a qemu-made parent whose first 64 KiB hold 7s:
     * the compressed copy of the parent's block 0 and compressed zeros over unwritten parent space
     * (block 32) are freed; compressed zeros over parent data (block 1) must stay (no zero entry in
     * version 1), and so does new data (block 33 compressed, block 2 plain). The kept compressed
     * clusters move into the byte gap after the L1 table; qemu reads the result as before.
     */
    @Test
    void aQcowChildFreesCompressedClustersEqualToItsParent() throws Exception {
        ExternalTools.assume("qemu-img", "qemu-io");
        Path base = dir.resolve("base.qcow");
        ExternalTools.run(null, "qemu-img", "create", "-q", "-f", "qcow", base.toString(), "1M");
        ExternalTools.run(null, "qemu-io", "-f", "qcow", "-c", "write -P 7 0 64k", base.toString());
        Path child = dir.resolve("child.qcow");
        Files.write(child, qcowChild("base.qcow", new int[] {0, 1, 32, 33}, new int[] {7, 0, 0, 5}, 2, 6));
        Path raw = dir.resolve("child.raw");
        ExternalTools.run(null, "qemu-img", "convert", "-f", "qcow", "-O", "raw", child.toString(), raw.toString());
        assertSameAsRaw(raw, child);
        long baseBefore = Files.size(base);

        CompactResult r = Compaction.compact(child, null, OpenOptions.defaultReadOnly(), v -> { });

        assertEquals(2, r.blocksFreed(), r.toString());
        assertEquals(0, r.blocksZeroed(), r.toString());
        assertEquals(2, r.blocksMoved(), "the two compressed clusters kept: " + r);
        assertEquals(3 * 4096, r.fileBytesAfter(), "header cluster, L2 table, data cluster: " + r);
        assertEquals(baseBefore, Files.size(base), "the parent is only read");
        ExternalTools.run(null, "qemu-img", "compare", "-q", "-f", "raw", "-F", "qcow", raw.toString(),
                child.toString());
        assertSameAsRaw(raw, child);
        try (Disk d = Disk.open(child, OpenOptions.defaultReadOnly())) {
            for (int b : new int[] {0, 32}) {
                assertEquals(Allocation.UNALLOCATED, Run.kind(d.top().map(b * 4096L, 4096)), "block " + b);
            }
            for (int b : new int[] {1, 2, 33}) {
                assertEquals(Allocation.DATA, Run.kind(d.top().map(b * 4096L, 4096)), "block " + b);
            }
        }
    }

    /**
     * A 1 MiB QCOW version 1 image over {@code backing} (QEMU block/qcow.c layout: 48-byte header,
     * the name after it, the L1 table 8-aligned after that, 4 KiB clusters, 512-entry L2 tables):
     * the L2 table at 4096, one plain cluster of {@code plainPattern} bytes for block
     * {@code plainBlock} at 8192, and from 12288 on, back to back, raw-deflate compressed clusters
     * filled with {@code patterns} for {@code blocks} (entry: bit 63, the byte size in the 12 bits
     * below it, the byte offset).
     */
    private static byte[] qcowChild(String backing, int[] blocks, int[] patterns, int plainBlock, int plainPattern) {
        byte[] name = backing.getBytes(java.nio.charset.StandardCharsets.UTF_8);
        long l1At = (48 + name.length + 7) & ~7L;
        java.io.ByteArrayOutputStream packed = new java.io.ByteArrayOutputStream();
        long[] entries = new long[blocks.length];
        for (int i = 0; i < blocks.length; i++) {
            byte[] cluster = new byte[4096];
            Arrays.fill(cluster, (byte) patterns[i]);
            java.util.zip.Deflater z = new java.util.zip.Deflater(9, true);
            z.setInput(cluster);
            z.finish();
            byte[] out = new byte[4096];
            int n = z.deflate(out);
            z.end();
            entries[i] = 1L << 63 | (long) n << (63 - 12) | (12288 + packed.size());
            packed.write(out, 0, n);
        }
        org.vdmount.vd.Bytes f = org.vdmount.vd.Bytes.allocate(12288 + packed.size());
        f.put32be(0, 0x514649fb).put32be(4, 1).put64be(8, 48).put32be(16, name.length).put64be(24, 1 << 20)
                .put8(32, 12).put8(33, 9).put64be(40, l1At).putBytes(48, name);
        f.put64be((int) l1At, 4096);
        for (int i = 0; i < blocks.length; i++) {
            f.put64be(4096 + 8 * blocks[i], entries[i]);
        }
        f.put64be(4096 + 8 * plainBlock, 8192);
        byte[] plain = new byte[4096];
        Arrays.fill(plain, (byte) plainPattern);
        f.putBytes(8192, plain).putBytes(12288, packed.toByteArray());
        byte[] all = new byte[f.size()];
        f.buffer().duplicate().clear().get(all);
        return all;
    }

    /**
     * VMDKs qemu-img made (no zeroed-grain flag), split in 2 GiB extent files or not: in every
     * extent 1 MiB of data, 2 MiB of written zeros, 1 MiB of data. The 64 KiB grains of zeros are
     * freed, the data grains behind them move down, each extent file is cut.
     */
    @ParameterizedTest
    @ValueSource(strings = {"monolithicSparse", "twoGbMaxExtentSparse"})
    void aQemuMadeVmdkGivesBackItsZeroGrains(String subformat) throws Exception {
        ExternalTools.assume("qemu-img", "qemu-io");
        boolean split = subformat.startsWith("twoGb");
        Path img = dir.resolve("q.vmdk");
        ExternalTools.run(null, "qemu-img", "create", "-q", "-f", "vmdk", "-o", "subformat=" + subformat,
                img.toString(), split ? "3G" : "64M");
        long[] regions = split ? new long[] {0, 2100L << 20, 3000L << 20} : new long[] {0, 40L << 20};
        for (long at : regions) {
            qemuIo(img, "write -P 7 " + at + " 1M", "write -P 0 " + (at + (1 << 20)) + " 2M",
                    "write -P 9 " + (at + (3 << 20)) + " 1M");
        }
        Path raw = dir.resolve("q.raw");
        ExternalTools.run(null, "qemu-img", "convert", "-f", "vmdk", "-O", "raw", img.toString(), raw.toString());
        int zeroGrains = regions.length * 32;

        CompactResult r = Compaction.compact(img, null, OpenOptions.defaultReadOnly(), v -> { });

        assertEquals(zeroGrains, r.blocksFreed(), r.toString());
        // per extent file, the data behind its first hole fills the holes from the top down: one
        // region: its last MiB; two regions: the second one's two MiB, and the first's last MiB stays
        assertEquals(split ? 48 : 32, r.blocksMoved(), r.toString());
        assertEquals(64 << 10, r.blockSizeBytes());
        assertEquals(zeroGrains * (64L << 10), r.fileBytesBefore() - r.fileBytesAfter(), r.toString());
        ExternalTools.run(null, "qemu-img", "compare", "-q", "-f", "raw", "-F", "vmdk", raw.toString(), img.toString());
        ExternalTools.run(null, "qemu-img", "check", "-q", "-f", "vmdk", img.toString());
        assertSameAsRaw(raw, img);
        assertClean(img, "vmdk");
        assertSecondRunFindsNothing(img, r);
    }

    /**
     * A child qemu-img made over a qemu-made parent (no zeroed-grain flag): grains that repeat the
     * parent (its data, its zeros) are freed; zeros over parent data must stay (entry 0 would show
     * the parent, and entry 1 is not allowed without the flag); new data stays.
     */
    @Test
    void aQemuMadeVmdkChildGivesBackGrainsEqualToItsParent() throws Exception {
        ExternalTools.assume("qemu-img", "qemu-io");
        Path base = dir.resolve("base.vmdk");
        ExternalTools.run(null, "qemu-img", "create", "-q", "-f", "vmdk", base.toString(), "16M");
        qemuIo(base, "write -P 7 0 1M", "write -P 0 1M 2M", "write -P 9 3M 1M");
        Path child = dir.resolve("child.vmdk");
        ExternalTools.run(dir, "qemu-img", "create", "-q", "-f", "vmdk", "-b", "base.vmdk", "-F", "vmdk",
                child.toString());
        qemuIo(child, "write -P 7 0 1M", "write -P 0 1M 64K", "write -P 0 3M 64K", "write -P 5 5M 64K");
        Path raw = dir.resolve("child.raw");
        ExternalTools.run(null, "qemu-img", "convert", "-f", "vmdk", "-O", "raw", child.toString(), raw.toString());
        long baseBefore = Files.size(base);

        CompactResult r = Compaction.compact(child, null, OpenOptions.defaultReadOnly(), v -> { });

        assertEquals(17, r.blocksFreed(), r.toString());
        assertEquals(0, r.blocksZeroed(), r.toString());
        assertEquals(2, r.blocksMoved(), r.toString());
        assertEquals(17 * (64L << 10), r.fileBytesBefore() - r.fileBytesAfter(), r.toString());
        assertEquals(baseBefore, Files.size(base), "the parent is only read");
        ExternalTools.run(null, "qemu-img", "compare", "-q", "-f", "raw", "-F", "vmdk", raw.toString(),
                child.toString());
        ExternalTools.run(null, "qemu-img", "check", "-q", "-f", "vmdk", child.toString());
        assertSameAsRaw(raw, child);
        assertClean(child, "vmdk");
        try (Disk d = Disk.open(child, OpenOptions.defaultReadOnly())) {
            assertEquals(Allocation.UNALLOCATED, Run.kind(d.top().map(0, 64 << 10)));
            assertEquals(Allocation.DATA, Run.kind(d.top().map(3 << 20, 64 << 10)), "zeros over parent data stay");
            assertEquals(Allocation.DATA, Run.kind(d.top().map(5 << 20, 64 << 10)));
        }
    }

    /** What has no grains to free, or grains that cannot move, is refused in one line, the file untouched. */
    @ParameterizedTest
    @ValueSource(strings = {"streamOptimized", "monolithicFlat"})
    void vmdkSubformatsWithoutMovableGrainsAreRefused(String subformat) throws Exception {
        ExternalTools.assume("qemu-img", "qemu-io");
        Path img = dir.resolve("s.vmdk");
        ExternalTools.run(null, "qemu-img", "create", "-q", "-f", "vmdk", "-o", "subformat=" + subformat,
                img.toString(), "8M");
        qemuIo(img, "write -P 0 0 1M");
        byte[] before = Files.readAllBytes(img);
        UnsupportedFeatureException e = assertThrows(UnsupportedFeatureException.class,
                () -> Compaction.compact(img, null, OpenOptions.defaultReadOnly(), v -> { }));
        String want = subformat.equals("streamOptimized")
                ? "compact is not supported by vmdk for " + img + ": it is streamOptimized"
                : "vmdk: nothing to compact in " + img + ": its extents are FLAT";
        assertTrue(e.getMessage().startsWith(want) && !e.getMessage().contains("\n"), e.getMessage());
        assertEquals(-1, Arrays.mismatch(before, Files.readAllBytes(img)), "the file is untouched");
    }

    /**
     * A Parallels snapshot in a bundle (the format's only differencing image): clusters that repeat
     * the snapshot below are freed; zeros over parent data stay (parallels.txt has no zero marker,
     * entry 0 would show the parent); new data stays. The parent's file is only read.
     */
    @Test
    void aParallelsSnapshotGivesBackClustersEqualToItsParent() throws Exception {
        Path bundle = dir.resolve("p.hdd");
        CompactFixture.base(bundle, "parallels", Map.of(), 11); // the snapshot takes its bundle's cluster size
        Path child = bundle.resolve("p.hdd.1.snap.hds");
        CompactFixture.child(child, bundle, "parallels", Map.of(), 12);
        byte[] before = contents(child);
        byte[] parentBefore = contents(bundle);
        long bs = allocatedBlocks(child, 10);
        Path root = null;
        try (var files = Files.list(bundle)) {
            root = files.filter(f -> f.toString().endsWith(".hds") && !f.equals(child)).findFirst().orElseThrow();
        }
        byte[] rootBefore = Files.readAllBytes(root);

        long[] progress = {0};
        CompactResult r = Compaction.compact(child, null, OpenOptions.defaultReadOnly(), v -> progress[0] = v);

        assertEquals(4, r.blocksFreed(), r.toString());
        assertEquals(0, r.blocksZeroed(), r.toString());
        assertEquals(4, r.blocksMoved(), r.toString()); // 8, 9, 10, 11 at the back fill the holes of 0, 2, 4, 6
        assertEquals(4 * bs, r.fileBytesBefore() - r.fileBytesAfter(), r.toString());
        assertEquals(before.length, progress[0]);
        assertReads(before, child);
        assertReads(parentBefore, bundle);
        assertEquals(-1, Arrays.mismatch(rootBefore, Files.readAllBytes(root)), "the parent is only read");
        assertClean(child, "parallels");
        try (Disk d = Disk.open(child, OpenOptions.defaultReadOnly())) {
            for (int b = 0; b < 16; b++) {
                Allocation want = b >= 8 && b < 13 || b == 14 ? Allocation.DATA : Allocation.UNALLOCATED;
                assertEquals(want, Run.kind(d.top().map(b * bs, bs)), "block " + b);
            }
        }
        assertSecondRunFindsNothing(child, r);
    }

    /**
     * An image qemu-img made and qemu-io wrote (1 MiB clusters): 4 MiB of data, 8 MiB of written
     * zeros, 4 MiB of data. The zero clusters go, the last data clusters move into their places,
     * qemu-img check finds the result clean and qemu-img compare finds it unchanged.
     */
    @Test
    void aQemuMadeParallelsImageGivesBackItsZeroClusters() throws Exception {
        ExternalTools.assume("qemu-img", "qemu-io");
        Path img = dir.resolve("q.hds");
        ExternalTools.run(null, "qemu-img", "create", "-q", "-f", "parallels", img.toString(), "64M");
        qemuIo("parallels", img, "write -P 7 0 4M", "write -P 0 4M 8M", "write -P 9 12M 4M");
        Path raw = dir.resolve("q.raw");
        ExternalTools.run(null, "qemu-img", "convert", "-f", "parallels", "-O", "raw", img.toString(), raw.toString());

        CompactResult r = Compaction.compact(img, null, OpenOptions.defaultReadOnly(), v -> { });

        assertEquals(8, r.blocksFreed(), r.toString());
        assertEquals(4, r.blocksMoved(), r.toString());
        assertEquals(1 << 20, r.blockSizeBytes());
        assertEquals(8L << 20, r.fileBytesBefore() - r.fileBytesAfter(), r.toString());
        ExternalTools.run(null, "qemu-img", "compare", "-q", "-f", "raw", "-F", "parallels", raw.toString(),
                img.toString());
        ExternalTools.run(null, "qemu-img", "check", "-q", "-f", "parallels", img.toString());
        assertSameAsRaw(raw, img);
        assertClean(img, "parallels");
    }

    /**
     * The older "WithoutFreeSpace" magic counts BAT entries in sectors, not clusters
     * (parallels.txt "BAT"): a qemu-made image rewritten to it compacts the same, entries stored
     * in sectors, and qemu-img reads and checks the result.
     */
    @Test
    void anOldMagicParallelsImageStoresItsMovedEntriesInSectors() throws Exception {
        ExternalTools.assume("qemu-img", "qemu-io");
        Path img = dir.resolve("old.hds");
        ExternalTools.run(null, "qemu-img", "create", "-q", "-f", "parallels", "-o", "cluster_size=64k",
                img.toString(), "1M");
        qemuIo("parallels", img, "write -P 0 0 64k", "write -P 3 64k 64k", "write -P 0 128k 64k",
                "write -P 4 192k 64k");
        try (var ch = java.nio.channels.FileChannel.open(img, java.nio.file.StandardOpenOption.READ,
                java.nio.file.StandardOpenOption.WRITE)) {
            ByteBuffer bat = ByteBuffer.allocate(4 * 16).order(java.nio.ByteOrder.LITTLE_ENDIAN);
            ch.read(bat, 64);
            for (int i = 0; i < 16; i++) {
                bat.putInt(4 * i, bat.getInt(4 * i) * 128); // clusters of 64 KiB -> sectors
            }
            ch.write(bat.flip(), 64);
            ch.write(ByteBuffer.wrap("WithoutFreeSpace".getBytes(java.nio.charset.StandardCharsets.US_ASCII)), 0);
        }
        Path raw = dir.resolve("old.raw");
        ExternalTools.run(null, "qemu-img", "convert", "-f", "parallels", "-O", "raw", img.toString(), raw.toString());

        CompactResult r = Compaction.compact(img, null, OpenOptions.defaultReadOnly(), v -> { });

        assertEquals(2, r.blocksFreed(), r.toString());
        assertEquals(1, r.blocksMoved(), r.toString()); // the cluster of 192k into the first hole
        assertEquals(2 * (64L << 10), r.fileBytesBefore() - r.fileBytesAfter(), r.toString());
        try (var ch = java.nio.channels.FileChannel.open(img)) {
            ByteBuffer e = ByteBuffer.allocate(4 * 4).order(java.nio.ByteOrder.LITTLE_ENDIAN);
            ch.read(e, 64);
            long dataOff = 65536; // qemu: the BAT rounded up to a cluster
            assertEquals(0, e.getInt(0));
            assertEquals((dataOff + 65536) / 512, e.getInt(4), "entry 1 stays, in sectors");
            assertEquals(0, e.getInt(8));
            assertEquals(dataOff / 512, e.getInt(12), "entry 3 moved to the first cluster, in sectors");
        }
        ExternalTools.run(null, "qemu-img", "compare", "-q", "-f", "raw", "-F", "parallels", raw.toString(),
                img.toString());
        ExternalTools.run(null, "qemu-img", "check", "-q", "-f", "parallels", img.toString());
        assertClean(img, "parallels");
    }

    /** A bundle whose image file is plain (raw) has no table to free clusters from: refused, untouched. */
    @Test
    void aPlainParallelsBundleIsRefused() throws Exception {
        Path bundle = dir.resolve("plain.hdd");
        try (Image i = FormatRegistry.require("parallels").create(bundle,
                org.vdmount.vd.CreateOptions.of(1 << 20).with("subformat", "plain"))) {
            i.flush();
        }
        UnsupportedFeatureException e = assertThrows(UnsupportedFeatureException.class,
                () -> Compaction.compact(bundle, null, OpenOptions.defaultReadOnly(), v -> { }));
        assertTrue(e.getMessage().contains("is a plain image file; compact frees clusters of expanding image files"),
                e.getMessage());
    }

    /**
     * An L1 table qemu-img resize grew (qemu moves it to the end of the file) behind holes of
     * written zeros, data written after it: the data and then the table move into the holes, and
     * the file ends where qemu-img convert's copy ends.
     */
    @Test
    void aQcow2WhoseL1TableLiesLastGetsItMovedDown() throws Exception {
        ExternalTools.assume("qemu-img", "qemu-io");
        Path img = dir.resolve("l1.qcow2");
        ExternalTools.run(null, "qemu-img", "create", "-q", "-f", "qcow2", "-o", "cluster_size=64K", img.toString(),
                "64M");
        qemuIo("qcow2", img, "write -P 7 0 4M", "write -P 0 1M 2M");
        ExternalTools.run(null, "qemu-img", "resize", "-q", img.toString(), "1G");
        long l1Before = l1TableOffset(img);
        assertTrue(l1Before > 4L << 20, "qemu-img resize put the grown L1 table last: 0x" + Long.toHexString(l1Before));
        qemuIo("qcow2", img, "write -P 9 700M 128K");
        Path converted = converted(img, false);

        CompactResult r = compactQcow2(img, Map.of());

        assertTrue(l1TableOffset(img) < l1Before, "the L1 table moved down: " + r);
        assertEquals(32, r.blocksFreed(), r.toString());
        System.out.printf("qcow2 L1 last: %d -> %d bytes; qemu-img convert: %d%n", r.fileBytesBefore(),
                r.fileBytesAfter(), Files.size(converted));
        assertTrue(Files.size(img) <= Files.size(converted), "as small as qemu-img convert's copy ("
                + Files.size(converted) + "): " + r);
    }

    /**
     * qemu-img convert -c output (compressed clusters several to a host cluster, all-zero
     * clusters stored compressed too): compressed zeros are freed, zeros qemu wrote over others
     * (write -z: zero flag; write -P 0: a plain cluster of zeros) give their clusters back, and
     * the remaining compressed clusters are packed toward the front.
     */
    @Test
    void aCompressedQcow2GivesBackZeroClustersAndPacksTheRest() throws Exception {
        ExternalTools.assume("qemu-img", "qemu-io");
        int cs = 64 << 10;
        byte[] content = new byte[64 * cs];
        java.util.Random rnd = new java.util.Random(3);
        for (int c = 0; c < 64; c++) {
            if (c % 4 != 3) { // every fourth cluster stays zero
                byte[] part = new byte[cs / 4];
                rnd.nextBytes(part);
                System.arraycopy(part, 0, content, c * cs, part.length);
                Arrays.fill(content, c * cs + part.length, (c + 1) * cs, (byte) c);
            }
        }
        Path raw = dir.resolve("src.raw");
        Files.write(raw, content);
        Path img = dir.resolve("c.qcow2");
        ExternalTools.run(null, "qemu-img", "convert", "-q", "-c", "-S", "0", "-f", "raw", "-O", "qcow2", "-o",
                "cluster_size=64K", raw.toString(), img.toString());
        // clusters 0-7 zeroed by the zero flag, 8-15 by written zeros: 16 + the 16 compressed zeros
        qemuIo("qcow2", img, "write -z 0 512K", "write -P 0 512K 512K");
        Path converted = converted(img, true);

        CompactResult r = compactQcow2(img, Map.of());

        assertTrue(r.blocksFreed() >= 8 + 12, r.toString());
        assertTrue(r.blocksMoved() > 0, "compressed clusters moved: " + r);
        System.out.printf("qcow2 compressed: %d -> %d bytes; qemu-img convert -c: %d%n", r.fileBytesBefore(),
                r.fileBytesAfter(), Files.size(converted));
        assertTrue(Files.size(img) <= Files.size(converted) + 8L * cs, "near qemu-img convert -c's copy ("
                + Files.size(converted) + "): " + r);
        try (Disk d = Disk.open(img, OpenOptions.defaultReadOnly())) {
            assertEquals(Allocation.DATA, Run.kind(d.top().map(20L * cs, cs)), "compressed clusters stay");
        }
    }

    /**
     * Internal snapshots after a discard left holes at the front: qemu-img snapshot -c fills
     * holes first, so the second snapshot is taken by vd snapshot, which puts its L1 copy and the
     * new table past the end. Compaction moves them into the holes; every snapshot reads as
     * before (qemu-img convert -l), and qemu-img check finds nothing.
     */
    @Test
    void aQcow2SnapshotTableLyingLastMovesDown() throws Exception {
        ExternalTools.assume("qemu-img", "qemu-io");
        Path img = dir.resolve("s.qcow2");
        ExternalTools.run(null, "qemu-img", "create", "-q", "-f", "qcow2", "-o", "cluster_size=64K", img.toString(),
                "16M");
        qemuIo("qcow2", img, "write -P 7 0 4M", "write -P 5 4M 2M", "discard 0 3M");
        ExternalTools.run(null, "qemu-img", "snapshot", "-c", "s1", img.toString());
        qemuIo("qcow2", img, "write -P 3 8M 1M");
        org.vdmount.vd.ImageSnapshots.change(img, null, org.vdmount.vd.ImageSnapshots.Op.CREATE, "s2",
                OpenOptions.defaultReadOnly());
        long tableBefore = snapshotsOffset(img);
        assertTrue(tableBefore >= Files.size(img) - (128 << 10), "the snapshot table lies last: 0x"
                + Long.toHexString(tableBefore) + " of " + Files.size(img));
        Map<String, byte[]> snaps = new java.util.HashMap<>();
        for (String s : new String[] {"s1", "s2"}) {
            snaps.put(s, snapshotRaw(img, s));
        }

        CompactResult r = compactQcow2(img, Map.of());

        assertTrue(snapshotsOffset(img) < tableBefore, "the snapshot table moved down: " + r);
        assertTrue(r.fileBytesAfter() < r.fileBytesBefore(), r.toString());
        for (var e : snaps.entrySet()) {
            int at = Arrays.mismatch(e.getValue(), snapshotRaw(img, e.getKey()));
            assertEquals(-1, at, "snapshot " + e.getKey() + " differs at byte " + at);
        }
        System.out.printf("qcow2 snapshots: %d -> %d bytes; qemu-img convert (no snapshots): %d%n",
                r.fileBytesBefore(), r.fileBytesAfter(), Files.size(converted(img, false)));
    }

    /**
     * Compacts qcow2 {@code img}: before, qemu's raw copy; after, qemu-img compare against it, our
     * reader, qemu-img check and ours clean, and a second run that finds nothing.
     */
    private CompactResult compactQcow2(Path img, Map<String, String> unused) throws IOException {
        Path raw = dir.resolve(img.getFileName() + ".before.raw");
        ExternalTools.run(null, "qemu-img", "convert", "-f", "qcow2", "-O", "raw", img.toString(), raw.toString());
        long t0 = System.nanoTime();
        CompactResult r = Compaction.compact(img, null, OpenOptions.defaultReadOnly(), v -> { });
        System.out.printf("%s: vd compact %.1f ms%n", img.getFileName(), (System.nanoTime() - t0) / 1e6);
        assertEquals(Files.size(img), r.fileBytesAfter());
        ExternalTools.run(null, "qemu-img", "check", "-q", "-f", "qcow2", img.toString());
        ExternalTools.run(null, "qemu-img", "compare", "-q", "-f", "raw", "-F", "qcow2", raw.toString(),
                img.toString());
        assertSameAsRaw(raw, img);
        assertClean(img, "qcow2");
        CompactResult again = Compaction.compact(img, null, OpenOptions.defaultReadOnly(), v -> { });
        assertEquals(0, again.blocksFreed() + again.blocksMoved(), "a second run finds nothing: " + again);
        assertEquals(r.fileBytesAfter(), again.fileBytesAfter());
        return r;
    }

    /** qemu-img convert's copy of {@code img} (compressed with {@code compress}). */
    private Path converted(Path img, boolean compress) throws IOException {
        Path out = dir.resolve(img.getFileName() + (compress ? ".convert-c.qcow2" : ".convert.qcow2"));
        java.util.List<String> cmd = new java.util.ArrayList<>(java.util.List.of("qemu-img", "convert", "-q", "-f",
                "qcow2", "-O", "qcow2", "-o", "cluster_size=64K"));
        if (compress) {
            cmd.add("-c");
        }
        cmd.add(img.toString());
        cmd.add(out.toString());
        long t0 = System.nanoTime();
        ExternalTools.run(null, cmd.toArray(new String[0]));
        System.out.printf("%s: qemu-img convert%s %.1f ms%n", img.getFileName(), compress ? " -c" : "",
                (System.nanoTime() - t0) / 1e6);
        return out;
    }

    /** Snapshot {@code name} of {@code img} as qemu reads it (qemu-img convert -l). */
    private byte[] snapshotRaw(Path img, String name) throws IOException {
        Path out = dir.resolve(img.getFileName() + "." + name + ".raw");
        Files.deleteIfExists(out);
        ExternalTools.run(null, "qemu-img", "convert", "-f", "qcow2", "-l", "snapshot.name=" + name, "-O", "raw",
                img.toString(), out.toString());
        return Files.readAllBytes(out);
    }

    /** qcow2.txt "Header": l1_table_offset at 0x28. */
    private static long l1TableOffset(Path img) throws IOException {
        return headerU64(img, 0x28);
    }

    /** qcow2.txt "Header": snapshots_offset at 0x40. */
    private static long snapshotsOffset(Path img) throws IOException {
        return headerU64(img, 0x40);
    }

    private static long headerU64(Path img, int at) throws IOException {
        try (var ch = java.nio.channels.FileChannel.open(img)) {
            ByteBuffer b = ByteBuffer.allocate(8);
            ch.read(b, at);
            return b.flip().getLong(); // big-endian, as qcow2 stores it
        }
    }

    private static void qemuIo(Path img, String... commands) throws IOException {
        qemuIo("vmdk", img, commands);
    }

    private static void qemuIo(String format, Path img, String... commands) throws IOException {
        java.util.List<String> cmd = new java.util.ArrayList<>(java.util.List.of("qemu-io", "-f", format));
        for (String c : commands) {
            cmd.add("-c");
            cmd.add(c);
        }
        cmd.add(img.toString());
        ExternalTools.run(null, cmd.toArray(new String[0]));
    }

    /** Our reader shows what the raw copy holds (compared chunk by chunk, ranges both leave out skipped). */
    private static void assertSameAsRaw(Path raw, Path img) throws IOException {
        try (Disk a = Disk.open(raw, FormatRegistry.require("raw"), OpenOptions.defaultReadOnly());
             Disk b = Disk.open(img, OpenOptions.defaultReadOnly())) {
            var c = org.vdmount.vd.inspect.ContentCompare.compare(a, b, false);
            assertEquals(org.vdmount.vd.inspect.ContentCompare.Verdict.IDENTICAL, c.verdict(), img + ": " + c);
        }
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

    /** Compacting {@code img} again frees and moves nothing and leaves the file as the first run did. */
    private static void assertSecondRunFindsNothing(Path img, CompactResult first) throws java.io.IOException {
        CompactResult again = Compaction.compact(img, null, OpenOptions.defaultReadOnly(), v -> { });
        assertEquals(0, again.blocksFreed() + again.blocksMoved(), "a second run finds nothing: " + again);
        assertEquals(first.fileBytesAfter(), again.fileBytesAfter());
    }
}
