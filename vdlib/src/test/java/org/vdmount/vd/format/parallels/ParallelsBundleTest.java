package org.vdmount.vd.format.parallels;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.vdmount.vd.format.qcow2.QemuTools.assertClean;
import static org.vdmount.vd.format.qcow2.QemuTools.img;
import static org.vdmount.vd.format.qcow2.QemuTools.io;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import java.util.UUID;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.vdmount.vd.Bytes;
import org.vdmount.vd.Disk;
import org.vdmount.vd.FormatRegistry;
import org.vdmount.vd.OpenOptions;
import org.vdmount.vd.VdException;
import org.vdmount.vd.conformance.ModelRun;
import org.vdmount.vd.format.qcow2.QemuTools;

/**
 * Parallels bundles: qemu-made image files under hand-written descriptors (as prl-xml.txt lays
 * them out) read as the chain the descriptor describes; writes land in the top snapshot only.
 */
class ParallelsBundleTest {
    private static final int SIZE = 4 << 20;
    private static final int CLUSTER = 65536;
    private static final UUID BASE = UUID.fromString("11111111-2222-3333-4444-555555555555");
    private static final UUID SNAP = UUID.fromString("aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee");

    @TempDir
    Path dir;

    Path bundle;

    @BeforeEach
    void setUp() throws IOException {
        QemuTools.assumeQemu();
        bundle = Files.createDirectories(dir.resolve("disk.hdd"));
    }

    /** A descriptor as Parallels Desktop writes it; storages as {start, end, "guid file type;..."} sectors. */
    static String descriptor(long diskSectors, List<String[]> storages, UUID top, List<UUID[]> shots) {
        StringBuilder b = new StringBuilder("<?xml version='1.0' encoding='UTF-8'?>\n<Parallels_disk_image Version=\"1.0\">\n"
                + "    <Disk_Parameters>\n        <Disk_size>" + diskSectors + "</Disk_size>\n"
                + "        <Cylinders>" + diskSectors / 512 + "</Cylinders>\n        <PhysicalSectorSize>512</PhysicalSectorSize>\n"
                + "        <LogicSectorSize>512</LogicSectorSize>\n        <Heads>16</Heads>\n        <Sectors>32</Sectors>\n"
                + "        <Padding>0</Padding>\n        <Encryption>\n            <Engine>{00000000-0000-0000-0000-000000000000}</Engine>\n"
                + "            <Data></Data>\n        </Encryption>\n        <UID>{" + UUID.randomUUID() + "}</UID>\n"
                + "        <Name>disk</Name>\n    </Disk_Parameters>\n    <StorageData>\n");
        for (String[] s : storages) {
            b.append("        <Storage>\n            <Start>").append(s[0]).append("</Start>\n            <End>").append(s[1])
                    .append("</End>\n            <Blocksize>128</Blocksize>\n");
            for (String img : s[2].split(";")) {
                String[] f = img.split(" ");
                b.append("            <Image>\n                <GUID>{").append(f[0]).append("}</GUID>\n                <Type>")
                        .append(f[2]).append("</Type>\n                <File>").append(f[1]).append("</File>\n            </Image>\n");
            }
            b.append("        </Storage>\n");
        }
        b.append("    </StorageData>\n    <Snapshots>\n");
        if (top != null) {
            b.append("        <TopGUID>{").append(top).append("}</TopGUID>\n");
        }
        for (UUID[] s : shots) {
            b.append("        <Shot>\n            <GUID>{").append(s[0]).append("}</GUID>\n            <ParentGUID>{")
                    .append(s[1]).append("}</ParentGUID>\n        </Shot>\n");
        }
        return b.append("    </Snapshots>\n</Parallels_disk_image>\n").toString();
    }

    private void writeDescriptor(String xml) throws IOException {
        Files.writeString(bundle.resolve("DiskDescriptor.xml"), xml);
    }

    /** base (pattern) and a snapshot over it, both made by qemu-img; returns what the chain must read. */
    private byte[] twoSnapshots(boolean plainBase) throws IOException {
        String baseFile = "disk.hdd.0.{" + BASE + "}.hds";
        String snapFile = "disk.hdd.0.{" + SNAP + "}.hds";
        if (plainBase) {
            QemuTools.randomRaw(bundle.resolve(baseFile), SIZE, 5);
        } else {
            img(bundle, "create", "-f", "parallels", "-o", "cluster_size=64k", baseFile, Integer.toString(SIZE));
            io(bundle, "parallels", baseFile, "write -P 0x11 0 " + SIZE, "write -P 0x22 70000 300000");
        }
        img(bundle, "create", "-f", "parallels", "-o", "cluster_size=64k", snapFile, Integer.toString(SIZE));
        io(bundle, "parallels", snapFile, "write -P 0x33 " + CLUSTER + " " + CLUSTER, "write -P 0x44 1000000 5000");
        byte[] expect = plainBase ? Files.readAllBytes(bundle.resolve(baseFile)) : QemuTools.qemuRaw(bundle, baseFile);
        byte[] snap = QemuTools.qemuRaw(bundle, snapFile);
        Bytes h = Bytes.of(Files.readAllBytes(bundle.resolve(snapFile)));
        for (int i = 0; i < SIZE / CLUSTER; i++) {
            if (h.u32le(0x40 + 4 * i) != 0) {
                System.arraycopy(snap, i * CLUSTER, expect, i * CLUSTER, CLUSTER);
            }
        }
        writeDescriptor(descriptor(SIZE / 512, List.<String[]>of(new String[] {"0", Integer.toString(SIZE / 512),
                BASE + " " + baseFile + " " + (plainBase ? "Plain" : "Compressed") + ";" + SNAP + " " + snapFile
                        + " Compressed"}), SNAP, List.of(new UUID[] {BASE, new UUID(0, 0)}, new UUID[] {SNAP, BASE})));
        return expect;
    }

    private static byte[] read(Disk d) throws IOException {
        ByteBuffer b = ByteBuffer.allocate((int) d.size());
        d.read(0, b);
        return b.array();
    }

    @Test
    void theChainOfTheDescriptorReadsByDirectoryDescriptorOrImageFile() throws IOException {
        byte[] expect = twoSnapshots(false);
        assertEquals("parallels", FormatRegistry.probe(bundle).name());
        assertEquals("parallels", FormatRegistry.probe(bundle.resolve("DiskDescriptor.xml")).name());
        for (Path p : List.of(bundle, bundle.resolve("DiskDescriptor.xml"),
                bundle.resolve("disk.hdd.0.{" + SNAP + "}.hds"))) {
            try (Disk d = Disk.open(p, OpenOptions.defaultReadOnly())) {
                assertEquals(2, d.layers().size());
                assertEquals(SNAP, d.top().uuid());
                assertEquals(BASE, d.top().parent().uuid());
                assertTrue(d.top().files().contains(bundle.resolve("DiskDescriptor.xml").toRealPath()), d.top().files().toString());
                assertArrayEquals(expect, read(d), p.toString());
            }
        }
        // the base's image file alone: the base snapshot
        try (Disk d = Disk.open(bundle.resolve("disk.hdd.0.{" + BASE + "}.hds"), OpenOptions.defaultReadOnly())) {
            assertEquals(1, d.layers().size());
            assertArrayEquals(QemuTools.qemuRaw(bundle, "disk.hdd.0.{" + BASE + "}.hds"), read(d));
        }
    }

    @Test
    void aPlainRootUnderAnExpandingSnapshot() throws IOException {
        byte[] expect = twoSnapshots(true);
        try (Disk d = Disk.open(bundle, OpenOptions.defaultReadOnly())) {
            assertEquals("plain", d.layers().get(0).variant());
            assertArrayEquals(expect, read(d));
        }
    }

    @Test
    void writesLandInTheTopSnapshotOnlyAndPassQemuImgCheck() throws IOException {
        byte[] model = twoSnapshots(false);
        Path base = bundle.resolve("disk.hdd.0.{" + BASE + "}.hds");
        byte[] baseBefore = Files.readAllBytes(base);
        try (Disk d = Disk.open(bundle, OpenOptions.defaultReadWrite())) {
            ModelRun.scribble(d, model, new Random(11), 200);
        }
        assertArrayEquals(baseBefore, Files.readAllBytes(base));
        assertClean(bundle, "parallels", "disk.hdd.0.{" + SNAP + "}.hds");
        try (Disk d = Disk.open(bundle, OpenOptions.defaultReadOnly())) {
            assertArrayEquals(model, read(d));
        }
    }

    @Test
    void aSplitDiskConcatenatesItsStorages() throws IOException {
        int half = SIZE / 2;
        img(bundle, "create", "-f", "parallels", "-o", "cluster_size=64k", "a.hds", Integer.toString(half));
        img(bundle, "create", "-f", "parallels", "-o", "cluster_size=64k", "b.hds", Integer.toString(half));
        io(bundle, "parallels", "a.hds", "write -P 0x55 1000 " + (half - 1000));
        io(bundle, "parallels", "b.hds", "write -P 0x66 0 7777");
        byte[] expect = new byte[SIZE];
        System.arraycopy(QemuTools.qemuRaw(bundle, "a.hds"), 0, expect, 0, half);
        System.arraycopy(QemuTools.qemuRaw(bundle, "b.hds"), 0, expect, half, half);
        writeDescriptor(descriptor(SIZE / 512, List.of(
                new String[] {"0", Integer.toString(half / 512), BASE + " a.hds Compressed"},
                new String[] {Integer.toString(half / 512), Integer.toString(SIZE / 512), BASE + " b.hds Compressed"}),
                null, List.<UUID[]>of(new UUID[] {BASE, new UUID(0, 0)}))); // the one leaf is the top
        byte[] model = expect.clone();
        try (Disk d = Disk.open(bundle, OpenOptions.defaultReadWrite())) {
            assertEquals("split", d.top().variant());
            assertArrayEquals(expect, read(d));
            ModelRun.scribble(d, model, new Random(3), 150);
        }
        assertClean(bundle, "parallels", "a.hds");
        assertClean(bundle, "parallels", "b.hds");
        byte[] a = QemuTools.qemuRaw(bundle, "a.hds");
        byte[] b = QemuTools.qemuRaw(bundle, "b.hds");
        assertArrayEquals(java.util.Arrays.copyOf(model, half), a);
        assertArrayEquals(java.util.Arrays.copyOfRange(model, half, SIZE), b);
    }

    /**
     * {@code vd compact} of a snapshot over a split disk: each Storage range's file is judged
     * against the snapshot below at the range's place in the disk. In the second range, the
     * cluster that repeats the first range's base (but not its own) must stay.
     */
    @Test
    void compactJudgesEachStorageOfASplitSnapshotAtItsPlace() throws IOException {
        int half = SIZE / 2;
        for (String f : new String[] {"a0.hds", "b0.hds", "a1.hds", "b1.hds"}) {
            img(bundle, "create", "-f", "parallels", "-o", "cluster_size=64k", f, Integer.toString(half));
        }
        io(bundle, "parallels", "a0.hds", "write -P 0x11 0 " + half);
        io(bundle, "parallels", "b0.hds", "write -P 0x22 0 " + half);
        io(bundle, "parallels", "a1.hds", "write -P 0x11 0 64k", "write -P 0x77 64k 64k", "write -P 0 128k 64k");
        io(bundle, "parallels", "b1.hds", "write -P 0x22 0 64k", "write -P 0x11 64k 64k", "write -P 0x88 192k 64k");
        writeDescriptor(descriptor(SIZE / 512, List.of(
                new String[] {"0", Integer.toString(half / 512), BASE + " a0.hds Compressed;" + SNAP + " a1.hds Compressed"},
                new String[] {Integer.toString(half / 512), Integer.toString(SIZE / 512),
                    BASE + " b0.hds Compressed;" + SNAP + " b1.hds Compressed"}),
                SNAP, List.of(new UUID[] {BASE, new UUID(0, 0)}, new UUID[] {SNAP, BASE})));
        byte[] expect;
        try (Disk d = Disk.open(bundle, OpenOptions.defaultReadOnly())) {
            expect = read(d);
        }
        long a1 = Files.size(bundle.resolve("a1.hds"));
        long b1 = Files.size(bundle.resolve("b1.hds"));
        long[] progress = {0};

        var r = org.vdmount.vd.compact.Compaction.compact(bundle, null, OpenOptions.defaultReadOnly(),
                v -> progress[0] = v);

        assertEquals(2, r.blocksFreed(), r.toString()); // cluster 0 of each range
        assertEquals(2, r.blocksMoved(), r.toString()); // each file's last cluster into its hole
        assertEquals(SIZE, progress[0]);
        assertEquals(a1 - CLUSTER, Files.size(bundle.resolve("a1.hds")));
        assertEquals(b1 - CLUSTER, Files.size(bundle.resolve("b1.hds")));
        try (Disk d = Disk.open(bundle, OpenOptions.defaultReadOnly())) {
            assertArrayEquals(expect, read(d));
            assertEquals(org.vdmount.vd.Allocation.DATA,
                    org.vdmount.vd.Run.kind(d.top().map(half + CLUSTER, CLUSTER)), "0x11 over 0x22 stays");
            assertEquals(org.vdmount.vd.Allocation.DATA,
                    org.vdmount.vd.Run.kind(d.top().map(2 * CLUSTER, CLUSTER)), "zeros over parent data stay");
        }
        for (String f : new String[] {"a0.hds", "b0.hds", "a1.hds", "b1.hds"}) {
            assertClean(bundle, "parallels", f);
        }
    }

    @Test
    void hostileDescriptorsAreRefusedInOneLine() throws IOException {
        twoSnapshots(false);
        String good = Files.readString(bundle.resolve("DiskDescriptor.xml"));
        Files.writeString(dir.resolve("secret"), "x");
        Files.createSymbolicLink(bundle.resolve("link.hds"), dir.resolve("secret"));
        String top = "disk.hdd.0.{" + SNAP + "}.hds";
        String[][] cases = {
            {good.replace("<?xml version='1.0' encoding='UTF-8'?>", "<?xml version='1.0'?><!DOCTYPE x [<!ENTITY e SYSTEM \"file:///etc/passwd\">]>"), "DOCTYPE"},
            {good.replace(top, "../secret"), "outside the bundle"},
            {good.replace(top, "link.hds"), "outside"},
            {good.replace(top, "/etc/passwd"), "lies outside the bundle"},
            {good.replace("<ParentGUID>{00000000-0000-0000-0000-000000000000}", "<ParentGUID>{" + SNAP + "}"), "loop"},
            {good.replace("<Disk_size>8192</Disk_size>", "<Disk_size>99999999999999999999</Disk_size>"), "Disk_size"},
            {good.replace("<Padding>0</Padding>", "<Padding>1</Padding>"), "Padding"},
            {good.replace("<End>8192</End>", "<End>4096</End>"), "Storage ranges end"},
            {good.replace("</Parallels_disk_image>", ""), "corrupt descriptor"},
            {good.replaceAll("<TopGUID>.*</TopGUID>", "").replace("</Snapshots>", "<Shot><GUID>{" + UUID.randomUUID()
                    + "}</GUID><ParentGUID>{" + BASE + "}</ParentGUID></Shot></Snapshots>"), "top snapshot is undefined"},
        };
        for (String[] c : cases) {
            writeDescriptor(c[0]);
            VdException e = assertThrows(VdException.class, () -> Disk.open(bundle, OpenOptions.defaultReadOnly()), c[1]);
            assertTrue(e.getMessage().contains(c[1]) && !e.getMessage().contains("\n"), c[1] + ": " + e.getMessage());
        }
        writeDescriptor("x".repeat(DiskDescriptor.MAX_BYTES + 1));
        VdException e = assertThrows(VdException.class, () -> Disk.open(bundle.resolve("DiskDescriptor.xml"),
                FormatRegistry.require("parallels"), OpenOptions.defaultReadOnly()));
        assertTrue(e.getMessage().contains("exceeds"), e.getMessage());
    }

    @Test
    void aWritableOpenWarnsNothingAndLeavesTheParentsReadOnly() throws IOException {
        twoSnapshots(false);
        List<String> warnings = new ArrayList<>();
        try (Disk d = Disk.open(bundle, OpenOptions.defaultReadWrite().withWarnings(warnings::add))) {
            assertTrue(d.layers().get(0).readOnly());
            assertTrue(!d.top().readOnly());
        }
        assertEquals(List.of(), warnings);
    }

    @Test
    void createdBundlesAreLaidOutAsParallelsDesktopDoesAndQemuReadsTheirImageFile() throws IOException {
        Path created = dir.resolve("new.hdd");
        FormatRegistry.require("parallels").create(created, org.vdmount.vd.CreateOptions.of(SIZE)
                .with("cluster_size", "64k")).close();
        String file = "new.hdd.0.{5fbaabe3-6958-40ff-92a7-860e329aab41}.hds";
        try (var s = Files.list(created)) {
            assertEquals(List.of("DiskDescriptor.xml", file), s.map(p -> p.getFileName().toString()).sorted().toList());
        }
        String xml = Files.readString(created.resolve("DiskDescriptor.xml"));
        for (String t : List.of("<Parallels_disk_image Version=\"1.0\">", "<Disk_size>8192</Disk_size>",
                "<Heads>16</Heads>", "<Sectors>32</Sectors>", "<Padding>0</Padding>", "<Start>0</Start>",
                "<End>8192</End>", "<Blocksize>128</Blocksize>", "<Type>Compressed</Type>", "<File>" + file + "</File>",
                "<ParentGUID>{00000000-0000-0000-0000-000000000000}</ParentGUID>")) {
            assertTrue(xml.contains(t), t + " in\n" + xml);
        }
        byte[] model = new byte[SIZE];
        try (Disk d = Disk.open(created, OpenOptions.defaultReadWrite())) {
            assertEquals(DiskDescriptor.DEFAULT_TOP, d.top().uuid());
            assertEquals(2, d.top().files().size());
            ModelRun.scribble(d, model, new Random(17), 150);
        }
        assertClean(created, "parallels", file);
        assertArrayEquals(model, QemuTools.qemuRaw(created, file));
        // plain: a raw file of the disk's size
        Path plain = dir.resolve("plain.hdd");
        FormatRegistry.require("parallels").create(plain, org.vdmount.vd.CreateOptions.of(SIZE)
                .with("subformat", "plain")).close();
        assertTrue(Files.readString(plain.resolve("DiskDescriptor.xml")).contains("<Type>Plain</Type>"));
        try (Disk d = Disk.open(plain, OpenOptions.defaultReadWrite())) {
            assertEquals("plain", d.top().variant());
            d.write(12345, ByteBuffer.wrap(new byte[] {9, 8, 7}));
        }
        byte[] raw = Files.readAllBytes(plain.resolve("plain.hdd.0.{5fbaabe3-6958-40ff-92a7-860e329aab41}.hds"));
        assertEquals(SIZE, raw.length);
        assertEquals(8, raw[12346]);
        // an existing bundle is not overwritten
        assertThrows(IOException.class, () -> FormatRegistry.require("parallels").create(created,
                org.vdmount.vd.CreateOptions.of(SIZE)));
    }

    @Test
    void aSnapshotAddedWithABackingBundleBecomesTheTopAndLeavesItsParentAlone() throws IOException {
        var parallels = FormatRegistry.require("parallels");
        Path b = dir.resolve("vm.hdd");
        parallels.create(b, org.vdmount.vd.CreateOptions.of(SIZE).with("cluster_size", "64k")).close();
        byte[] model = new byte[SIZE];
        try (Disk d = Disk.open(b, OpenOptions.defaultReadWrite())) {
            ModelRun.scribble(d, model, new Random(5), 100);
        }
        Path baseFile = b.resolve("vm.hdd.0.{5fbaabe3-6958-40ff-92a7-860e329aab41}.hds");
        byte[] baseBytes = Files.readAllBytes(baseFile);
        Path snap = b.resolve("vm.hdd.1.hds");
        try (Disk parent = Disk.open(b, OpenOptions.defaultReadOnly())) {
            // outside the bundle, or over something that is no bundle: refused in one line
            VdException e = assertThrows(VdException.class, () -> parallels.create(dir.resolve("x.hds"),
                    org.vdmount.vd.CreateOptions.of(0).withParent(parent, b)));
            assertTrue(e.getMessage().contains("must lie in the bundle"), e.getMessage());
            parallels.create(snap, org.vdmount.vd.CreateOptions.of(0).withParent(parent, b)).close();
        }
        img(dir, "create", "-f", "parallels", "other.hds", "1M");
        try (Disk other = Disk.open(dir.resolve("other.hds"), OpenOptions.defaultReadOnly())) {
            VdException e = assertThrows(VdException.class, () -> parallels.create(dir.resolve("y.hds"),
                    org.vdmount.vd.CreateOptions.of(0).withParent(other, dir.resolve("other.hds"))));
            assertTrue(e.getMessage().contains("must be a Parallels bundle"), e.getMessage());
        }
        String xml = Files.readString(b.resolve("DiskDescriptor.xml"));
        assertTrue(xml.contains("<File>vm.hdd.1.hds</File>") && xml.contains("<TopGUID>")
                && xml.contains("<ParentGUID>{5fbaabe3-6958-40ff-92a7-860e329aab41}</ParentGUID>"), xml);
        assertTrue(!Files.exists(b.resolve("DiskDescriptor.xml.tmp")));
        try (Disk d = Disk.open(b, OpenOptions.defaultReadWrite())) {
            assertEquals(2, d.layers().size());
            assertEquals(snap.toRealPath(), d.top().storage().path().toRealPath());
            assertArrayEquals(model, read(d));
            ModelRun.scribble(d, model, new Random(6), 100);
            d.discard(0, SIZE); // a snapshot hides its parent with zeros, never shows it again
            java.util.Arrays.fill(model, (byte) 0);
        }
        assertArrayEquals(baseBytes, Files.readAllBytes(baseFile));
        assertClean(b, "parallels", "vm.hdd.1.hds");
        try (Disk d = Disk.open(b.resolve("DiskDescriptor.xml"), OpenOptions.defaultReadOnly())) {
            assertArrayEquals(model, read(d));
        }
    }
}
