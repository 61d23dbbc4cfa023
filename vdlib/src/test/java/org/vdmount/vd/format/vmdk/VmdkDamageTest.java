package org.vdmount.vd.format.vmdk;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Random;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.vdmount.vd.Bytes;
import org.vdmount.vd.CorruptImageException;
import org.vdmount.vd.Disk;
import org.vdmount.vd.OpenOptions;
import org.vdmount.vd.ReadOnlyException;
import org.vdmount.vd.UnsupportedFeatureException;
import org.vdmount.vd.VdException;

/** Damaged metadata, redundant copies, and the rules for untrusted descriptors. */
class VmdkDamageTest {
    private static final int SIZE = 3 * 1024 * 1024;

    @TempDir
    Path dir;

    /** A qemu-made monolithicSparse image and its content (as qemu reads it, before any damage). */
    private byte[] qemuImage(Path img, long seed) throws IOException {
        Path src = dir.resolve("src-" + seed + ".raw");
        Files.write(src, Tools.source(SIZE, seed));
        Tools.run(dir, "qemu-img", "convert", "-O", "vmdk", src.toString(), img.toString());
        return Files.readAllBytes(Tools.qemuRaw(img, "oracle-" + seed + ".raw"));
    }

    private static SparseHeader header(byte[] f) {
        return SparseHeader.parse(Bytes.of(f));
    }

    @Test
    void damagedPrimaryGrainTableFallsBackToTheRedundantOneWithAWarning() throws IOException {
        Tools.need("qemu-img");
        Path img = dir.resolve("d.vmdk");
        byte[] content = qemuImage(img, 1);
        byte[] f = Files.readAllBytes(img);
        SparseHeader h = header(f);
        long gt0 = Bytes.of(f).u32le((int) h.gdOffset() * 512) * 512;
        byte[] garbage = new byte[2048];
        new Random(5).nextBytes(garbage);
        System.arraycopy(garbage, 0, f, (int) gt0, garbage.length);
        Files.write(img, f);

        List<String> warnings = new ArrayList<>();
        try (Disk d = Disk.open(img, OpenOptions.defaultReadOnly().withWarnings(warnings::add))) {
            assertArrayEquals(content, Tools.readAll(d));
        }
        assertEquals(1, warnings.size(), warnings.toString());
        assertTrue(warnings.get(0).contains("redundant"), warnings.get(0));

        // a writable session rewrites the table it touched to both copies: qemu reads it again
        try (Disk d = Disk.open(img, OpenOptions.defaultReadWrite())) {
            d.write(100, ByteBuffer.wrap(new byte[] {7}));
            content[100] = 7;
        }
        Tools.qemuCheck(img);
        Path model = dir.resolve("model.raw");
        Files.write(model, content);
        Tools.qemuCompare(model, img);
    }

    @Test
    void damagedPrimaryDirectoryEntryUsesTheRedundantTable() throws IOException {
        Tools.need("qemu-img");
        Path img = dir.resolve("g.vmdk");
        byte[] content = qemuImage(img, 2);
        byte[] f = Files.readAllBytes(img);
        Bytes.of(f).put32le((int) header(f).gdOffset() * 512, 0x00FF_FFFF); // GD[0] past the end
        Files.write(img, f);
        List<String> warnings = new ArrayList<>();
        try (Disk d = Disk.open(img, OpenOptions.defaultReadOnly().withWarnings(warnings::add))) {
            assertArrayEquals(content, Tools.readAll(d));
        }
        assertEquals(1, warnings.size(), warnings.toString());
        UnsupportedFeatureException e = assertThrows(UnsupportedFeatureException.class,
                () -> Disk.open(img, OpenOptions.defaultReadWrite()));
        assertTrue(e.getMessage().contains("damaged"), e.getMessage());
    }

    @Test
    void bothCopiesDamagedMakesOnlyTheAffectedGrainsFail() throws IOException {
        Tools.need("qemu-img");
        Path img = dir.resolve("b.vmdk");
        byte[] content = qemuImage(img, 3);
        byte[] f = Files.readAllBytes(img);
        SparseHeader h = header(f);
        long gt0 = Bytes.of(f).u32le((int) h.gdOffset() * 512) * 512;
        long rgt0 = Bytes.of(f).u32le((int) h.rgdOffset() * 512) * 512;
        int grain = 5;
        while (Bytes.of(f).u32le((int) gt0 + grain * 4) == 0) {
            grain++;
        }
        Bytes.of(f).put32le((int) gt0 + grain * 4, 0x0FFF_FFFF);
        Bytes.of(f).put32le((int) rgt0 + grain * 4, 0x0FFF_FFFF);
        Files.write(img, f);
        List<String> warnings = new ArrayList<>();
        try (Disk d = Disk.open(img, OpenOptions.defaultReadOnly().withWarnings(warnings::add))) {
            long bad = grain * 65536L;
            CorruptImageException e = assertThrows(CorruptImageException.class,
                    () -> d.read(bad, ByteBuffer.allocate(512)));
            assertTrue(e.getMessage().contains("past the end"), e.getMessage());
            byte[] before = new byte[(int) bad];
            d.read(0, ByteBuffer.wrap(before));
            assertArrayEquals(Arrays.copyOf(content, (int) bad), before);
        }
        assertEquals(1, warnings.size(), warnings.toString());
    }

    @Test
    void truncatedSparseImageIsATruncationError() throws IOException {
        Tools.need("qemu-img");
        Path img = dir.resolve("t.vmdk");
        qemuImage(img, 4);
        byte[] f = Files.readAllBytes(img);
        Files.write(img, Arrays.copyOf(f, f.length - 100_000));
        try (Disk d = Disk.open(img, OpenOptions.defaultReadOnly())) {
            assertThrows(VdException.class, () -> Tools.readAll(d));
        }
        Files.write(img, Arrays.copyOf(f, 700));
        assertThrows(VdException.class, () -> Disk.open(img, OpenOptions.defaultReadOnly()));
    }

    private Path descriptor(String name, String extentLines) throws IOException {
        Path p = dir.resolve(name);
        Files.writeString(p, EsxFixtures.descriptor("monolithicFlat", 1, 0xFFFF_FFFFL, null, extentLines));
        return p;
    }

    @Test
    void extentFilesStayInsideTheDescriptorsDirectory() throws IOException {
        Path sub = Files.createDirectory(dir.resolve("sub"));
        Files.write(dir.resolve("outside.bin"), new byte[4096]);
        Files.write(sub.resolve("in.bin"), new byte[4096]);
        Files.createDirectory(sub.resolve("deeper"));
        Files.write(sub.resolve("deeper/x.bin"), Tools.source(4096, 1));
        Path abs = dir.resolve("outside.bin").toAbsolutePath();
        for (String name : new String[] {"../outside.bin", abs.toString(), "deeper/../../outside.bin",
            "C:\\\\disks\\\\outside.bin"}) {
            Path desc = dir.resolve("sub/bad.vmdk");
            Files.writeString(desc, EsxFixtures.descriptor("monolithicFlat", 1, 0xFFFF_FFFFL, null,
                    "RW 8 FLAT \"" + name + "\" 0"));
            VdException e = assertThrows(VdException.class, () -> Disk.open(desc, OpenOptions.defaultReadOnly()),
                    name);
            assertTrue(e.getMessage().contains("outside"), e.getMessage());
        }
        // the explicit option follows them
        Path desc = dir.resolve("sub/ok.vmdk");
        Files.writeString(desc, EsxFixtures.descriptor("monolithicFlat", 1, 0xFFFF_FFFFL, null,
                "RW 8 FLAT \"" + abs + "\" 0"));
        try (Disk d = Disk.open(desc, OpenOptions.defaultReadOnly().withAllowAbsoluteParents(true))) {
            assertEquals(4096, d.size());
        }
        // subdirectories are inside
        Path deep = dir.resolve("sub/deep.vmdk");
        Files.writeString(deep, EsxFixtures.descriptor("monolithicFlat", 1, 0xFFFF_FFFFL, null,
                "RW 8 FLAT \"deeper/x.bin\" 0"));
        try (Disk d = Disk.open(deep, OpenOptions.defaultReadOnly())) {
            assertArrayEquals(Tools.source(4096, 1), Tools.readAll(d));
        }
        // an absolute name whose file sits next to the descriptor is taken from there, with a warning
        Path copied = dir.resolve("sub/copied.vmdk");
        Files.writeString(copied, EsxFixtures.descriptor("vmfs", 1, 0xFFFF_FFFFL, null,
                "RW 8 VMFS \"/vmfs/volumes/datastore1/vm/in.bin\""));
        List<String> warnings = new ArrayList<>();
        try (Disk d = Disk.open(copied, OpenOptions.defaultReadOnly().withWarnings(warnings::add))) {
            assertEquals(4096, d.size());
        }
        assertEquals(1, warnings.size(), warnings.toString());
        Path missing = descriptor("missing.vmdk", "RW 8 FLAT \"nope.bin\" 0");
        VdException e = assertThrows(VdException.class, () -> Disk.open(missing, OpenOptions.defaultReadOnly()));
        assertTrue(e.getMessage().contains("not found"), e.getMessage());
    }

    @Test
    void accessModesAndZeroExtents() throws IOException {
        byte[] a = Tools.source(8192, 2);
        Files.write(dir.resolve("a.bin"), a);
        Path desc = descriptor("m.vmdk", "RW 16 FLAT \"a.bin\" 0\nRDONLY 8 FLAT \"a.bin\" 0\nRW 8 ZERO\n"
                + "NOACCESS 8 FLAT \"a.bin\" 0");
        try (Disk d = Disk.open(desc, OpenOptions.defaultReadWrite())) {
            assertEquals(40 * 512, d.size());
            byte[] got = new byte[32 * 512];
            d.read(0, ByteBuffer.wrap(got));
            assertArrayEquals(a, Arrays.copyOf(got, 8192));
            assertArrayEquals(Arrays.copyOf(a, 4096), Arrays.copyOfRange(got, 8192, 12288));
            assertArrayEquals(new byte[4096], Arrays.copyOfRange(got, 12288, 16384));
            assertThrows(VdException.class, () -> d.read(32 * 512, ByteBuffer.allocate(512)));
            assertThrows(ReadOnlyException.class, () -> d.write(8192, ByteBuffer.allocate(512)));
            d.write(0, ByteBuffer.wrap(new byte[] {1, 2}));
        }
        byte[] after = Files.readAllBytes(dir.resolve("a.bin"));
        assertEquals(1, after[0]);
        assertEquals(2, after[1]);
    }

    @Test
    void descriptorParsingIsTolerantButBounded() throws VdException {
        String text = "\uFEFF\n  # Disk DescriptorFile\r\nversion=1\r\nencoding=\"UTF-8\"\r\nCID=0001abcd\r\n"
                + "parentCID=ffffffff\r\nisNativeSnapshot=\"no\"\r\ncreateType=\"twoGbMaxExtentSparse\"\r\n"
                + "RW 4192256 SPARSE \"my disk-s001.vmdk\"\r\nRDONLY 100 FLAT \"f.vmdk\" 2048\r\nRW 5 ZERO\r\n"
                + "ddb.uuid = \"60 00 C2 9e 4f 5a 3d 0b-44 1e 7b 21 e3 0d 7f 4c\"\r\n";
        Descriptor d = Descriptor.parse(text, "t");
        assertEquals(0x1abcd, d.cid());
        assertEquals(3, d.extents().size());
        assertEquals("my disk-s001.vmdk", d.extents().get(0).fileName());
        assertEquals(2048, d.extents().get(1).offsetSectors());
        assertEquals(ExtentLine.Access.RDONLY, d.extents().get(1).access());
        assertEquals("6000c29e-4f5a-3d0b-441e-7b21e30d7f4c", d.uuid().toString());
        String renewed = d.withCid(0xdeadbeefL);
        assertEquals(1, renewed.split("CID=deadbeef", -1).length - 1);
        assertTrue(renewed.contains("parentCID=ffffffff\r\n"), renewed);
        assertEquals(0xdeadbeefL, Descriptor.parse(renewed, "t").cid());
        assertThrows(CorruptImageException.class, () -> Descriptor.parse("version=1\nCID=zz\ncreateType=\"x\"", "t"));
        assertThrows(CorruptImageException.class, () -> Descriptor.parse("version=1\nCID=1\n", "t"));
        assertThrows(CorruptImageException.class,
                () -> Descriptor.parse("version=1\ncreateType=\"x\"\nRW 5 SPARSE \"unterminated\n", "t"));
        assertThrows(UnsupportedFeatureException.class, () -> Descriptor.parse("version=9\ncreateType=\"x\"", "t"));
        byte[] cp1252 = "version=1\nencoding=\"windows-1252\"\ncreateType=\"monolithicFlat\"\nRW 8 FLAT \"Platte-\u00c4.vmdk\" 0\n"
                .getBytes(java.nio.charset.Charset.forName("windows-1252"));
        Descriptor w = Descriptor.parse(Descriptor.decode(cp1252, cp1252.length), "t");
        assertEquals("Platte-\u00c4.vmdk", w.extents().get(0).fileName());
        assertEquals("windows-1252", w.charset().name());
        StringBuilder many = new StringBuilder("version=1\ncreateType=\"x\"\n");
        for (int i = 0; i <= Descriptor.MAX_EXTENTS; i++) {
            many.append("RW 1 ZERO\n");
        }
        assertThrows(CorruptImageException.class, () -> Descriptor.parse(many.toString(), "t"));
    }

    /** A stream footer found behind padding; a stream cut before its footer is a clean error. */
    @Test
    void streamFooterIsFoundBehindPaddingAndItsAbsenceIsReported() throws IOException {
        byte[] content = Tools.source(SIZE, 12);
        Path img = dir.resolve("s.vmdk");
        try (org.vdmount.vd.Image created = new VmdkFormat().create(img,
                org.vdmount.vd.CreateOptions.of(SIZE).with("subformat", "streamOptimized"));
             Disk d = Disk.of(List.of(created))) {
            d.write(0, ByteBuffer.wrap(content));
        }
        byte[] f = Files.readAllBytes(img);
        Files.write(img, Arrays.copyOf(f, f.length + 8192)); // zero padding after the end-of-stream marker
        try (Disk d = Disk.open(img, OpenOptions.defaultReadOnly())) {
            assertArrayEquals(content, Tools.readAll(d));
        }
        Files.write(img, Arrays.copyOf(f, f.length - 1024));
        CorruptImageException e = assertThrows(CorruptImageException.class,
                () -> Disk.open(img, OpenOptions.defaultReadOnly()));
        assertTrue(e.getMessage().contains("incomplete stream"), e.getMessage());
    }
}
