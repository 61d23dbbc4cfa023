package org.vdmount.vd.format.vmdk;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;

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
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.vdmount.vd.CreateOptions;
import org.vdmount.vd.Disk;
import org.vdmount.vd.Image;
import org.vdmount.vd.OpenOptions;

/**
 * The tstVDIo idea: random writes, discards, zeroing, flushes and reads on a three-layer chain of
 * our own VMDKs against an in-memory model, with reopens; qemu-img checks the result at the end.
 */
class VmdkModelTest {
    private static final int SIZE = 8 * 1024 * 1024 + 3 * 512;
    private static final int GRAIN = 65536;

    @TempDir
    Path dir;

    private static void ops(Disk d, byte[] model, Random r, int count) throws IOException {
        for (int i = 0; i < count; i++) {
            int kind = r.nextInt(100);
            int off;
            int len;
            if (r.nextInt(4) == 0) { // grain-aligned, whole grains
                off = r.nextInt(model.length / GRAIN) * GRAIN;
                len = Math.min(model.length - off, GRAIN * (1 + r.nextInt(3)));
            } else {
                off = r.nextInt(model.length);
                len = 1 + r.nextInt(Math.min(model.length - off, r.nextBoolean() ? 700 : 150_000));
            }
            if (kind < 55) {
                byte[] data = new byte[len];
                r.nextBytes(data);
                d.write(off, ByteBuffer.wrap(data));
                System.arraycopy(data, 0, model, off, len);
            } else if (kind < 67) {
                d.discard(off, len);
                Arrays.fill(model, off, off + len, (byte) 0);
            } else if (kind < 75) {
                d.zero(off, len);
                Arrays.fill(model, off, off + len, (byte) 0);
            } else if (kind < 80) {
                d.flush();
            } else {
                byte[] got = new byte[len];
                d.read(off, ByteBuffer.wrap(got));
                if (!Arrays.equals(got, 0, len, model, off, off + len)) {
                    throw new AssertionError("op " + i + ": read at " + off + "+" + len + " differs from the model");
                }
            }
        }
    }

    private Image child(String parent, String name, CreateOptions opts) throws IOException {
        try (Disk p = Disk.open(dir.resolve(parent), OpenOptions.defaultReadOnly())) {
            return new VmdkFormat().create(dir.resolve(name), opts.withParent(p, Path.of(parent)));
        }
    }

    @Test
    void threeLayerChainAgainstAModel() throws IOException {
        byte[] model = new byte[SIZE];
        Random r = new Random(2024);
        try (Image base = new VmdkFormat().create(dir.resolve("base.vmdk"), CreateOptions.of(SIZE));
             Disk d = Disk.of(List.of(base))) {
            ops(d, model, r, 800);
        }
        child("base.vmdk", "mid.vmdk", CreateOptions.of(0).with("subformat", "twoGbMaxExtentSparse")
                .with("zeroed_grain", "on")).close();
        try (Disk d = Disk.open(dir.resolve("mid.vmdk"), OpenOptions.defaultReadWrite())) {
            ops(d, model, r, 800);
        }
        child("mid.vmdk", "top.vmdk", CreateOptions.of(0)).close();
        for (int round = 0; round < 6; round++) {
            try (Disk d = Disk.open(dir.resolve("top.vmdk"), OpenOptions.defaultReadWrite())) {
                assertEquals(3, d.layers().size());
                assertArrayEquals(model, Tools.readAll(d), "after reopen " + round);
                ops(d, model, r, 400);
            }
        }
        try (Disk d = Disk.open(dir.resolve("top.vmdk"), OpenOptions.defaultReadOnly())) {
            assertArrayEquals(model, Tools.readAll(d));
        }
        if (Tools.has("qemu-img")) {
            for (String img : new String[] {"base.vmdk", "mid.vmdk", "top.vmdk"}) {
                Tools.qemuCheck(dir.resolve(img));
            }
            Path raw = dir.resolve("model.raw");
            Files.write(raw, model);
            Tools.qemuCompare(raw, dir.resolve("top.vmdk"));
        }
    }

    /** Threads writing disjoint bytes (often inside the same fresh grain) all survive. */
    @Test
    void concurrentWritersIntoFreshGrainsOfAChild() throws Exception {
        byte[] model = Tools.source(SIZE, 77);
        try (Image base = new VmdkFormat().create(dir.resolve("b.vmdk"), CreateOptions.of(SIZE));
             Disk d = Disk.of(List.of(base))) {
            d.write(0, ByteBuffer.wrap(model));
        }
        child("b.vmdk", "c.vmdk", CreateOptions.of(0)).close();
        int threads = 4;
        ExecutorService pool = Executors.newFixedThreadPool(threads);
        try (Disk d = Disk.open(dir.resolve("c.vmdk"), OpenOptions.defaultReadWrite())) {
            List<Future<?>> fs = new ArrayList<>();
            for (int t = 0; t < threads; t++) {
                int id = t;
                fs.add(pool.submit(() -> {
                    Random r = new Random(id);
                    for (int i = 0; i < 400; i++) {
                        // every thread owns the bytes at offsets = id (mod threads) within 1 KiB stripes
                        int stripe = r.nextInt(SIZE / 1024 / threads) * threads + id;
                        int off = stripe * 1024;
                        byte[] data = new byte[1024];
                        r.nextBytes(data);
                        d.write(off, ByteBuffer.wrap(data));
                        synchronized (model) {
                            System.arraycopy(data, 0, model, off, data.length);
                        }
                    }
                    return null;
                }));
            }
            for (Future<?> f : fs) {
                f.get();
            }
            assertArrayEquals(model, Tools.readAll(d));
        } finally {
            pool.shutdown();
        }
        try (Disk d = Disk.open(dir.resolve("c.vmdk"), OpenOptions.defaultReadOnly())) {
            assertArrayEquals(model, Tools.readAll(d));
        }
    }
}
