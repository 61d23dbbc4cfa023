package org.vdmount.vd.format.qcow2;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.vdmount.vd.format.qcow2.QemuTools.img;
import static org.vdmount.vd.format.qcow2.QemuTools.io;

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
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;
import org.vdmount.vd.CreateOptions;
import org.vdmount.vd.Disk;
import org.vdmount.vd.Image;
import org.vdmount.vd.OpenOptions;
import org.vdmount.vd.UnsupportedFeatureException;
import org.vdmount.vd.conformance.ModelRun;
import org.vdmount.vd.conformance.ExternalTools;
import org.vdmount.vd.conformance.DiskBytes;
import org.vdmount.vd.conformance.Oracle;
import org.vdmount.vd.conformance.OracleRunner;

/**
 * Writes through {@link Disk} into qcow2 images (qemu-made and our own): afterwards qemu-img check
 * finds no errors or leaks and qemu-img compare matches the expected content.
 */
class Qcow2WriteTest {
    private static final int SIZE = 8 << 20;

    @TempDir
    Path dir;

    @BeforeEach
    void needQemu() {
        QemuTools.assumeQemu();
    }

    private void writeAndVerify(String image, long seed, int ops) throws IOException {
        byte[] model = QemuTools.qemuRaw(dir, image);
        try (Disk d = Disk.open(dir.resolve(image), OpenOptions.defaultReadWrite())) {
            ModelRun.scribble(d, model, new Random(seed), ops);
            DiskBytes.assertSame(model, DiskBytes.readAll(d), image + " before close");
        }
        verifyWithQemu(image, model);
    }

    private void verifyWithQemu(String image, byte[] model) throws IOException {
        OracleRunner.verify(Oracle.qemu("qcow2"), List.of(dir.resolve(image)), model);
        try (Disk d = Disk.open(dir.resolve(image), OpenOptions.defaultReadOnly())) {
            DiskBytes.assertSame(model, DiskBytes.readAll(d), image + " reopened");
        }
    }

    @ParameterizedTest
    @ValueSource(strings = {"compat=1.1", "compat=0.10", "cluster_size=512", "cluster_size=2M",
        "refcount_bits=1,cluster_size=4k", "refcount_bits=64", "extended_l2=on,cluster_size=16k",
        "extended_l2=on,cluster_size=128k"})
    void writesIntoQemuImages(String options) throws IOException {
        img(dir, "create", "-f", "qcow2", "-o", options, "w.qcow2", Integer.toString(SIZE));
        io(dir, "qcow2", "w.qcow2", "write -P 0xab 1000 500000", "write -z 3M 1M", "write -P 0x12 6M 70000");
        writeAndVerify("w.qcow2", options.hashCode(), 300);
    }

    @Test
    void writesOverCompressedClustersCopyThemOut() throws IOException {
        QemuTools.randomRaw(dir.resolve("src.raw"), SIZE, 3);
        img(dir, "convert", "-c", "-O", "qcow2", "src.raw", "c.qcow2");
        writeAndVerify("c.qcow2", 11, 200);
        img(dir, "convert", "-c", "-O", "qcow2", "-o", "compression_type=zstd,extended_l2=on,cluster_size=32k",
                "src.raw", "z.qcow2");
        writeAndVerify("z.qcow2", 12, 200);
    }

    @ParameterizedTest
    @ValueSource(strings = {"compat=1.1", "compat=0.10", "extended_l2=on", "cluster_size=4k"})
    void writesOverABackingChainCopyParentData(String options) throws IOException {
        img(dir, "create", "-f", "raw", "base.raw", Integer.toString(SIZE));
        io(dir, "raw", "base.raw", "write -P 0x5c 0 " + SIZE);
        img(dir, "create", "-f", "qcow2", "-b", "base.raw", "-F", "raw", "mid.qcow2");
        io(dir, "qcow2", "mid.qcow2", "write -P 0x6d 1M 2M");
        img(dir, "create", "-f", "qcow2", "-o", options, "-b", "mid.qcow2", "-F", "qcow2", "top.qcow2");
        byte[] baseBefore = Files.readAllBytes(dir.resolve("base.raw"));
        byte[] midBefore = Files.readAllBytes(dir.resolve("mid.qcow2"));
        writeAndVerify("top.qcow2", options.hashCode() + 1, 300);
        assertTrue(Arrays.equals(baseBefore, Files.readAllBytes(dir.resolve("base.raw"))), "base untouched");
        assertTrue(Arrays.equals(midBefore, Files.readAllBytes(dir.resolve("mid.qcow2"))), "mid untouched");
    }

    @Test
    void writesIntoImagesWithSnapshotsLeaveSnapshotsIntact() throws IOException {
        img(dir, "create", "-f", "qcow2", "s.qcow2", Integer.toString(SIZE));
        io(dir, "qcow2", "s.qcow2", "write -P 0x21 0 3M");
        img(dir, "snapshot", "-c", "one", "s.qcow2");
        byte[] snapshot = QemuTools.qemuRaw(dir, "s.qcow2");
        writeAndVerify("s.qcow2", 5, 300);
        img(dir, "snapshot", "-a", "one", "s.qcow2");
        DiskBytes.assertSame(snapshot, QemuTools.qemuRaw(dir, "s.qcow2"), "snapshot after our writes");
        QemuTools.assertClean(dir, "qcow2", "s.qcow2");
    }

    @Test
    void externalDataFileWrites() throws IOException {
        img(dir, "create", "-f", "qcow2", "-o", "data_file=x.data", "x.qcow2", Integer.toString(SIZE));
        writeAndVerify("x.qcow2", 6, 300);
        img(dir, "create", "-f", "qcow2", "-o", "data_file=r.data,data_file_raw=on", "r.qcow2", Integer.toString(SIZE));
        byte[] model = QemuTools.qemuRaw(dir, "r.qcow2");
        try (Disk d = Disk.open(dir.resolve("r.qcow2"), OpenOptions.defaultReadWrite())) {
            ModelRun.scribble(d, model, new Random(7), 300);
        }
        verifyWithQemu("r.qcow2", model);
        DiskBytes.assertSame(model, Files.readAllBytes(dir.resolve("r.data")), "raw data file");
    }

    @ParameterizedTest
    @ValueSource(strings = {"", "compat=0.10", "cluster_size=512", "cluster_size=2M,refcount_bits=8",
        "extended_l2=on,cluster_size=16k", "refcount_bits=1", "refcount_bits=64,cluster_size=1k"})
    void ourCreatedImagesPassQemuCheck(String options) throws IOException {
        CreateOptions co = CreateOptions.of(SIZE + 12345);
        for (String kv : options.isEmpty() ? new String[0] : options.split(",")) {
            co = co.with(kv.split("=")[0], kv.split("=")[1]);
        }
        Path p = dir.resolve("n.qcow2");
        try (Image im = new Qcow2Format().create(p, co)) {
            assertEquals(SIZE + 12800, im.virtualSize(), "rounded up to whole sectors like qemu-img");
        }
        QemuTools.assertClean(dir, "qcow2", "n.qcow2");
        String info = img(dir, "info", "n.qcow2");
        assertTrue(info.contains("(" + (SIZE + 12800) + " bytes)"), info);
        writeAndVerify("n.qcow2", options.hashCode() + 2, 300);
    }

    @Test
    void refcountTableGrowsWhenTheFileOutgrowsIt() throws IOException {
        // 512-byte clusters, 16-bit refcounts: one table cluster covers 8 MiB of host file
        Path p = dir.resolve("g.qcow2");
        new Qcow2Format().create(p, CreateOptions.of(24 << 20).with("cluster_size", "512")).close();
        byte[] model = new byte[24 << 20];
        new Random(9).nextBytes(model);
        try (Disk d = Disk.open(p, OpenOptions.defaultReadWrite())) {
            for (int off = 0; off < model.length; off += 1 << 20) {
                d.write(off, ByteBuffer.wrap(model, off, 1 << 20));
            }
        }
        verifyWithQemu("g.qcow2", model);
    }

    @Test
    void createWithBackingRecordsPathAsGivenAndFormat() throws IOException {
        img(dir, "create", "-f", "qcow2", "b.qcow2", Integer.toString(SIZE));
        io(dir, "qcow2", "b.qcow2", "write -P 0x44 0 1M");
        Path child = dir.resolve("c.qcow2");
        try (Disk parent = Disk.open(dir.resolve("b.qcow2"), OpenOptions.defaultReadOnly())) {
            new Qcow2Format().create(child, CreateOptions.of(0).withParent(parent, Path.of("b.qcow2"))).close();
        }
        String info = img(dir, "info", "c.qcow2");
        assertTrue(info.contains("backing file: b.qcow2"), info);
        assertTrue(info.contains("backing file format: qcow2"), info);
        writeAndVerify("c.qcow2", 13, 200);
    }

    @Test
    void unknownCreateOptionsAreRejected() {
        assertThrows(UnsupportedFeatureException.class, () -> new Qcow2Format()
                .create(dir.resolve("x.qcow2"), CreateOptions.of(SIZE).with("preallocatoin", "full")));
        assertThrows(UnsupportedFeatureException.class, () -> new Qcow2Format()
                .create(dir.resolve("y.qcow2"), CreateOptions.of(SIZE).with("cluster_size", "3000")));
        assertTrue(Files.notExists(dir.resolve("x.qcow2")));
    }

    @Test
    void stateBetweenFlushesIsConsistentOnDisk() throws IOException {
        img(dir, "create", "-f", "qcow2", "k.qcow2", Integer.toString(SIZE));
        io(dir, "qcow2", "k.qcow2", "write -P 0x71 0 4M");
        img(dir, "snapshot", "-c", "s", "k.qcow2");
        byte[] model = QemuTools.qemuRaw(dir, "k.qcow2");
        try (Disk d = Disk.open(dir.resolve("k.qcow2"), OpenOptions.defaultReadWrite())) {
            Random rnd = new Random(4);
            for (int round = 0; round < 6; round++) {
                ModelRun.scribble(d, model, new Random(rnd.nextLong()), 40);
                // what a crash now would leave: the file as it is, without a flush
                Files.copy(dir.resolve("k.qcow2"), dir.resolve("crash" + round + ".qcow2"));
                ExternalTools.Result r = QemuTools.check(dir, "qcow2", "crash" + round + ".qcow2");
                assertNotEquals(2, r.exit(), "corruption after a simulated crash:\n" + r.out());
                assertNotEquals(1, r.exit(), "check failed after a simulated crash:\n" + r.out() + r.err());
                d.flush();
            }
        }
        verifyWithQemu("k.qcow2", model);
    }

    @Test
    void bitmapsAreDroppedCleanlyBeforeTheFirstWrite() throws IOException {
        img(dir, "create", "-f", "raw", "base.raw", Integer.toString(SIZE));
        img(dir, "create", "-f", "qcow2", "-b", "base.raw", "-F", "raw", "b.qcow2", Integer.toString(SIZE));
        img(dir, "bitmap", "--add", "b.qcow2", "bm0");
        img(dir, "bitmap", "--add", "-g", "512", "b.qcow2", "bm1");
        io(dir, "qcow2", "b.qcow2", "write -P 0x61 0 1M");
        try (Disk d = Disk.open(dir.resolve("b.qcow2"), OpenOptions.defaultReadOnly())) {
            assertEquals(2L, d.top().details().get("bitmaps"));
        }
        io(dir, "qcow2", "b.qcow2", "write -P 0x62 2M 1M"); // qemu fills the bitmaps
        writeAndVerify("b.qcow2", 21, 50);
        String info = img(dir, "info", "b.qcow2");
        assertTrue(!info.contains("bitmaps:") && info.contains("backing file: base.raw"), info);
        byte[] b = Files.readAllBytes(dir.resolve("b.qcow2"));
        assertEquals(0, ByteBuffer.wrap(b).getLong(0x58) & 1, "autoclear bitmaps bit cleared: we do not track them");
    }

    @Test
    void readOnlyOpenNeverWrites() throws IOException {
        img(dir, "create", "-f", "qcow2", "r.qcow2", Integer.toString(SIZE));
        io(dir, "qcow2", "r.qcow2", "write -P 0x71 0 1M");
        byte[] before = Files.readAllBytes(dir.resolve("r.qcow2"));
        var mtime = Files.getLastModifiedTime(dir.resolve("r.qcow2"));
        try (Disk d = Disk.open(dir.resolve("r.qcow2"), OpenOptions.defaultReadOnly())) {
            DiskBytes.readAll(d);
            assertThrows(org.vdmount.vd.ReadOnlyException.class, () -> d.write(0, ByteBuffer.allocate(10)));
        }
        assertTrue(Arrays.equals(before, Files.readAllBytes(dir.resolve("r.qcow2"))));
        assertEquals(mtime, Files.getLastModifiedTime(dir.resolve("r.qcow2")));
        assertEquals(List.of(), List.of());
    }

    /**
     * One write over many clusters of every kind (owned, zero flag, compressed, shared with a
     * snapshot, unallocated, and the partial last cluster), then a fresh run: the content matches,
     * qemu-img check is clean, and the fresh clusters lie in one contiguous host run.
     */
    @ParameterizedTest
    @ValueSource(strings = {"compat=1.1", "compat=0.10", "extended_l2=on,cluster_size=16k", "cluster_size=4k"})
    void multiClusterWritesMixKindsAndLayFreshClustersOutInOneRun(String options) throws IOException {
        int size = SIZE + 12800;
        img(dir, "create", "-f", "qcow2", "-o", options, "m.qcow2", Integer.toString(size));
        io(dir, "qcow2", "m.qcow2", "write -P 0x11 0 64k", "write -c -P 0x22 128k 64k", "write -P 0x33 1M 256k");
        img(dir, "snapshot", "-c", "one", "m.qcow2");
        if (!options.contains("0.10")) {
            io(dir, "qcow2", "m.qcow2", "write -z 512k 64k");
        }
        byte[] model = QemuTools.qemuRaw(dir, "m.qcow2");
        Random r = new Random(options.hashCode());
        try (Disk d = Disk.open(dir.resolve("m.qcow2"), OpenOptions.defaultReadWrite())) {
            byte[] all = new byte[size];
            r.nextBytes(all);
            d.write(0, ByteBuffer.wrap(all)); // whole disk: every kind, and the partial last cluster
            System.arraycopy(all, 0, model, 0, size);
            byte[] again = new byte[3 << 20];
            r.nextBytes(again);
            d.write(1 << 20, ByteBuffer.wrap(again)); // in place now: owned clusters only
            System.arraycopy(again, 0, model, 1 << 20, again.length);
        }
        verifyWithQemu("m.qcow2", model);
        img(dir, "snapshot", "-d", "one", "m.qcow2");
        QemuTools.assertClean(dir, "qcow2", "m.qcow2");

        img(dir, "create", "-f", "qcow2", "-o", options, "f.qcow2", Integer.toString(SIZE));
        byte[] fresh = new byte[SIZE];
        byte[] run = new byte[options.contains("4k") ? 1 << 20 : 4 << 20]; // inside one L2 table's reach
        r.nextBytes(run);
        System.arraycopy(run, 0, fresh, 2 << 20, run.length);
        try (Disk d = Disk.open(dir.resolve("f.qcow2"), OpenOptions.defaultReadWrite())) {
            d.write(2 << 20, ByteBuffer.wrap(run));
        }
        verifyWithQemu("f.qcow2", fresh);
        String map = img(dir, "map", "--output=json", "f.qcow2");
        long dataEntries = map.lines().filter(l -> l.contains("\"data\": true")).count();
        assertEquals(1, dataEntries, "one contiguous host run for the fresh clusters: " + map);
    }
}
