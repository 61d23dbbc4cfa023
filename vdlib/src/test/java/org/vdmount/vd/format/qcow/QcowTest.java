package org.vdmount.vd.format.qcow;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.vdmount.vd.format.qcow2.QemuTools.assertSameAsQemu;
import static org.vdmount.vd.format.qcow2.QemuTools.img;
import static org.vdmount.vd.format.qcow2.QemuTools.io;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.vdmount.vd.CreateOptions;
import org.vdmount.vd.Disk;
import org.vdmount.vd.FormatRegistry;
import org.vdmount.vd.OpenOptions;
import org.vdmount.vd.UnsupportedFeatureException;
import org.vdmount.vd.format.qcow2.QemuTools;
import org.vdmount.vd.conformance.ModelRun;
import java.util.Random;
import org.vdmount.vd.conformance.Oracle;
import org.vdmount.vd.conformance.OracleRunner;

/** QCOW version 1: qemu-made images and chains byte-exact; our writes and creates read back by qemu. */
class QcowTest {
    private static final int SIZE = 8 << 20;

    @TempDir
    Path dir;

    @BeforeEach
    void needQemu() {
        QemuTools.assumeQemu();
    }

    private void patterns(String fmt, String image) throws IOException {
        io(dir, fmt, image, "write -P 0xab 1000 5000", "write -P 0x11 200017 100000",
                "write -P 0x22 " + (SIZE - 700) + " 700", "write -P 0x44 6000123 4567");
    }

    /** qemu-img check has no qcow v1 support: qemu reading our result back is the oracle. */
    private void writeAndVerify(String image, String fmt, long seed) throws IOException {
        byte[] model = QemuTools.qemuRaw(dir, image);
        try (Disk d = Disk.open(dir.resolve(image), OpenOptions.defaultReadWrite())) {
            ModelRun.scribble(d, model, new Random(seed), 250);
        }
        OracleRunner.verify(Oracle.qemuCompareOnly(fmt, "no qcow v1 check"), List.of(dir.resolve(image)), model);
        assertSameAsQemu(dir, image);
    }

    @Test
    void qemuImagesPlainAndCompressed() throws IOException {
        img(dir, "create", "-f", "qcow", "a.qcow", Integer.toString(SIZE));
        patterns("qcow", "a.qcow");
        assertSameAsQemu(dir, "a.qcow");
        assertEquals("qcow", FormatRegistry.probe(dir.resolve("a.qcow")).name());
        writeAndVerify("a.qcow", "qcow", 1);

        img(dir, "create", "-f", "qcow", "c.qcow", Integer.toString(SIZE));
        io(dir, "qcow", "c.qcow", QcowFixture.compressedWrites(SIZE, 300, 7));
        assertSameAsQemu(dir, "c.qcow");
        writeAndVerify("c.qcow", "qcow", 2);
    }

    @Test
    void chainsMixingQcowWithRawAndQcow2() throws IOException {
        img(dir, "create", "-f", "raw", "base.raw", Integer.toString(SIZE));
        io(dir, "raw", "base.raw", "write -P 0x01 0 " + SIZE);
        img(dir, "create", "-f", "qcow", "-b", "base.raw", "-F", "raw", "mid.qcow");
        io(dir, "qcow", "mid.qcow", "write -P 0x02 100000 2M");
        img(dir, "create", "-f", "qcow2", "-b", "mid.qcow", "-F", "qcow", "top.qcow2");
        patterns("qcow2", "top.qcow2");
        assertSameAsQemu(dir, "top.qcow2");
        try (Disk d = Disk.open(dir.resolve("top.qcow2"), OpenOptions.defaultReadOnly())) {
            assertEquals(List.of("raw", "qcow", "qcow2"), d.layers().stream().map(l -> l.format().name()).toList());
        }
        img(dir, "create", "-f", "qcow", "-b", "top.qcow2", "-F", "qcow2", "t.qcow");
        patterns("qcow", "t.qcow");
        assertSameAsQemu(dir, "t.qcow");
        writeAndVerify("t.qcow", "qcow", 3);
    }

    @Test
    void ourCreatesReadBackByQemu() throws IOException {
        QcowFormat f = new QcowFormat();
        f.create(dir.resolve("n.qcow"), CreateOptions.of(SIZE)).close();
        assertTrue(img(dir, "info", "n.qcow").contains("file format: qcow"));
        writeAndVerify("n.qcow", "qcow", 4);
        img(dir, "create", "-f", "qcow2", "p.qcow2", Integer.toString(SIZE));
        io(dir, "qcow2", "p.qcow2", "write -P 0x0f 0 3M");
        try (Disk parent = Disk.open(dir.resolve("p.qcow2"), OpenOptions.defaultReadOnly())) {
            f.create(dir.resolve("c.qcow"), CreateOptions.of(0).withParent(parent, Path.of("p.qcow2"))).close();
        }
        assertTrue(img(dir, "info", "c.qcow").contains("backing file: p.qcow2"));
        writeAndVerify("c.qcow", "qcow", 5);
        assertThrows(UnsupportedFeatureException.class,
                () -> f.create(dir.resolve("x.qcow"), CreateOptions.of(SIZE).with("cluster_size", "64k")));
    }

    @Test
    void encryptedImagesAreRefused() throws IOException {
        img(dir, "create", "-f", "qcow", "e.qcow", "1M");
        byte[] b = Files.readAllBytes(dir.resolve("e.qcow"));
        b[0x27] = 1; // crypt_method = AES
        Files.write(dir.resolve("e.qcow"), b);
        var e = assertThrows(UnsupportedFeatureException.class,
                () -> Disk.open(dir.resolve("e.qcow"), OpenOptions.defaultReadOnly()));
        assertTrue(e.getMessage().contains("encrypted"), e.getMessage());
    }

}
