package org.vdmount.vd.format.vhdx;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.file.Path;
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
import org.vdmount.vd.OpenOptions;

/** Random reads, writes, discards, flushes and reopens on a 3-layer VHDX chain against a byte[] model. */
class VhdxModelTest {
    static final int SIZE = 12 * 1024 * 1024 + 3 * 4096; // a partial last block
    static final VhdxFormat FORMAT = new VhdxFormat();

    @TempDir
    Path dir;

    private byte[] chain(int logicalSector) throws IOException {
        byte[] model = new byte[SIZE];
        Path base = dir.resolve("base.vhdx");
        try (Disk d = Disk.of(List.of(FORMAT.create(base, CreateOptions.of(SIZE).with("block_size", "1M")
                .with("logical_sector_size", String.valueOf(logicalSector)))))) {
            byte[] data = Tools.random(SIZE, 1);
            d.write(0, ByteBuffer.wrap(data));
            System.arraycopy(data, 0, model, 0, SIZE);
            d.discard(4 << 20, 1 << 20);
            Arrays.fill(model, 4 << 20, 5 << 20, (byte) 0);
        }
        VhdxChainTest.createChild(dir.resolve("mid.avhdx"), base, CreateOptions.of(0).with("block_size", "2M")).close();
        try (Disk d = Disk.open(dir.resolve("mid.avhdx"), OpenOptions.defaultReadWrite())) {
            byte[] data = Tools.random(3 << 20, 2);
            d.write(1 << 20, ByteBuffer.wrap(data));
            System.arraycopy(data, 0, model, 1 << 20, data.length);
        }
        VhdxChainTest.createChild(dir.resolve("top.avhdx"), dir.resolve("mid.avhdx"),
                CreateOptions.of(0).with("block_size", "1M")).close();
        return model;
    }

    private void randomOps(int logicalSector, long seed) throws IOException {
        byte[] model = chain(logicalSector);
        Random r = new Random(seed);
        Disk d = Disk.open(dir.resolve("top.avhdx"), OpenOptions.defaultReadWrite());
        try {
            for (int i = 0; i < 3000; i++) {
                int op = r.nextInt(100);
                int len = 1 + r.nextInt(r.nextBoolean() ? 4096 : 600_000);
                int off = r.nextInt(SIZE - len + 1);
                if (r.nextInt(4) == 0) { // sector-aligned shapes
                    off = off / logicalSector * logicalSector;
                    len = Math.max(logicalSector, len / logicalSector * logicalSector);
                    len = Math.min(len, SIZE - off);
                }
                if (op < 45) {
                    ByteBuffer b = ByteBuffer.allocate(len);
                    d.read(off, b);
                    assertArrayEquals(Arrays.copyOfRange(model, off, off + len), b.array(), "op " + i + " read");
                } else if (op < 85) {
                    byte[] data = r.nextInt(10) == 0 ? new byte[len] : Tools.random(len, seed * 10_000 + i);
                    d.write(off, ByteBuffer.wrap(data));
                    System.arraycopy(data, 0, model, off, len);
                } else if (op < 93) {
                    d.discard(off, len);
                    Arrays.fill(model, off, off + len, (byte) 0);
                } else if (op < 98) {
                    d.flush();
                } else {
                    d.close();
                    d = Disk.open(dir.resolve("top.avhdx"), OpenOptions.defaultReadWrite());
                }
            }
            assertArrayEquals(model, Tools.readAll(d));
        } finally {
            d.close();
        }
        try (Disk ro = Disk.open(dir.resolve("top.avhdx"), OpenOptions.defaultReadOnly())) {
            assertEquals(3, ro.layers().size());
            assertEquals(logicalSector, ro.logicalSectorSize());
            assertArrayEquals(model, Tools.readAll(ro));
        }
    }

    @Test
    void randomOperationsOn512ByteSectorChain() throws IOException {
        randomOps(512, 11);
    }

    @Test
    void randomOperationsOn4KSectorChain() throws IOException {
        randomOps(4096, 12);
    }

    @Test
    void concurrentWritersAndReadersOnADifferencingImage() throws Exception {
        byte[] model = chain(512);
        Disk d = Disk.open(dir.resolve("top.avhdx"), OpenOptions.defaultReadWrite());
        ExecutorService pool = Executors.newFixedThreadPool(4);
        try {
            // each writer owns disjoint 64 KiB stripes (so the model is deterministic) in shared blocks
            List<Future<?>> fs = new java.util.ArrayList<>();
            for (int t = 0; t < 4; t++) {
                int id = t;
                fs.add(pool.submit(() -> {
                    Random r = new Random(id);
                    for (int i = 0; i < 300; i++) {
                        int stripe = r.nextInt(SIZE / 65536 / 4) * 4 + id;
                        int off = stripe * 65536 + r.nextInt(60000);
                        int len = 1 + r.nextInt(65536 - off % 65536);
                        byte[] data = Tools.random(len, id * 100_000L + i);
                        d.write(off, ByteBuffer.wrap(data));
                        synchronized (model) {
                            System.arraycopy(data, 0, model, off, len);
                        }
                        ByteBuffer b = ByteBuffer.allocate(len);
                        d.read(off, b);
                        assertArrayEquals(data, b.array());
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
            d.close();
        }
        try (Disk ro = Disk.open(dir.resolve("top.avhdx"), OpenOptions.defaultReadOnly())) {
            assertArrayEquals(model, Tools.readAll(ro));
        }
    }
}
