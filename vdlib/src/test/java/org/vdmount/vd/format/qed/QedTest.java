package org.vdmount.vd.format.qed;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.vdmount.vd.format.qcow2.QemuTools.assertSameAsQemu;
import static org.vdmount.vd.format.qcow2.QemuTools.img;
import static org.vdmount.vd.format.qcow2.QemuTools.io;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;
import org.vdmount.vd.CreateOptions;
import org.vdmount.vd.Disk;
import org.vdmount.vd.FormatRegistry;
import org.vdmount.vd.OpenOptions;
import org.vdmount.vd.UnsupportedFeatureException;
import org.vdmount.vd.VdException;
import org.vdmount.vd.format.qcow2.QemuTools;
import org.vdmount.vd.conformance.ModelRun;
import java.util.Random;
import org.vdmount.vd.conformance.ExternalTools;
import org.vdmount.vd.conformance.Oracle;
import org.vdmount.vd.conformance.OracleRunner;

/** QED: qemu-made images and chains read byte-exact; our writes and creates pass qemu-img check. */
class QedTest {
    private static final int SIZE = 8 << 20;

    @TempDir
    Path dir;

    @BeforeEach
    void needQemu() {
        QemuTools.assumeQemu();
    }

    private void patterns(String fmt, String image) throws IOException {
        io(dir, fmt, image, "write -P 0xab 1000 5000", "write -P 0x11 200017 100000",
                "write -P 0x22 " + (SIZE - 700) + " 700", "write -z 3M 256K", "write -P 0x44 6000123 4567");
    }

    private void writeAndVerify(String image, String fmt, long seed) throws IOException {
        byte[] model = QemuTools.qemuRaw(dir, image);
        try (Disk d = Disk.open(dir.resolve(image), OpenOptions.defaultReadWrite())) {
            ModelRun.scribble(d, model, new Random(seed), 250);
        }
        OracleRunner.verify(Oracle.qemu(fmt), List.of(dir.resolve(image)), model);
        assertSameAsQemu(dir, image);
    }

    @ParameterizedTest
    @ValueSource(strings = {"cluster_size=4k,table_size=2", "cluster_size=64k", "cluster_size=1M,table_size=16"})
    void qemuImagesReadAndWrite(String options) throws IOException {
        img(dir, "create", "-f", "qed", "-o", options, "a.qed", Integer.toString(SIZE));
        patterns("qed", "a.qed");
        assertSameAsQemu(dir, "a.qed");
        assertEquals("qed", FormatRegistry.probe(dir.resolve("a.qed")).name());
        writeAndVerify("a.qed", "qed", options.hashCode());
    }

    @Test
    void mixedChainsOfRawQcow2AndQed() throws IOException {
        img(dir, "create", "-f", "raw", "base.raw", Integer.toString(SIZE));
        io(dir, "raw", "base.raw", "write -P 0x01 0 " + SIZE);
        img(dir, "create", "-f", "qed", "-b", "base.raw", "-F", "raw", "mid.qed");
        io(dir, "qed", "mid.qed", "write -P 0x02 100000 2M", "write -z 4M 1M");
        img(dir, "create", "-f", "qcow2", "-b", "mid.qed", "-F", "qed", "top.qcow2");
        patterns("qcow2", "top.qcow2");
        assertSameAsQemu(dir, "top.qcow2");
        writeAndVerify("top.qcow2", "qcow2", 1);

        img(dir, "create", "-f", "qcow2", "b.qcow2", Integer.toString(SIZE));
        io(dir, "qcow2", "b.qcow2", "write -P 0x05 0 3M");
        img(dir, "create", "-f", "qed", "-b", "b.qcow2", "-F", "qcow2", "m.qed");
        io(dir, "qed", "m.qed", "write -P 0x06 1M 1M");
        img(dir, "create", "-f", "qed", "-b", "m.qed", "-F", "qed", "t.qed");
        patterns("qed", "t.qed");
        assertSameAsQemu(dir, "t.qed");
        writeAndVerify("t.qed", "qed", 2);
        try (Disk d = Disk.open(dir.resolve("t.qed"), OpenOptions.defaultReadOnly())) {
            assertEquals(List.of("qcow2", "qed", "qed"), d.layers().stream().map(l -> l.format().name()).toList());
        }
    }

    @Test
    void ourCreatesPassQemuCheck() throws IOException {
        QedFormat f = new QedFormat();
        f.create(dir.resolve("n.qed"), CreateOptions.of(SIZE + 100).with("cluster_size", "16k")
                .with("table_size", "2")).close();
        QemuTools.assertClean(dir, "qed", "n.qed");
        assertTrue(img(dir, "info", "n.qed").contains("(" + (SIZE + 512) + " bytes)"));
        writeAndVerify("n.qed", "qed", 3);
        img(dir, "create", "-f", "raw", "r.raw", Integer.toString(SIZE));
        io(dir, "raw", "r.raw", "write -P 0x0f 0 " + SIZE);
        try (Disk parent = Disk.open(dir.resolve("r.raw"), OpenOptions.defaultReadOnly())) {
            f.create(dir.resolve("c.qed"), CreateOptions.of(0).withParent(parent, Path.of("r.raw"))).close();
        }
        String info = img(dir, "info", "c.qed");
        assertTrue(info.contains("backing file: r.raw"), info);
        writeAndVerify("c.qed", "qed", 4);
        assertThrows(UnsupportedFeatureException.class,
                () -> f.create(dir.resolve("x.qed"), CreateOptions.of(SIZE).with("compat", "1.1")));
    }

    @Test
    void needCheckBitIsHonoured() throws IOException {
        img(dir, "create", "-f", "qed", "-o", "cluster_size=4k,table_size=2", "n.qed", "1M");
        io(dir, "qed", "n.qed", "write -P 0x33 0 64K");
        Path p = dir.resolve("n.qed");
        byte[] b = Files.readAllBytes(p);
        ByteBuffer bb = ByteBuffer.wrap(b).order(ByteOrder.LITTLE_ENDIAN);
        bb.putLong(0x10, bb.getLong(0x10) | QedHeader.F_NEED_CHECK);
        long l2 = bb.getLong((int) bb.getLong(0x28));
        bb.putLong((int) l2 + 8 * 3, 1L << 40); // a data cluster far past the end: what a crash may leave
        Files.write(p, b);
        List<String> warnings = new ArrayList<>();
        try (Disk d = Disk.open(p, OpenOptions.defaultReadOnly().withWarnings(warnings::add))) {
            d.read(0, ByteBuffer.allocate(12288)); // clusters before the broken one read fine
            assertThrows(VdException.class, () -> d.read(3 * 4096, ByteBuffer.allocate(10)));
        }
        assertTrue(warnings.stream().anyMatch(w -> w.contains("need-check")), warnings.toString());
        assertTrue(java.util.Arrays.equals(b, Files.readAllBytes(p)), "read-only open must not repair");
        try (Disk d = Disk.open(p, OpenOptions.defaultReadWrite().withWarnings(warnings::add))) {
            ByteBuffer got = ByteBuffer.allocate(4096);
            d.read(3 * 4096, got);
            assertTrue(org.vdmount.vd.Bytes.of(got.array()).isZero(0, 4096), "the broken entry was cleared");
        }
        assertTrue(warnings.stream().anyMatch(w -> w.contains("cleared 1")), warnings.toString());
        ExternalTools.Result r = QemuTools.check(dir, "qed", "n.qed");
        assertTrue(r.exit() == 0 || r.exit() == 3, "only the leaked cluster may remain: " + r.out());
        assertEquals(0, ByteBuffer.wrap(Files.readAllBytes(p)).order(ByteOrder.LITTLE_ENDIAN).getLong(0x10)
                & QedHeader.F_NEED_CHECK, "need-check cleared after the repair");
    }

}
