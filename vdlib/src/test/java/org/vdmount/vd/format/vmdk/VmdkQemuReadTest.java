package org.vdmount.vd.format.vmdk;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.io.RandomAccessFile;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;
import org.vdmount.vd.Disk;
import org.vdmount.vd.FormatRegistry;
import org.vdmount.vd.OpenOptions;

/** Every subformat qemu-img makes, read byte for byte against qemu-img's own raw conversion. */
class VmdkQemuReadTest {
    private static final int SIZE = 6 * 1024 * 1024 + 3 * 512 + 77; // qemu rounds up to a sector

    @TempDir
    Path dir;

    private Path sourceRaw(long seed) throws IOException {
        Path src = dir.resolve("src.raw");
        Files.write(src, Tools.source(SIZE, seed));
        return src;
    }

    @ParameterizedTest
    @ValueSource(strings = {
        "subformat=monolithicSparse",
        "subformat=monolithicFlat",
        "subformat=twoGbMaxExtentSparse",
        "subformat=twoGbMaxExtentFlat",
        "subformat=streamOptimized",
        "subformat=monolithicSparse,compat6=on",
        "subformat=monolithicSparse,hwversion=14,adapter_type=lsilogic",
        "subformat=monolithicSparse,zeroed_grain=on",
        "subformat=twoGbMaxExtentSparse,zeroed_grain=on",
        "subformat=streamOptimized,compat6=on",
    })
    void readsQemuConversionsByteExact(String opts) throws IOException {
        Tools.need("qemu-img");
        Path src = sourceRaw(opts.hashCode());
        Path img = dir.resolve("img.vmdk");
        Tools.run(dir, "qemu-img", "convert", "-O", "vmdk", "-o", opts, src.toString(), img.toString());
        Path oracle = Tools.qemuRaw(img, "oracle.raw");
        assertEquals("vmdk", FormatRegistry.probe(img).name());
        List<String> warnings = new ArrayList<>();
        try (Disk d = Disk.open(img, OpenOptions.defaultReadOnly().withWarnings(warnings::add))) {
            Tools.assertSameAsFile(d, oracle);
            String expected = opts.split(",")[0].substring("subformat=".length());
            assertEquals(expected, d.top().variant());
        }
        assertTrue(warnings.isEmpty(), warnings.toString());
    }

    @Test
    void zeroedGrainsReadAsZeroHidingNothingBelow() throws IOException {
        Tools.need("qemu-img", "qemu-io");
        Path src = sourceRaw(5);
        Path img = dir.resolve("z.vmdk");
        Tools.run(dir, "qemu-img", "convert", "-O", "vmdk", "-o", "zeroed_grain=on", src.toString(), img.toString());
        // whole-grain zero writes become GTE=1 entries with zeroed_grain
        Tools.run(dir, "qemu-io", "-c", "write -z 0 256k", "-c", "write -z 1M 64k", img.toString());
        Path oracle = Tools.qemuRaw(img, "oracle.raw");
        try (Disk d = Disk.open(img, OpenOptions.defaultReadOnly())) {
            Tools.assertSameAsFile(d, oracle);
            assertEquals(org.vdmount.vd.Allocation.ZERO, org.vdmount.vd.Run.kind(d.top().map(0, 65536)));
        }
    }

    /** A split set larger than one 2 GiB extent: the second extent is really used. */
    @Test
    void readsSplitSparseSetAcrossExtents() throws IOException {
        Tools.need("qemu-img");
        long size = (2L << 30) + (3 << 20);
        Path src = dir.resolve("big.raw");
        byte[] a = Tools.source(1 << 20, 11);
        try (RandomAccessFile f = new RandomAccessFile(src.toFile(), "rw")) {
            f.setLength(size);
            f.seek((2L << 30) - 300_000); // data straddling the extent boundary
            f.write(a);
            f.seek(size - a.length);
            f.write(a);
        }
        Path img = dir.resolve("big.vmdk");
        Tools.run(dir, "qemu-img", "convert", "-O", "vmdk", "-o", "subformat=twoGbMaxExtentSparse", src.toString(),
                img.toString());
        assertTrue(Files.exists(dir.resolve("big-s002.vmdk")));
        try (Disk d = Disk.open(img, OpenOptions.defaultReadOnly())) {
            assertEquals(2, ((VmdkImage) d.top()).extents().size());
            Tools.qemuCompare(Tools.dumpSparse(d, dir.resolve("ours.raw")), img);
        }
        Tools.run(dir, "qemu-img", "compare", "-f", "raw", "-F", "raw", src.toString(), dir.resolve("ours.raw").toString());
    }

    /**
     * A hand-written descriptor mixing FLAT extents (with start offsets, one file used twice),
     * qemu-made SPARSE extents: qemu-img reads the same descriptor as oracle.
     */
    @Test
    void readsMixedExtentDescriptor() throws IOException {
        Tools.need("qemu-img");
        byte[] flatBytes = Tools.source(3 << 20, 21);
        Files.write(dir.resolve("data.bin"), flatBytes);
        Path s1 = dir.resolve("s1.raw");
        Files.write(s1, Tools.source(1 << 20, 22));
        Tools.run(dir, "qemu-img", "convert", "-O", "vmdk", s1.toString(), dir.resolve("part-s1.vmdk").toString());
        Path s2 = dir.resolve("s2.raw");
        Files.write(s2, Tools.source((1 << 20) + 1024, 23));
        Tools.run(dir, "qemu-img", "convert", "-O", "vmdk", "-o", "zeroed_grain=on", s2.toString(),
                dir.resolve("part s2.vmdk").toString());
        String desc = "# Disk DescriptorFile\r\nversion=1\r\nCID=fffffffe\r\nparentCID=ffffffff\r\n"
                + "createType=\"twoGbMaxExtentSparse\"\r\n\r\n# Extent description\r\n"
                + "RW 1000 FLAT \"data.bin\" 7\r\n"
                + "RW 2048 SPARSE \"part-s1.vmdk\"\r\n"
                + "RW 3 FLAT \"data.bin\" 5000\r\n"
                + "RW 2050 SPARSE \"part s2.vmdk\"\r\n"
                + "RW 128 VMFS \"data.bin\"\r\n"
                + "\r\n# The Disk Data Base\r\n#DDB\r\nddb.adapterType = \"lsilogic\"\r\n";
        Path img = dir.resolve("mixed.vmdk");
        Files.writeString(img, desc);
        Path oracle = Tools.qemuRaw(img, "oracle.raw");
        try (Disk d = Disk.open(img, OpenOptions.defaultReadOnly())) {
            assertEquals(5, ((VmdkImage) d.top()).extents().size());
            Tools.assertSameAsFile(d, oracle);
        }
    }
    /**
     * map() answers one run for grains stored one after another (one read serves it), stops where
     * the file order breaks, and spans unallocated and zeroed grains; reads stay byte-exact.
     */
    @Test
    void runsSpanGrainsStoredOneAfterAnother() throws IOException {
        Tools.need("qemu-img", "qemu-io");
        long k = 1024;
        long size = 8 << 20;
        Path img = dir.resolve("r.vmdk");
        Tools.run(dir, "qemu-img", "create", "-q", "-f", "vmdk", "-o", "zeroed_grain=on", img.toString(),
                Long.toString(size));
        // file order: grains 0-3, the grain at 1M, then grain 4 (not after grain 3 in the file)
        Tools.run(dir, "qemu-io", "-f", "vmdk", "-c", "write -P 1 0 256K", "-c", "write -P 2 1M 64K",
                "-c", "write -P 3 256K 64K", "-c", "write -z 2M 192K", img.toString());
        Path oracle = Tools.qemuRaw(img, "oracle.raw");
        try (Disk d = Disk.open(img, OpenOptions.defaultReadOnly())) {
            Tools.assertSameAsFile(d, oracle);
            org.vdmount.vd.Image top = d.top();
            assertRun(top.map(0, size), org.vdmount.vd.Allocation.DATA, 256 * k);
            assertRun(top.map(100, size - 100), org.vdmount.vd.Allocation.DATA, 256 * k - 100);
            assertRun(top.map(256 * k, size - 256 * k), org.vdmount.vd.Allocation.DATA, 64 * k);
            assertRun(top.map(320 * k, size - 320 * k), org.vdmount.vd.Allocation.UNALLOCATED, 704 * k);
            assertRun(top.map(2240 * k, size - 2240 * k), org.vdmount.vd.Allocation.UNALLOCATED, size - 2240 * k);
            assertRun(top.map(2048 * k, size - 2048 * k), org.vdmount.vd.Allocation.ZERO, 192 * k);
        }
    }

    private static void assertRun(long run, org.vdmount.vd.Allocation kind, long length) {
        assertEquals(kind, org.vdmount.vd.Run.kind(run));
        assertEquals(length, org.vdmount.vd.Run.length(run));
    }
}
