package org.vdmount.vd.format.qcow2;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.vdmount.vd.format.qcow2.QemuTools.img;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.List;
import java.util.Random;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.vdmount.vd.CreateOptions;
import org.vdmount.vd.Disk;
import org.vdmount.vd.OpenOptions;
import org.vdmount.vd.UnsupportedFeatureException;
import org.vdmount.vd.conformance.Oracle;
import org.vdmount.vd.conformance.OracleRunner;

/**
 * qcow2 {@code data_file} and {@code data_file_raw} at create time, against qemu-img create with
 * the same options: the same header cluster (and with a raw data file, every cluster mapped at its
 * own offset, the whole image file qemu's byte for byte), a sparse data file as large as the disk,
 * and writes that land in the data file (a raw one then holds the disk as it is).
 */
class Qcow2DataFileCreateTest {
    private static final int SIZE = 8 << 20;

    @TempDir
    Path dir;

    @BeforeEach
    void needQemu() {
        QemuTools.assumeQemu();
    }

    private Path create(String name, String options) throws IOException {
        CreateOptions co = CreateOptions.of(SIZE);
        for (String kv : options.split(",")) {
            co = co.with(kv.split("=")[0], kv.split("=")[1]);
        }
        new Qcow2Format().create(dir.resolve(name), co).close();
        return dir.resolve(name);
    }

    private byte[] writeSome(Path image) throws IOException {
        byte[] model = new byte[SIZE];
        Random r = new Random(4);
        try (Disk d = Disk.open(image, OpenOptions.defaultReadWrite())) {
            for (int i = 0; i < 12; i++) {
                byte[] b = new byte[1 + r.nextInt(300_000)];
                r.nextBytes(b);
                int off = r.nextInt(SIZE - b.length);
                d.write(off, ByteBuffer.wrap(b));
                System.arraycopy(b, 0, model, off, b.length);
            }
        }
        return model;
    }

    @Test
    void aRawDataFileIsQemusImageAndHoldsTheDiskAsItIs() throws IOException {
        for (String extra : List.of("", ",extended_l2=on")) {
            Files.createDirectories(dir.resolve("q"));
            Path ours = create("ours.qcow2", "data_file=ours.raw,data_file_raw=on" + extra);
            img(dir.resolve("q"), "create", "-q", "-f", "qcow2", "-o", "data_file=ours.raw,data_file_raw=on" + extra,
                    "ours.qcow2", Integer.toString(SIZE));
            assertArrayEquals(Files.readAllBytes(dir.resolve("q/ours.qcow2")), Files.readAllBytes(ours), extra);
            assertEquals(SIZE, Files.size(dir.resolve("ours.raw")));
            assertTrue(org.vdmount.vd.nativeio.HostFiles.allocatedBytes(dir.resolve("ours.raw")) < 1 << 20, "sparse");
            byte[] model = writeSome(ours);
            QemuTools.assertClean(dir, "qcow2", "ours.qcow2");
            OracleRunner.verify(Oracle.qemu("qcow2"), List.of(ours), model);
            assertArrayEquals(model, Files.readAllBytes(dir.resolve("ours.raw")), "the raw data file is the disk");
            for (String f : List.of("ours.qcow2", "ours.raw", "q/ours.qcow2", "q/ours.raw")) {
                Files.delete(dir.resolve(f));
            }
        }
    }

    @Test
    void aDataFileTakesTheDataAndTheHeaderIsQemus() throws IOException {
        Path ours = create("d.qcow2", "data_file=d.data");
        Files.createDirectories(dir.resolve("q"));
        img(dir.resolve("q"), "create", "-q", "-f", "qcow2", "-o", "data_file=d.data", "d.qcow2",
                Integer.toString(SIZE));
        assertArrayEquals(Arrays.copyOf(Files.readAllBytes(dir.resolve("q/d.qcow2")), 65536),
                Arrays.copyOf(Files.readAllBytes(ours), 65536), "the header cluster");
        long imageBefore = Files.size(ours);
        byte[] model = writeSome(ours);
        QemuTools.assertClean(dir, "qcow2", "d.qcow2");
        OracleRunner.verify(Oracle.qemu("qcow2"), List.of(ours), model);
        assertTrue(Files.size(ours) < imageBefore + (1 << 20), "the data went to the data file, not the image");
        assertTrue(img(dir, "info", "d.qcow2").contains("data file: d.data"));
    }

    @Test
    void aDataFileUnderABackingFileShowsTheParent() throws IOException {
        img(dir, "create", "-q", "-f", "qcow2", "base.qcow2", Integer.toString(SIZE));
        QemuTools.io(dir, "qcow2", "base.qcow2", "write -P 0x33 0 8M");
        Path child = dir.resolve("child.qcow2");
        try (Disk base = Disk.open(dir.resolve("base.qcow2"), OpenOptions.defaultReadOnly())) {
            new Qcow2Format().create(child, CreateOptions.of(0).with("data_file", "child.data")
                    .withParent(base, Path.of("base.qcow2"))).close();
        }
        byte[] model = new byte[SIZE];
        Arrays.fill(model, (byte) 0x33);
        try (Disk d = Disk.open(child, OpenOptions.defaultReadWrite())) {
            d.write(100_000, ByteBuffer.wrap(new byte[] {1, 2, 3}));
        }
        model[100_000] = 1;
        model[100_001] = 2;
        model[100_002] = 3;
        OracleRunner.verify(Oracle.qemu("qcow2"), List.of(child), model);
        QemuTools.assertClean(dir, "qcow2", "child.qcow2");
    }

    @Test
    void whatCannotGoWithADataFileIsRefusedLeavingNothing() throws IOException {
        String[][] cases = {
            {"data_file_raw=on", "qcow2: data_file_raw needs data_file"},
            {"data_file=x.raw,compat=0.10", "qcow2: data_file needs compat=1.1"},
            {"data_file=x.raw,preallocation=metadata", "qcow2: data_file with preallocation is not supported"},
        };
        for (String[] c : cases) {
            UnsupportedFeatureException e = assertThrows(UnsupportedFeatureException.class, () -> create("r.qcow2", c[0]));
            assertEquals(c[1], e.getMessage());
            assertTrue(Files.notExists(dir.resolve("r.qcow2")) && Files.notExists(dir.resolve("x.raw")), c[0]);
        }
        Files.write(dir.resolve("taken.raw"), new byte[] {9});
        UnsupportedFeatureException e = assertThrows(UnsupportedFeatureException.class,
                () -> create("t.qcow2", "data_file=taken.raw"));
        assertEquals("qcow2: data_file " + dir.resolve("taken.raw") + " already exists", e.getMessage());
        assertArrayEquals(new byte[] {9}, Files.readAllBytes(dir.resolve("taken.raw")), "never clobbered");
        assertTrue(Files.notExists(dir.resolve("t.qcow2")));
    }
}
