package org.vdmount.vd.format.vhd;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.vdmount.vd.format.vhd.VhdTestSupport.assertBytes;
import static org.vdmount.vd.format.vhd.VhdTestSupport.assumeTool;

import java.nio.ByteBuffer;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Random;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;
import org.vdmount.vd.CreateOptions;
import org.vdmount.vd.Disk;
import org.vdmount.vd.Image;
import org.vdmount.vd.OpenOptions;
import org.vdmount.vd.UnsupportedFeatureException;

/** Images we create: qemu-img must see the exact size, a clean image, and the bytes we wrote. */
class VhdCreateTest {
    @TempDir
    static Path dir;

    @BeforeAll
    static void tools() {
        assumeTool("qemu-img");
    }

    @ParameterizedTest(name = "{0} {1} bytes")
    @CsvSource({
        "dynamic, 1", "dynamic, 512", "dynamic, 10487296", "dynamic, 12345678", "dynamic, 136365211648",
        "dynamic, 137438953472", "dynamic, 536870912000", "dynamic, 2190433320960",
        "fixed, 512", "fixed, 10487296", "fixed, 12345678", "fixed, 3221225984"})
    void qemuSeesTheExactSize(String subformat, long size) throws Exception {
        Path img = dir.resolve("size-" + subformat + "-" + size + ".vhd");
        try (Image i = new VhdFormat().create(img, CreateOptions.of(size).with("subformat", subformat))) {
            assertEquals(subformat, i.variant());
            assertEquals((size + 511) / 512 * 512, i.virtualSize());
        }
        assertEquals((size + 511) / 512 * 512, VhdTestSupport.qemuSize(img));
        VhdTestSupport.qemuCheck(img);
        Files.delete(img);
    }

    @ParameterizedTest(name = "{0} {1} bytes block {2}")
    @CsvSource({"dynamic, 10487296, 2M", "dynamic, 12345678, 512K", "dynamic, 5000000, 64K",
        "fixed, 12345678, ''", "fixed, 4194304, ''"})
    void writtenBytesReadBackInQemu(String subformat, int size, String blockSize) throws Exception {
        Path img = dir.resolve("data-" + subformat + "-" + size + ".vhd");
        CreateOptions o = CreateOptions.of(size).with("subformat", subformat);
        if (!blockSize.isEmpty()) {
            o = o.with("block_size", blockSize);
        }
        int virtual = (size + 511) / 512 * 512;
        byte[] model = new byte[virtual];
        Random r = new Random(size);
        try (Disk d = Disk.of(List.of(new VhdFormat().create(img, o)))) {
            for (int i = 0; i < 60; i++) {
                int off = r.nextInt(virtual);
                int len = Math.min(virtual - off, 1 + r.nextInt(i % 6 == 0 ? 3_000_000 : 50_000));
                byte[] data = new byte[len];
                r.nextBytes(data);
                d.write(off, ByteBuffer.wrap(data));
                System.arraycopy(data, 0, model, off, len);
            }
        }
        assertEquals(virtual, VhdTestSupport.qemuSize(img));
        VhdTestSupport.qemuCheck(img);
        assertBytes(model, VhdTestSupport.qemuRaw(img, dir), "qemu-img convert of " + img.getFileName());
        try (Disk d = Disk.open(img, OpenOptions.defaultReadOnly())) {
            assertBytes(model, VhdTestSupport.readAll(d, 5), "reopened " + img.getFileName());
        }
    }

    @Test
    void rejectsBadOptions() throws Exception {
        VhdFormat f = new VhdFormat();
        Path img = dir.resolve("bad.vhd");
        assertThrows(UnsupportedFeatureException.class, () -> f.create(img, CreateOptions.of(1 << 20).with("foo", "1")));
        assertThrows(UnsupportedFeatureException.class,
                () -> f.create(img, CreateOptions.of(1 << 20).with("subformat", "sparse")));
        assertThrows(UnsupportedFeatureException.class,
                () -> f.create(img, CreateOptions.of(1 << 20).with("block_size", "3000")));
        assertThrows(UnsupportedFeatureException.class,
                () -> f.create(img, CreateOptions.of(1 << 20).with("subformat", "fixed").with("block_size", "2M")));
        assertThrows(UnsupportedFeatureException.class, () -> f.create(img, CreateOptions.of(0)));
        assertThrows(UnsupportedFeatureException.class, () -> f.create(img, CreateOptions.of(2041L << 30)));
        assertFalse(Files.exists(img));
    }

    /** qemu-img writes the specification's geometry; ours must be the same for the same sector count. */
    @ParameterizedTest(name = "{0} bytes")
    @CsvSource({"1048576", "10485760", "104857600", "1073741824", "4294967296", "34359738368", "68719476736",
        "136365211648", "1099511627776"})
    void geometryMatchesQemu(long size) throws Exception {
        Path img = dir.resolve("geo-" + size + ".vhd");
        VhdTestSupport.ok("qemu-img", "create", "-q", "-f", "vpc", img.toString(), Long.toString(size));
        byte[] raw = Files.readAllBytes(img);
        org.vdmount.vd.Bytes f = org.vdmount.vd.Bytes.of(raw).at(raw.length - 512);
        VhdFooter footer = VhdFooter.parse(f);
        long chs = VhdGeometry.chsFor(footer.currentSizeBytes() / 512);
        assertEquals(footer.cylinders() + "/" + footer.heads() + "/" + footer.sectorsPerTrack(),
                VhdGeometry.cylinders(chs) + "/" + VhdGeometry.heads(chs) + "/" + VhdGeometry.sectorsPerTrack(chs));
        long max = VhdGeometry.chsFor(Long.MAX_VALUE / 1024);
        assertEquals(65535L * 16 * 255, (long) VhdGeometry.cylinders(max) * VhdGeometry.heads(max)
                * VhdGeometry.sectorsPerTrack(max));
        Files.delete(img);
    }

    /**
     * force_size=off (qemu-img's default for vpc): the size is rounded up to a whole CHS geometry,
     * to qemu-img create's size and geometry for the same request, sizes at the largest geometry
     * kept as asked; on (our default) keeps the size asked for.
     */
    @ParameterizedTest(name = "{0} bytes")
    @CsvSource({"512", "3145728", "8388608", "1264435200", "136365219840", "137438953472", "2147483648000",
        "2190433320960"})
    void forceSizeOffRoundsUpToAGeometryAsQemuImgDoes(long size) throws Exception {
        Path ours = dir.resolve("fs-" + size + ".vhd");
        Path theirs = dir.resolve("fq-" + size + ".vhd");
        new VhdFormat().create(ours, CreateOptions.of(size).with("force_size", "off")).close();
        VhdTestSupport.ok("qemu-img", "create", "-q", "-f", "vpc", theirs.toString(), Long.toString(size));
        assertEquals(VhdTestSupport.qemuSize(theirs), VhdTestSupport.qemuSize(ours));
        byte[] a = Files.readAllBytes(ours);
        byte[] b = Files.readAllBytes(theirs);
        VhdFooter fo = VhdFooter.parse(org.vdmount.vd.Bytes.of(a).at(a.length - 512));
        VhdFooter fq = VhdFooter.parse(org.vdmount.vd.Bytes.of(b).at(b.length - 512));
        assertEquals(fq.cylinders() + "/" + fq.heads() + "/" + fq.sectorsPerTrack(),
                fo.cylinders() + "/" + fo.heads() + "/" + fo.sectorsPerTrack());
        VhdTestSupport.qemuCheck(ours);
        Path exact = dir.resolve("fe-" + size + ".vhd");
        new VhdFormat().create(exact, CreateOptions.of(size).with("force_size", "on")).close();
        assertEquals((size + 511) / 512 * 512, VhdTestSupport.qemuSize(exact));
        Files.delete(ours);
        Files.delete(theirs);
        Files.delete(exact);
    }
}
