package org.vdmount.vd.format.qcow2;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.fail;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Random;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;
import org.vdmount.vd.CreateOptions;
import org.vdmount.vd.Disk;
import org.vdmount.vd.OpenOptions;

/**
 * A randomised model test (the VirtualBox tstVDIo idea): a 3-layer qcow2 chain made by our own
 * create, thousands of reads/writes/discards/flushes/reopens against a byte-array model, then
 * qemu-img check on every layer and qemu-img compare of the top against the model.
 */
class Qcow2ModelTest {
    private static final int SIZE = 16 << 20;

    @TempDir
    Path dir;

    @BeforeEach
    void needQemu() {
        QemuTools.assumeQemu();
    }

    private static CreateOptions opts(String spec, long size) {
        CreateOptions co = CreateOptions.of(size);
        for (String kv : spec.split(";")) {
            if (!kv.isBlank()) {
                co = co.with(kv.split("=")[0], kv.split("=")[1]);
            }
        }
        return co;
    }

    /** Creates base ← mid ← top with our create; fills base and mid partly; returns the model. */
    private byte[] buildChain(String baseOpts, String midOpts, String topOpts, Random rnd) throws IOException {
        byte[] model = new byte[SIZE];
        Qcow2Format f = new Qcow2Format();
        f.create(dir.resolve("base.qcow2"), opts(baseOpts, SIZE)).close();
        try (Disk d = Disk.open(dir.resolve("base.qcow2"), OpenOptions.defaultReadWrite())) {
            Qcow2WriteTest.scribble(d, model, rnd.nextLong(), 150);
        }
        try (Disk parent = Disk.open(dir.resolve("base.qcow2"), OpenOptions.defaultReadOnly())) {
            f.create(dir.resolve("mid.qcow2"), opts(midOpts, 0).withParent(parent, Path.of("base.qcow2"))).close();
        }
        try (Disk d = Disk.open(dir.resolve("mid.qcow2"), OpenOptions.defaultReadWrite())) {
            Qcow2WriteTest.scribble(d, model, rnd.nextLong(), 150);
        }
        try (Disk parent = Disk.open(dir.resolve("mid.qcow2"), OpenOptions.defaultReadOnly())) {
            f.create(dir.resolve("top.qcow2"), opts(topOpts, 0).withParent(parent, Path.of("mid.qcow2"))).close();
        }
        return model;
    }

    @ParameterizedTest
    @CsvSource(delimiter = '|', value = {
        "cluster_size=64k|compat=0.10|extended_l2=on;cluster_size=32k",
        "cluster_size=4k;refcount_bits=4|cluster_size=2M|cluster_size=512"})
    void randomOpsOnAChainMatchTheModel(String baseOpts, String midOpts, String topOpts) throws IOException {
        Random rnd = new Random((baseOpts + midOpts + topOpts).hashCode());
        byte[] model = buildChain(baseOpts, midOpts, topOpts, rnd);
        byte[] base = Files.readAllBytes(dir.resolve("base.qcow2"));
        Disk d = Disk.open(dir.resolve("top.qcow2"), OpenOptions.defaultReadWrite());
        try {
            assertEquals(3, d.layers().size());
            for (int op = 0; op < 3000; op++) {
                int kind = rnd.nextInt(100);
                int len = 1 + (rnd.nextInt(5) == 0 ? rnd.nextInt(200_000) : rnd.nextInt(5000));
                int off = rnd.nextInt(SIZE - len + 1);
                if (kind < 45) {
                    byte[] data = new byte[len];
                    if (rnd.nextBoolean()) {
                        rnd.nextBytes(data);
                    } else {
                        Arrays.fill(data, (byte) (op | 1));
                    }
                    d.write(off, ByteBuffer.wrap(data));
                    System.arraycopy(data, 0, model, off, len);
                } else if (kind < 80) {
                    ByteBuffer b = ByteBuffer.allocate(len);
                    d.read(off, b);
                    if (!Arrays.equals(model, off, off + len, b.array(), 0, len)) {
                        fail("op " + op + ": read " + off + "+" + len + " differs from the model");
                    }
                } else if (kind < 92) {
                    d.discard(off, len);
                    Arrays.fill(model, off, off + len, (byte) 0);
                } else if (kind < 97) {
                    d.flush();
                } else {
                    d.close();
                    d = Disk.open(dir.resolve("top.qcow2"), OpenOptions.defaultReadWrite());
                }
            }
            QemuTools.assertFirstDifference(model, QemuTools.readAll(d), "final state");
        } finally {
            d.close();
        }
        assertArrayEquals(base, Files.readAllBytes(dir.resolve("base.qcow2")), "lower layers are never written");
        for (String layer : List.of("base.qcow2", "mid.qcow2", "top.qcow2")) {
            QemuTools.assertClean(dir, "qcow2", layer);
        }
        Files.write(dir.resolve("model.raw"), model);
        QemuTools.Result r = QemuTools.run(dir, true, "qemu-img", "compare", "-f", "qcow2", "-F", "raw",
                "top.qcow2", "model.raw");
        assertEquals(0, r.exit(), "qemu-img compare: " + r.out() + r.err());
    }

    @Test
    void concurrentWritersAndReadersOnDisjointClusters() throws Exception {
        Random seed = new Random(77);
        byte[] model = buildChain("cluster_size=64k", "cluster_size=64k", "cluster_size=16k;extended_l2=on", seed);
        int threads = 4;
        int cluster = 64 * 1024;
        try (Disk d = Disk.open(dir.resolve("top.qcow2"), OpenOptions.defaultReadWrite())) {
            ExecutorService pool = Executors.newFixedThreadPool(threads);
            List<Future<?>> futures = new ArrayList<>();
            for (int t = 0; t < threads; t++) {
                int me = t;
                futures.add(pool.submit(() -> {
                    Random rnd = new Random(me);
                    for (int op = 0; op < 1500; op++) {
                        int c = rnd.nextInt(SIZE / cluster / threads) * threads + me; // my clusters only
                        int in = rnd.nextInt(cluster);
                        int len = 1 + rnd.nextInt(cluster - in);
                        long off = (long) c * cluster + in;
                        int kind = rnd.nextInt(10);
                        if (kind < 5) {
                            byte[] data = new byte[len];
                            rnd.nextBytes(data);
                            d.write(off, ByteBuffer.wrap(data));
                            synchronized (model) {
                                System.arraycopy(data, 0, model, (int) off, len);
                            }
                        } else if (kind < 6) {
                            d.discard((long) c * cluster, cluster);
                            synchronized (model) {
                                Arrays.fill(model, c * cluster, (c + 1) * cluster, (byte) 0);
                            }
                        } else {
                            ByteBuffer b = ByteBuffer.allocate(len);
                            d.read(off, b);
                            byte[] expect;
                            synchronized (model) {
                                expect = Arrays.copyOfRange(model, (int) off, (int) off + len);
                            }
                            if (!Arrays.equals(expect, b.array())) {
                                throw new AssertionError("thread " + me + " op " + op + ": read differs at " + off);
                            }
                        }
                        if (op % 300 == 0) {
                            d.flush();
                        }
                    }
                    return null;
                }));
            }
            for (Future<?> f : futures) {
                f.get();
            }
            pool.shutdown();
            QemuTools.assertFirstDifference(model, QemuTools.readAll(d), "after concurrent writers");
        }
        QemuTools.assertClean(dir, "qcow2", "top.qcow2");
    }
}
