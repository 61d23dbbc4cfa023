package org.vdmount.vd.format.vmdk;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.FileTime;
import java.util.Arrays;
import java.util.Random;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;
import org.vdmount.vd.CreateOptions;
import org.vdmount.vd.Disk;
import org.vdmount.vd.Image;
import org.vdmount.vd.OpenOptions;
import org.vdmount.vd.ReadOnlyException;
import org.vdmount.vd.UnsupportedFeatureException;
import org.vdmount.vd.conformance.ModelRun;

/** Our writes into qemu-made images and our own created images, checked by qemu-img check + compare. */
class VmdkWriteTest {
    private static final int SIZE = 5 * 1024 * 1024 + 512;

    @TempDir
    Path dir;

    private static String cidLine(Path descriptorOrSparse) throws IOException {
        String text = new String(Files.readAllBytes(descriptorOrSparse), java.nio.charset.StandardCharsets.ISO_8859_1);
        int i = text.indexOf("\nCID=");
        return text.substring(i + 1, text.indexOf('\n', i + 1));
    }

    @ParameterizedTest
    @ValueSource(strings = {
        "subformat=monolithicSparse",
        "subformat=monolithicFlat",
        "subformat=twoGbMaxExtentSparse",
        "subformat=twoGbMaxExtentFlat",
        "subformat=monolithicSparse,zeroed_grain=on",
    })
    void writesIntoQemuImagesPassQemuCheckAndCompare(String opts) throws IOException {
        Tools.need("qemu-img");
        Path src = dir.resolve("src.raw");
        Files.write(src, Tools.source(SIZE, 3));
        Path img = dir.resolve("w.vmdk");
        Tools.run(dir, "qemu-img", "convert", "-O", "vmdk", "-o", opts, src.toString(), img.toString());
        byte[] model = Files.readAllBytes(Tools.qemuRaw(img, "before.raw"));
        String cidBefore = cidLine(img);
        try (Disk d = Disk.open(img, OpenOptions.defaultReadOnly())) {
            d.read(0, ByteBuffer.allocate(4096));
        }
        assertEquals(cidBefore, cidLine(img), "a read-only open never touches the CID");
        try (Disk d = Disk.open(img, OpenOptions.defaultReadWrite())) {
            ModelRun.scribble(d, model, new Random(opts.hashCode()), 400);
            assertArrayEquals(model, Tools.readAll(d));
        }
        assertNotEquals(cidBefore, cidLine(img), "the first write of a session renews the CID");
        Tools.qemuCheck(img);
        Path modelRaw = dir.resolve("model.raw");
        Files.write(modelRaw, model);
        Tools.qemuCompare(modelRaw, img);
        try (Disk d = Disk.open(img, OpenOptions.defaultReadOnly())) {
            assertArrayEquals(model, Tools.readAll(d));
        }
    }

    @Test
    void streamOptimizedIsReadOnlyAndAWritableOpenIsRefusedClearly() throws IOException {
        Tools.need("qemu-img");
        Path src = dir.resolve("src.raw");
        Files.write(src, Tools.source(SIZE, 4));
        Path img = dir.resolve("s.vmdk");
        Tools.run(dir, "qemu-img", "convert", "-O", "vmdk", "-o", "subformat=streamOptimized", src.toString(), img.toString());
        byte[] before = Files.readAllBytes(img);
        FileTime mtime = Files.getLastModifiedTime(img);
        UnsupportedFeatureException e = assertThrows(UnsupportedFeatureException.class,
                () -> Disk.open(img, OpenOptions.defaultReadWrite()));
        assertTrue(e.getMessage().contains("stream-optimized"), e.getMessage());
        try (Disk d = Disk.open(img, OpenOptions.defaultReadOnly())) {
            assertThrows(ReadOnlyException.class, () -> d.write(0, ByteBuffer.allocate(512)));
        }
        assertArrayEquals(before, Files.readAllBytes(img));
        assertEquals(mtime, Files.getLastModifiedTime(img));
    }

    @ParameterizedTest
    @ValueSource(strings = {"monolithicSparse", "monolithicFlat", "twoGbMaxExtentSparse", "twoGbMaxExtentFlat",
        "monolithicSparse,zeroed_grain=on", "monolithicSparse,adapter_type=lsilogic,hwversion=10",
        "twoGbMaxExtentSparse,compat6=on"})
    void createdImagesPassQemuCheckAndCompare(String opts) throws IOException {
        Tools.need("qemu-img");
        CreateOptions co = CreateOptions.of(SIZE);
        String[] kv = opts.split(",");
        co = co.with("subformat", kv[0]);
        for (int i = 1; i < kv.length; i++) {
            co = co.with(kv[i].split("=")[0], kv[i].split("=")[1]);
        }
        Path img = dir.resolve("new.vmdk");
        byte[] model = new byte[SIZE];
        try (Image created = new VmdkFormat().create(img, co); Disk d = Disk.of(java.util.List.of(created))) {
            assertEquals(kv[0], created.variant());
            ModelRun.scribble(d, model, new Random(opts.hashCode()), 300);
        }
        Tools.qemuCheck(img);
        String info = Tools.run(dir, "qemu-img", "info", img.toString());
        assertTrue(info.contains("create type: " + kv[0]), info);
        Path modelRaw = dir.resolve("model.raw");
        Files.write(modelRaw, model);
        Tools.qemuCompare(modelRaw, img);
        try (Disk d = Disk.open(img, OpenOptions.defaultReadOnly())) {
            assertArrayEquals(model, Tools.readAll(d));
        }
        // libvmdk refuses monolithicFlat, and reads a zeroed grain (entry 1) as the grain at sector 1
        if (!kv[0].equals("monolithicFlat") && !opts.contains("zeroed_grain=on")) {
            byte[] libvmdk = Tools.vmdkmount(img, 1);
            if (libvmdk != null) {
                assertArrayEquals(model, libvmdk, "as vmdkmount reads it");
            }
        }
    }

    /** The stream writer takes the whole disk front to back, as `vd convert` writes it. */
    @Test
    void createdStreamOptimizedPassesQemuCheckAndCompare() throws IOException {
        Tools.need("qemu-img");
        byte[] model = Tools.source(SIZE, 9);
        Path img = dir.resolve("stream.vmdk");
        try (Image created = new VmdkFormat().create(img, CreateOptions.of(SIZE).with("subformat", "streamOptimized"));
             Disk d = Disk.of(java.util.List.of(created))) {
            Random r = new Random(1);
            int off = 0;
            while (off < SIZE) {
                int len = Math.min(SIZE - off, 1 + r.nextInt(200_000));
                if (!java.util.Arrays.equals(model, off, off + len, new byte[len], 0, len)) {
                    d.write(off, ByteBuffer.wrap(model, off, len));
                }
                off += len;
            }
            assertArrayEquals(model, Tools.readAll(d), "reads back while being written");
            UnsupportedFeatureException back = assertThrows(UnsupportedFeatureException.class,
                    () -> d.write(0, ByteBuffer.allocate(65536)));
            assertTrue(back.getMessage().contains("front to back"), back.getMessage());
        }
        Tools.qemuCheck(img);
        Path modelRaw = dir.resolve("model.raw");
        Files.write(modelRaw, model);
        Tools.qemuCompare(modelRaw, img);
        assertTrue(Files.size(img) < SIZE, "compressed: " + Files.size(img));
        try (Disk d = Disk.open(img, OpenOptions.defaultReadOnly())) {
            assertEquals("streamOptimized", d.top().variant());
            assertArrayEquals(model, Tools.readAll(d));
        }
        byte[] libvmdk = Tools.vmdkmount(img, 1);
        if (libvmdk != null) {
            assertArrayEquals(model, libvmdk, "as vmdkmount reads it");
        }
    }

    @Test
    void createRejectsUnknownOptionsAndImpossibleCombinations() {
        VmdkFormat f = new VmdkFormat();
        assertThrows(UnsupportedFeatureException.class,
                () -> f.create(dir.resolve("a.vmdk"), CreateOptions.of(1 << 20).with("cluster_size", "64k")));
        assertThrows(UnsupportedFeatureException.class,
                () -> f.create(dir.resolve("b.vmdk"), CreateOptions.of(1 << 20).with("subformat", "vmfs")));
        assertThrows(UnsupportedFeatureException.class, () -> f.create(dir.resolve("c.vmdk"),
                CreateOptions.of(1 << 20).with("subformat", "monolithicFlat").with("zeroed_grain", "on")));
        assertThrows(UnsupportedFeatureException.class, () -> f.create(dir.resolve("d.vmdk"),
                CreateOptions.of(1 << 20).with("compat6", "on").with("hwversion", "7")));
        assertThrows(UnsupportedFeatureException.class, () -> f.create(dir.resolve("e.vmdk"),
                CreateOptions.of(1 << 20).with("zeroed_grain", "maybe")));
        assertEquals(0, dir.toFile().list().length, "nothing left behind");
    }

    /** Directories whose tables are not preallocated (entry 0) get new tables at the end of the file. */
    @Test
    void writesAllocateMissingGrainTables() throws IOException {
        Tools.need("qemu-img");
        int size = 80 << 20; // three tables of 32 MiB
        Path img = dir.resolve("t.vmdk");
        try (Image created = new VmdkFormat().create(img, CreateOptions.of(size))) {
            created.flush();
        }
        byte[] f = Files.readAllBytes(img);
        SparseHeader h = SparseHeader.parse(org.vdmount.vd.Bytes.of(f));
        for (long gd : new long[] {h.gdOffset(), h.rgdOffset()}) {
            org.vdmount.vd.Bytes.of(f).put32le((int) gd * 512 + 4, 0); // table 1: none
        }
        Files.write(img, f);
        byte[] model = new byte[size];
        try (Disk d = Disk.open(img, OpenOptions.defaultReadWrite())) {
            Random r = new Random(8);
            for (int i = 0; i < 50; i++) {
                int off = (32 << 20) + r.nextInt(32 << 20);
                byte[] data = new byte[1 + r.nextInt(100_000)];
                r.nextBytes(data);
                int len = Math.min(data.length, size - off);
                d.write(off, ByteBuffer.wrap(data, 0, len));
                System.arraycopy(data, 0, model, off, len);
            }
        }
        assertTrue(Files.size(img) > f.length);
        Tools.qemuCheck(img);
        Path modelRaw = dir.resolve("model.raw");
        Files.write(modelRaw, model);
        Tools.qemuCompare(modelRaw, img);
    }

    @Test
    void changedBlockTrackingBlocksWritableOpens() throws IOException {
        Files.write(dir.resolve("cbt-flat.vmdk"), new byte[4096]);
        Path desc = dir.resolve("cbt.vmdk");
        Files.writeString(desc, "# Disk DescriptorFile\nversion=3\nCID=1\nparentCID=ffffffff\n"
                + "createType=\"monolithicFlat\"\nRW 8 FLAT \"cbt-flat.vmdk\" 0\n\n# Change Tracking File\n"
                + "changeTrackPath=\"cbt-ctk.vmdk\"\n");
        UnsupportedFeatureException e = assertThrows(UnsupportedFeatureException.class,
                () -> Disk.open(desc, OpenOptions.defaultReadWrite()));
        assertTrue(e.getMessage().contains("changed block tracking"), e.getMessage());
        try (Disk d = Disk.open(desc, OpenOptions.defaultReadOnly())) {
            assertEquals(4096, d.size());
        }
    }
}
