package org.vdmount.vd;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.vdmount.vd.ChainTesting.qemuIo;
import static org.vdmount.vd.ChainTesting.qemuName;
import static org.vdmount.vd.ChainTesting.qemuRaw;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Random;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;
import org.vdmount.vd.conformance.DiskBytes;
import org.vdmount.vd.format.qcow2.QemuTools;

/**
 * {@link ImageResize} over every format that can: an image qemu-img made and qemu-io filled grows;
 * the old bytes stay, the new area reads zeros and takes writes; qemu-img info shows the new size,
 * qemu-img check is clean and qemu-img compare finds it identical to a raw model. Where qemu-img
 * resizes the format too, its result on a copy is the same disk. Shrinking: refused without
 * --shrink, refused over data (naming the offset), done when only zeros are cut.
 */
class ImageResizeTest {
    private static final long MIB = 1 << 20;

    @TempDir
    Path dir;

    @BeforeAll
    static void qemu() {
        QemuTools.assumeQemu();
    }

    /** format, qemu-img create options, initial size, the resize argument, whether qemu-img resizes it too. */
    @ParameterizedTest(name = "{0} {1} {2} {3}")
    @CsvSource(delimiter = ';', value = {
            "raw;;10M;+3G;true",
            "qcow2;;10M;+3G;true",
            "qcow2;cluster_size=512;10M;+3G;true",
            "qcow2;compat=0.10,cluster_size=4096;3M;5000M;true",
            "vdi;;10M;+2G;false",
            "vdi;;100M;+500G;false",
            "vdi;;3M;3584K;false",
            "vhd;subformat=dynamic,force_size=on;10M;+3G;false",
            "vhd;subformat=dynamic,force_size=on;10M;+100M;false",
            "vhd;subformat=fixed,force_size=on;10M;+50M;false",
            "qed;;10M;+3G;true",
            "vhdx;;10M;+3G;false",
            "vhdx;block_size=1M,log_size=1M;3M;+9G;false",   // crosses two 4 GiB chunks (sector bitmap entries)
            "vmdk;;10M;+3G;false",                          // the directory's sector has room
            "vmdk;;10M;+20G;false",                         // the directory is written anew
            "vmdk;subformat=monolithicFlat;10M;+1G;false",
    })
    void growKeepsTheDataAndAddsZeros(String format, String createOpts, String size, String grow, boolean qemuResizes)
            throws IOException {
        String ext = ChainTesting.extension(format);
        Path img = dir.resolve("d." + ext);
        List<String> create = new ArrayList<>(List.of("create", "-q", "-f", qemuName(format)));
        if (createOpts != null && !createOpts.isEmpty()) {
            create.addAll(List.of("-o", createOpts));
        }
        create.addAll(List.of(img.toString(), size));
        QemuTools.img(dir, create.toArray(new String[0]));
        long oldSize = Sizes.parse(size);
        qemuIo(dir, format, img, ChainTesting.patternCommands(new Random(oldSize), oldSize, 0, false));
        byte[] before = qemuRaw(img, format);
        Path theirs = dir.resolve("theirs." + ext);
        if (qemuResizes) {
            Files.copy(img, theirs);
            QemuTools.img(dir, "resize", "-q", "-f", qemuName(format), theirs.toString(), grow);
        }

        ImageResize.Result r = ImageResize.resize(img, null, grow, false, OpenOptions.defaultReadOnly());
        long newSize = ImageResize.target(oldSize, grow);
        assertEquals(oldSize, r.oldSize());
        assertEquals(newSize, r.newSize());
        assertEquals(newSize, qemuVirtualSize(img, format), "qemu-img info " + img);
        assertChecksClean(img, format, newSize);
        try (Disk d = Disk.open(img, OpenOptions.defaultReadOnly())) {
            assertEquals(newSize, d.size());
            ByteBuffer old = ByteBuffer.allocate(before.length);
            d.read(0, old);
            assertArrayEquals(before, old.array(), "the old bytes after the resize");
            assertZeros(d, oldSize, newSize - oldSize);
        }
        if (qemuResizes) {
            assertEquals(newSize, qemuVirtualSize(theirs, format), "qemu-img resize's size");
            compare(format, img, format, theirs, "qemu-img resize of the same image");
        }

        // the new area takes writes: near the old end, in the middle of the new area, at the very end
        Path model = dir.resolve("model.raw");
        Files.write(model, before);
        try (var ch = java.nio.channels.FileChannel.open(model, java.nio.file.StandardOpenOption.WRITE)) {
            ch.truncate(newSize);
            ch.write(ByteBuffer.allocate(1), newSize - 1);
        }
        long[] spots = {oldSize - 100, oldSize + (newSize - oldSize) / 2 / 512 * 512 + 3, newSize - 4096};
        try (Disk d = Disk.open(img, OpenOptions.defaultReadWrite());
             var ch = java.nio.channels.FileChannel.open(model, java.nio.file.StandardOpenOption.WRITE)) {
            for (int i = 0; i < spots.length; i++) {
                byte[] pattern = new byte[4096];
                Arrays.fill(pattern, (byte) (0x61 + i));
                d.write(spots[i], ByteBuffer.wrap(pattern));
                ch.write(ByteBuffer.wrap(pattern), spots[i]);
            }
        }
        assertChecksClean(img, format, newSize);
        compare(format, img, "raw", model, "the raw model after writes into the new area");
    }

    @ParameterizedTest(name = "{0}")
    @CsvSource({"raw", "qcow2", "vdi", "qed", "vhdx"})
    void shrinkNeedsTheFlagAndRefusesToCutData(String format) throws IOException {
        Path img = dir.resolve("s." + ChainTesting.extension(format));
        QemuTools.img(dir, "create", "-q", "-f", qemuName(format), img.toString(), "64M");
        qemuIo(dir, format, img, "write -P 0x5a 0 1M", "write -P 0x6b 40M 4096", "write -z 50M 1M");
        OpenOptions ro = OpenOptions.defaultReadOnly();

        VdException e = assertThrows(VdException.class, () -> ImageResize.resize(img, null, "32M", false, ro));
        DiskBytes.assertOneLine(e, "use --shrink", img.toString());
        e = assertThrows(VdException.class, () -> ImageResize.resize(img, null, "-40M", true, ro));
        DiskBytes.assertOneLine(e, "offset " + (40 * MIB), "cannot shrink");
        assertEquals(64 * MIB, qemuVirtualSize(img, format), "a refused shrink changes nothing");

        byte[] before = qemuRaw(img, format);
        ImageResize.resize(img, null, "-" + (64 * MIB - 40 * MIB - 4096) , true, ro); // to just past the data
        long cut = 40 * MIB + 4096;
        assertEquals(cut, qemuVirtualSize(img, format));
        assertChecksClean(img, format, cut);
        byte[] after = qemuRaw(img, format);
        assertArrayEquals(Arrays.copyOf(before, (int) cut), after);
        ImageResize.resize(img, null, "64M", false, ro); // and back: the cut area reads zeros
        try (Disk d = Disk.open(img, ro)) {
            assertZeros(d, cut, 64 * MIB - cut);
        }
        assertChecksClean(img, format, 64 * MIB);
    }

    /**
     * Only the top of a chain changes; where a larger backing file lies under the new area, that
     * area is written as zeros so the backing file's bytes do not show through (as qemu-img does).
     */
    @ParameterizedTest(name = "{0}")
    @CsvSource({"qcow2"}) // qemu-img cannot do it for qed ("does not support requested flags")
    void anOverlayGrowsOverALargerBackingFileWithZeros(String format) throws IOException {
        Path base = dir.resolve("base." + format);
        QemuTools.img(dir, "create", "-q", "-f", format, base.toString(), "8M");
        qemuIo(dir, format, base, "write -P 0x33 0 8M");
        byte[] baseBytes = Files.readAllBytes(base);
        Path top = dir.resolve("top." + format);
        QemuTools.img(dir, "create", "-q", "-f", format, "-b", base.getFileName().toString(), "-F", format,
                top.toString(), "4M");
        qemuIo(dir, format, top, "write -P 0x44 1M 64k");
        Path theirs = dir.resolve("theirs." + format);
        Files.copy(top, theirs);
        QemuTools.img(dir, "resize", "-q", "-f", format, theirs.toString(), "+4M");

        ImageResize.Result r = ImageResize.resize(top, null, "+4M", false, OpenOptions.defaultReadOnly());
        assertEquals(4 * MIB, r.zeroedBytes());
        assertArrayEquals(baseBytes, Files.readAllBytes(base), "the backing file is not touched");
        assertChecksClean(top, format, 8 * MIB);
        compare(format, top, format, theirs, "qemu-img resize of the same overlay");
        try (Disk d = Disk.open(top, OpenOptions.defaultReadOnly())) {
            assertEquals(8 * MIB, d.size());
            assertZeros(d, 4 * MIB, 4 * MIB);
            ByteBuffer b = ByteBuffer.allocate(1);
            d.read(0, b);
            assertEquals(0x33, b.get(0), "the backing file still shows below the old end");
        }
    }

    @Test
    void qedRefusesToGrowPastItsL1TablesReach() throws IOException {
        Path img = dir.resolve("small.qed");
        QemuTools.img(dir, "create", "-q", "-f", "qed", img.toString(), "1M");
        VdException e = assertThrows(VdException.class,
                () -> ImageResize.resize(img, null, "100T", false, OpenOptions.defaultReadOnly()));
        DiskBytes.assertOneLine(e, "reaches 70368744177664 bytes", img.toString());
        assertEquals(1 << 20, qemuVirtualSize(img, "qed"));
    }

    @Test
    void aFormatThatCannotResizeSaysSo() throws IOException {
        Path img = dir.resolve("old.qcow");
        QemuTools.img(dir, "create", "-q", "-f", "qcow", img.toString(), "1M");
        VdException e = assertThrows(VdException.class,
                () -> ImageResize.resize(img, null, "+1M", false, OpenOptions.defaultReadOnly()));
        DiskBytes.assertOneLine(e, "resize is not supported by qcow");
    }

    /** VMDK: split and stream-optimized images are refused by name, before anything is written. */
    @ParameterizedTest(name = "{0}")
    @CsvSource({"twoGbMaxExtentSparse, resize is not supported by vmdk for",
        "streamOptimized, is stream-optimized (compressed); it can only be read"})
    void aVmdkOfSeveralExtentsOrCompressedIsRefused(String subformat, String why) throws IOException {
        Path img = dir.resolve(subformat + ".vmdk");
        QemuTools.img(dir, "create", "-q", "-f", "vmdk", "-o", "subformat=" + subformat, img.toString(), "3G");
        byte[] before = Files.readAllBytes(img);
        VdException e = assertThrows(VdException.class,
                () -> ImageResize.resize(img, null, "+1G", false, OpenOptions.defaultReadOnly()));
        DiskBytes.assertOneLine(e, why);
        assertArrayEquals(before, Files.readAllBytes(img), "nothing written");
    }

    @Test
    void sizesAreAbsoluteOrRelativeAndWholeSectors() throws IOException {
        assertEquals(3 * MIB, ImageResize.target(2 * MIB, "+1M"));
        assertEquals(MIB, ImageResize.target(2 * MIB, "-1M"));
        assertEquals(5 * MIB, ImageResize.target(2 * MIB, "5M"));
        assertThrows(VdException.class, () -> ImageResize.target(2 * MIB, "-2M"));
        Path img = dir.resolve("r.img");
        Files.write(img, new byte[4096]);
        VdException e = assertThrows(VdException.class,
                () -> ImageResize.resize(img, null, "+100", false, OpenOptions.defaultReadOnly()));
        DiskBytes.assertOneLine(e, "512-byte sector");
    }

    @Test
    void aGptIsNoted() throws IOException {
        Path img = dir.resolve("g.img");
        byte[] disk = new byte[1 << 20];
        System.arraycopy("EFI PART".getBytes(java.nio.charset.StandardCharsets.US_ASCII), 0, disk, 512, 8);
        Files.write(img, disk);
        assertTrue(ImageResize.resize(img, null, "+1M", false, OpenOptions.defaultReadOnly()).gpt());
        Files.write(img, new byte[1 << 20]);
        assertTrue(!ImageResize.resize(img, null, "+1M", false, OpenOptions.defaultReadOnly()).gpt());
    }

    // ---- helpers ------------------------------------------------------------------------------

    static long qemuVirtualSize(Path img, String format) throws IOException {
        String out = QemuTools.img(img.getParent(), "info", "--output=json", "-f", qemuName(format), img.toString());
        Matcher m = Pattern.compile("\"virtual-size\": (\\d+)").matcher(out);
        assertTrue(m.find(), out);
        return Long.parseLong(m.group(1));
    }

    /**
     * qemu-img check clean where qemu checks the format; a VHD (which qemu does not check) is read
     * by libvhdi's vhdiinfo instead, which must report the size.
     */
    static void assertChecksClean(Path img, String format, long size) throws IOException {
        if (format.equals("vhd")) {
            if (org.vdmount.vd.conformance.ExternalTools.has("vhdiinfo")) {
                String out = QemuTools.run(img.getParent(), false, "vhdiinfo", img.toString()).out();
                assertTrue(out.contains("(" + size + " bytes)"), "vhdiinfo " + img + ":\n" + out);
            }
        } else if (!format.equals("raw")) {
            QemuTools.assertClean(img.getParent(), qemuName(format), img.toString());
        }
    }

    static void compare(String fa, Path a, String fb, Path b, String what) throws IOException {
        var r = QemuTools.run(a.getParent(), true, "qemu-img", "compare", "-f", qemuName(fa), "-F", qemuName(fb),
                a.toString(), b.toString());
        assertEquals(0, r.exit(), "qemu-img compare with " + what + ": " + r.out() + r.err());
    }

    static void assertZeros(Disk d, long off, long len) throws IOException {
        ByteBuffer b = ByteBuffer.allocate((int) Math.min(len, 4 * MIB));
        // the whole new area when small, else its start, middle and end
        long[] starts = len <= 64 * MIB ? null : new long[] {off, off + len / 2 / 512 * 512, off + len - b.capacity()};
        if (starts == null) {
            for (long at = off; at < off + len; at += b.capacity()) {
                b.clear().limit((int) Math.min(b.capacity(), off + len - at));
                d.read(at, b);
                assertTrue(Bytes.of(b.array()).isZero(0, b.position()), "zeros at " + at);
            }
        } else {
            for (long at : starts) {
                b.clear();
                d.read(at, b);
                assertTrue(Bytes.of(b.array()).isZero(0, b.capacity()), "zeros at " + at);
            }
        }
    }
}
