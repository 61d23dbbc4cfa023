package org.vdmount.vd;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.vdmount.vd.ChainTesting.qemuIo;
import static org.vdmount.vd.ChainTesting.qemuRaw;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.Arrays;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;
import org.vdmount.vd.conformance.DiskBytes;
import org.vdmount.vd.format.qcow2.QemuTools;
import org.vdmount.vd.nativeio.HostFiles;
import org.vdmount.vd.storage.Preallocation;

/**
 * {@code resize --preallocation} against {@code qemu-img resize --preallocation} on a copy of the
 * same image: the same disk (qemu-img compare), the same count of allocated clusters (qemu-img
 * check), the grown area reserved on the host for falloc and full and a hole for metadata, and
 * writes into the grown area landing in the preallocated clusters.
 */
class ResizePreallocationTest {
    private static final Pattern ALLOCATED = Pattern.compile("(\\d+)/(\\d+) = [0-9.]+% allocated");
    private static final long MIB = 1 << 20;

    @TempDir
    Path dir;

    @BeforeAll
    static void qemu() {
        QemuTools.assumeQemu();
    }

    private String allocated(Path img) throws IOException {
        String out = QemuTools.img(dir, "check", img.toString());
        Matcher m = ALLOCATED.matcher(out);
        assertTrue(m.find(), out);
        return m.group();
    }

    @ParameterizedTest(name = "{0} {1} {2}")
    @CsvSource(delimiter = ';', value = {"qcow2;;metadata", "qcow2;;falloc", "qcow2;;full",
        "qcow2;extended_l2=on;metadata", "qcow2;cluster_size=4k,refcount_bits=8;full", "qcow2;compat=0.10;falloc",
        "raw;;falloc", "raw;;full"})
    void aGrownAreaIsPreallocatedAsQemuImgResizeDoes(String format, String options, String mode) throws IOException {
        Path ours = dir.resolve("ours." + format);
        Path theirs = dir.resolve("theirs." + format);
        if (options == null) {
            QemuTools.img(dir, "create", "-q", "-f", format, ours.toString(), "10M");
        } else {
            QemuTools.img(dir, "create", "-q", "-f", format, "-o", options, ours.toString(), "10M");
        }
        // data, then a discard whose clusters keep stale bytes (as with pass-discard-request=off): the
        // grown area may reuse them and must still read as zeros
        qemuIo(dir, format, ours, "write -P 0x44 0 3M", "write -P 0x45 9M 1M");
        long host = hostOffset(ours, MIB);
        qemuIo(dir, format, ours, "discard 1M 1M");
        if (format.equals("qcow2")) {
            byte[] stale = new byte[(int) MIB];
            Arrays.fill(stale, (byte) 0xee);
            try (FileChannel ch = FileChannel.open(ours, StandardOpenOption.WRITE)) {
                ch.write(ByteBuffer.wrap(stale), host);
            }
        }
        Files.copy(ours, theirs);
        QemuTools.img(dir, "resize", "-q", "-f", format, "--preallocation=" + mode, theirs.toString(), "+40M");
        long sizeBefore = Files.size(ours);

        ImageResize.resize(ours, null, "+40M", false, Preallocation.of(mode), OpenOptions.defaultReadOnly());
        QemuTools.img(dir, "compare", "-q", "-f", format, "-F", format, ours.toString(), theirs.toString());
        if (format.equals("qcow2")) {
            QemuTools.assertClean(dir, "qcow2", ours.toString());
            assertEquals(allocated(theirs), allocated(ours), "clusters allocated, as qemu-img resize allocates them");
        }
        long grownOnHost = HostFiles.allocatedBytes(ours) - Math.min(sizeBefore, HostFiles.allocatedBytes(ours));
        if (mode.equals("metadata")) {
            assertTrue(grownOnHost < 4 * MIB, "metadata leaves the data a hole: " + grownOnHost);
        } else {
            assertTrue(HostFiles.allocatedBytes(ours) >= 40 * MIB, mode + " reserves the grown area");
        }

        long fileSize = Files.size(ours);
        byte[] model = qemuRaw(theirs, format);
        byte[] w = new byte[5000];
        Arrays.fill(w, (byte) 0x77);
        try (Disk d = Disk.open(ours, OpenOptions.defaultReadWrite())) {
            for (long at : new long[] {10 * MIB + 100, 33 * MIB, 50 * MIB - w.length}) {
                d.write(at, ByteBuffer.wrap(w));
                System.arraycopy(w, 0, model, (int) at, w.length);
            }
        }
        assertEquals(fileSize, Files.size(ours), "the writes went into the preallocated area");
        assertArrayEquals(model, qemuRaw(ours, format));
        if (format.equals("qcow2")) {
            QemuTools.assertClean(dir, "qcow2", ours.toString());
        }
    }

    /** Where qemu-img map puts guest offset {@code guest}. */
    private long hostOffset(Path img, long guest) throws IOException {
        Matcher m = Pattern.compile("\"start\": (\\d+), \"length\": (\\d+),[^}]*\"offset\": (\\d+)")
                .matcher(QemuTools.img(dir, "map", "--output=json", img.toString()));
        while (m.find()) {
            long start = Long.parseLong(m.group(1));
            if (start <= guest && guest < start + Long.parseLong(m.group(2))) {
                return Long.parseLong(m.group(3)) + guest - start;
            }
        }
        throw new AssertionError("guest offset " + guest + " is not mapped in " + img);
    }

    @Test
    void modesAFormatLacksAndShrinksAreRefusedBeforeAnythingChanges() throws IOException {
        OpenOptions ro = OpenOptions.defaultReadOnly();
        Path raw = dir.resolve("r.raw");
        QemuTools.img(dir, "create", "-q", "-f", "raw", raw.toString(), "10M");
        VdException e = assertThrows(VdException.class,
                () -> ImageResize.resize(raw, null, "+1M", false, Preallocation.METADATA, ro));
        assertEquals("resize --preallocation=metadata is not supported by raw (off, falloc, full): " + raw,
                e.getMessage());
        Path vdi = dir.resolve("v.vdi");
        QemuTools.img(dir, "create", "-q", "-f", "vdi", vdi.toString(), "10M");
        e = assertThrows(VdException.class, () -> ImageResize.resize(vdi, null, "+1M", false, Preallocation.FULL, ro));
        assertEquals("resize --preallocation=full is not supported by vdi (off): " + vdi, e.getMessage());
        Path q = dir.resolve("q.qcow2");
        QemuTools.img(dir, "create", "-q", "-f", "qcow2", q.toString(), "10M");
        e = assertThrows(VdException.class, () -> ImageResize.resize(q, null, "5M", true, Preallocation.FULL, ro));
        DiskBytes.assertOneLine(e, "--preallocation applies to a grown image");
        for (Path p : new Path[] {raw, vdi, q}) {
            assertEquals(10 * MIB, ImageResizeTest.qemuVirtualSize(p, p.toString().substring(p.toString().lastIndexOf('.')
                    + 1)), p + " unchanged");
        }
    }
}
