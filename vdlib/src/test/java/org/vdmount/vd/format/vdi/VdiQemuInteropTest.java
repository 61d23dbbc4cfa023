package org.vdmount.vd.format.vdi;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.vdmount.vd.format.vdi.VdiTestSupport.assertDiskEquals;
import static org.vdmount.vd.format.vdi.VdiTestSupport.ok;
import static org.vdmount.vd.format.vdi.VdiTestSupport.qemuCheckClean;
import static org.vdmount.vd.format.vdi.VdiTestSupport.qemuRaw;
import static org.vdmount.vd.format.vdi.VdiTestSupport.random;
import static org.vdmount.vd.format.vdi.VdiTestSupport.write;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.FileTime;
import java.util.List;
import java.util.Random;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;
import org.vdmount.vd.Allocation;
import org.vdmount.vd.CreateOptions;
import org.vdmount.vd.Disk;
import org.vdmount.vd.FormatRegistry;
import org.vdmount.vd.Image;
import org.vdmount.vd.OpenOptions;
import org.vdmount.vd.Run;
import org.vdmount.vd.UnsupportedFeatureException;

/** VDI against qemu-img: images qemu makes read byte-exact; images we write or create pass qemu's check. */
class VdiQemuInteropTest {
    private static final int MIB = 1 << 20;
    /** 9 MiB + 3 KiB: not a multiple of the 1 MiB block. */
    private static final int SIZE = 9 * MIB + 3 * 1024;

    @TempDir
    Path dir;
    private Path source;
    private byte[] sourceBytes;

    @BeforeEach
    void makeSource() throws IOException {
        VdiTestSupport.assumeQemu();
        sourceBytes = VdiTestSupport.patternedDisk(42, SIZE, MIB);
        source = dir.resolve("source.raw");
        Files.write(source, sourceBytes);
    }

    private Path qemuVdi(String name, String... opts) throws Exception {
        Path vdi = dir.resolve(name);
        List<String> cmd = new java.util.ArrayList<>(List.of("qemu-img", "convert", "-f", "raw", "-O", "vdi"));
        cmd.addAll(List.of(opts));
        cmd.addAll(List.of(source.toString(), vdi.toString()));
        ok(cmd.toArray(String[]::new));
        return vdi;
    }

    @ParameterizedTest
    @ValueSource(strings = {"dynamic", "static"})
    void readsQemuImagesByteExact(String kind) throws Exception {
        Path vdi = kind.equals("static") ? qemuVdi("s.vdi", "-o", "static=on") : qemuVdi("d.vdi");
        byte[] qemuView = qemuRaw(vdi, dir);
        FileTime mtime = Files.getLastModifiedTime(vdi);
        byte[] fileBefore = Files.readAllBytes(vdi);
        try (Disk disk = Disk.open(vdi, OpenOptions.defaultReadOnly())) {
            Image top = disk.top();
            assertEquals("vdi", top.format().name());
            assertEquals(kind.equals("static") ? "fixed" : "dynamic", top.variant());
            assertEquals(qemuView.length, disk.size());
            assertDiskEquals(qemuView, disk);
            assertDiskEquals(sourceBytes, disk);
            if (kind.equals("dynamic")) {
                // block 4 is all zeros in the source: qemu leaves it unallocated
                assertEquals(Allocation.UNALLOCATED, Run.kind(top.map(4L * MIB, MIB)));
                assertEquals(Allocation.DATA, Run.kind(top.map(0, MIB)));
            }
            // odd-sized reads crossing block boundaries
            Random rnd = new Random(7);
            for (int i = 0; i < 200; i++) {
                int off = rnd.nextInt(SIZE);
                int len = Math.min(SIZE - off, 1 + rnd.nextInt(3 * MIB));
                ByteBuffer b = ByteBuffer.allocate(len);
                disk.read(off, b);
                assertArrayEquals(java.util.Arrays.copyOfRange(sourceBytes, off, off + len), b.array());
            }
        }
        assertArrayEquals(fileBefore, Files.readAllBytes(vdi), "a read-only open changed the file");
        assertEquals(mtime, Files.getLastModifiedTime(vdi));
    }

    @Test
    void writesIntoQemuImagePassQemuCheckAndCompare() throws Exception {
        Path vdi = qemuVdi("w.vdi");
        byte[] model = sourceBytes.clone();
        Random rnd = new Random(11);
        try (Disk disk = Disk.open(vdi, OpenOptions.defaultReadWrite())) {
            write(disk, model, 3, random(rnd, 5000));                  // allocated block, unaligned
            write(disk, model, MIB + 4097, random(rnd, 777));          // fresh (zero) block, partial
            write(disk, model, MIB - 100, random(rnd, 300));           // across a block boundary
            write(disk, model, 4L * MIB - 12345, random(rnd, 2 * MIB + 999)); // spans three blocks
            write(disk, model, 7L * MIB, new byte[MIB]);               // whole zero block
            write(disk, model, SIZE - 5000, random(rnd, 5000));        // up to the unaligned end
            write(disk, model, 9L * MIB, random(rnd, 3 * 1024));       // the whole partial last block
            assertDiskEquals(model, disk);
        }
        qemuCheckClean(vdi);
        Path expected = dir.resolve("expected.raw");
        Files.write(expected, model);
        ok("qemu-img", "compare", "-f", "vdi", "-F", "raw", vdi.toString(), expected.toString());
        try (Disk disk = Disk.open(vdi, OpenOptions.defaultReadOnly())) {
            assertDiskEquals(model, disk);
        }
    }

    /** subformat=fixed, subformat=dynamic, and static=on: qemu-img's name for fixed. */
    @ParameterizedTest
    @ValueSource(strings = {"fixed", "dynamic", "static"})
    void createdImagesPassQemuCheckAndReadBack(String sub) throws Exception {
        Path vdi = dir.resolve("c-" + sub + ".vdi");
        byte[] model = new byte[SIZE];
        Random rnd = new Random(5);
        boolean fixed = !sub.equals("dynamic");
        if (sub.equals("static")) {
            UnsupportedFeatureException e = assertThrows(UnsupportedFeatureException.class, () -> new VdiFormat()
                    .create(vdi, CreateOptions.of(SIZE).with("static", "on").with("subformat", "dynamic")));
            assertEquals("vdi: static=on and subformat=dynamic disagree", e.getMessage());
        }
        Image img = new VdiFormat().create(vdi, sub.equals("static") ? CreateOptions.of(SIZE).with("static", "on")
                : CreateOptions.of(SIZE).with("subformat", sub));
        try (Disk disk = Disk.of(List.of(img))) {
            write(disk, model, 0, random(rnd, 4096));
            write(disk, model, 2L * MIB + 17, random(rnd, MIB + 3));
            write(disk, model, SIZE - 2048, random(rnd, 2048));
            assertDiskEquals(model, disk);
        }
        qemuCheckClean(vdi);
        String info = ok("qemu-img", "info", vdi.toString());
        assertTrue(info.contains("file format: vdi"), info);
        assertTrue(info.contains("(" + SIZE + " bytes)"), info);
        assertArrayEquals(model, qemuRaw(vdi, dir));
        // VirtualBox's layout: block map and data area on 1 MiB boundaries, header 1.1+ (0x190 bytes)
        byte[] head = java.util.Arrays.copyOf(Files.readAllBytes(vdi), VdiHeader.SIZE);
        VdiHeader h = VdiHeader.parse(org.vdmount.vd.Bytes.of(head));
        assertEquals(VdiHeader.V1_PLUS_SIZE, h.headerSizeBytes());
        assertEquals(MIB, h.blockMapOffsetBytes());
        assertEquals(2L * MIB, h.dataOffsetBytes());
        assertEquals(fixed ? VdiHeader.TYPE_FIXED : VdiHeader.TYPE_NORMAL, h.imageType());
        assertEquals(512, h.legacyGeometry().sectorSizeBytes());
        assertEquals(512, h.lchsGeometry().sectorSizeBytes());
        if (fixed) {
            assertEquals(2L * MIB + 10L * MIB, Files.size(vdi));
        }
    }

    @Test
    void discardInDynamicBaseMovesLastBlockAndShrinksFile() throws Exception {
        Path vdi = dir.resolve("discard.vdi");
        int size = 8 * MIB;
        byte[] model = new byte[size];
        Random rnd = new Random(3);
        try (Disk disk = Disk.of(List.of(new VdiFormat().create(vdi, CreateOptions.of(size))))) {
            for (int b = 0; b < 8; b++) {
                write(disk, model, (long) b * MIB, random(rnd, MIB));
            }
            disk.flush();
            long full = Files.size(vdi);
            disk.discard(2L * MIB, MIB);          // a hole in the middle: the last slot moves into it
            java.util.Arrays.fill(model, 2 * MIB, 3 * MIB, (byte) 0);
            disk.discard(5L * MIB, 2L * MIB + 10); // two whole blocks and a partial one
            java.util.Arrays.fill(model, 5 * MIB, 7 * MIB + 10, (byte) 0);
            assertEquals(Allocation.UNALLOCATED, Run.kind(disk.top().map(2L * MIB, MIB)));
            assertDiskEquals(model, disk);
            disk.flush();
            assertEquals(full - 3L * MIB, Files.size(vdi), "host space given back");
            write(disk, model, 2L * MIB + 5, random(rnd, 100)); // re-allocate after the move
            assertDiskEquals(model, disk);
        }
        qemuCheckClean(vdi);
        assertArrayEquals(model, qemuRaw(vdi, dir));
    }

    @Test
    void fixedDiscardPunchesAndKeepsSlots() throws Exception {
        Path vdi = qemuVdi("fd.vdi", "-o", "static=on");
        byte[] model = sourceBytes.clone();
        long before = Files.size(vdi);
        try (Disk disk = Disk.open(vdi, OpenOptions.defaultReadWrite())) {
            disk.discard(0, 2L * MIB);
            java.util.Arrays.fill(model, 0, 2 * MIB, (byte) 0);
            assertDiskEquals(model, disk);
        }
        assertEquals(before, Files.size(vdi));
        qemuCheckClean(vdi);
        assertArrayEquals(model, qemuRaw(vdi, dir));
    }

    @Test
    void modificationUuidChangesOnFirstWriteOnly() throws Exception {
        Path vdi = qemuVdi("m.vdi");
        java.util.UUID original;
        try (Disk disk = Disk.open(vdi, OpenOptions.defaultReadOnly())) {
            original = ((VdiImage) disk.top()).modificationUuid();
        }
        try (Disk disk = Disk.open(vdi, OpenOptions.defaultReadWrite())) {
            assertEquals(original, ((VdiImage) disk.top()).modificationUuid(), "opening alone changes nothing");
            disk.write(0, ByteBuffer.wrap(new byte[512]));
            java.util.UUID first = ((VdiImage) disk.top()).modificationUuid();
            assertTrue(!first.equals(original));
            disk.write(512, ByteBuffer.wrap(new byte[512]));
            assertEquals(first, ((VdiImage) disk.top()).modificationUuid());
        }
        qemuCheckClean(vdi);
    }

    @Test
    void createRejectsBadOptions() {
        VdiFormat f = new VdiFormat();
        assertThrows(UnsupportedFeatureException.class,
                () -> f.create(dir.resolve("a.vdi"), CreateOptions.of(MIB).with("cluster_size", "64k")));
        assertThrows(UnsupportedFeatureException.class,
                () -> f.create(dir.resolve("b.vdi"), CreateOptions.of(MIB).with("subformat", "sparse")));
        assertThrows(UnsupportedFeatureException.class,
                () -> f.create(dir.resolve("c.vdi"), CreateOptions.of(MIB).with("block_size", "3M")));
        assertThrows(UnsupportedFeatureException.class, () -> f.create(dir.resolve("d.vdi"), CreateOptions.of(1000)));
        assertTrue(Files.notExists(dir.resolve("a.vdi")));
    }

    @Test
    void probeAndRegistryPickVdi() throws Exception {
        Path vdi = qemuVdi("p.vdi");
        assertInstanceOf(VdiFormat.class, FormatRegistry.probe(vdi));
        assertInstanceOf(VdiFormat.class, FormatRegistry.all().get(0));
        assertEquals("raw", FormatRegistry.probe(source).name(), "a raw file is not claimed by vdi");
    }
}
