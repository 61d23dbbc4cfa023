package org.vdmount.vd.format.vdi;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.vdmount.vd.format.vdi.VdiTestSupport.assertDiskEquals;
import static org.vdmount.vd.format.vdi.VdiTestSupport.ok;
import static org.vdmount.vd.format.vdi.VdiTestSupport.qemuCheckClean;

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
import java.util.concurrent.Semaphore;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;
import org.vdmount.vd.CreateOptions;
import org.vdmount.vd.Disk;
import org.vdmount.vd.OpenOptions;

/**
 * Randomised read/write/discard/flush sequences against a byte[] model (the VirtualBox tstVDIo
 * idea), on a single dynamic image (checked by qemu-img at the end) and on a 3-layer chain.
 */
class VdiModelTest {
    /** 1 MiB: the only block size qemu-img opens, so single images can be checked by it. */
    private static final int BLOCK = 1 << 20;
    private static final int SIZE = 24 * BLOCK + 1536;
    /** Longest unaligned request: crosses block boundaries without making the test slow. */
    private static final int MAX_REQUEST = 384 << 10;

    @TempDir
    Path dir;

    private Path create(String name, Path parent) throws Exception {
        Path path = dir.resolve(name);
        CreateOptions o = CreateOptions.of(parent == null ? SIZE : 0);
        if (parent == null) {
            new VdiFormat().create(path, o).close();
        } else {
            try (Disk p = Disk.open(parent, OpenOptions.defaultReadOnly())) {
                new VdiFormat().create(path, o.withParent(p, parent)).close();
            }
        }
        return path;
    }

    @ParameterizedTest
    @ValueSource(ints = {1, 3})
    void randomOpsMatchModel(int layers) throws Exception {
        Random rnd = new Random(1000 + layers);
        byte[] model = new byte[SIZE];
        Path top = create("l0.vdi", null);
        for (int l = 1; l < layers; l++) {
            // give every lower layer some data of its own before stacking the next one
            try (Disk d = Disk.open(top, OpenOptions.defaultReadWrite())) {
                for (int i = 0; i < 30; i++) {
                    randomWrite(d, model, rnd);
                }
            }
            top = create("l" + l + ".vdi", top);
        }
        Disk d = Disk.open(top, OpenOptions.defaultReadWrite());
        try {
            assertEquals(layers, d.layers().size());
            for (int op = 0; op < 3000; op++) {
                int kind = rnd.nextInt(100);
                if (kind < 35) {
                    randomWrite(d, model, rnd);
                } else if (kind < 75) {
                    int off = rnd.nextInt(SIZE);
                    int len = 1 + rnd.nextInt(Math.min(SIZE - off, MAX_REQUEST));
                    ByteBuffer b = ByteBuffer.allocate(len);
                    d.read(off, b);
                    assertArrayEquals(Arrays.copyOfRange(model, off, off + len), b.array(), "op " + op);
                } else if (kind < 92) {
                    int off = rnd.nextInt(SIZE);
                    int len = 1 + rnd.nextInt(Math.min(SIZE - off, MAX_REQUEST));
                    if (rnd.nextBoolean()) { // block aligned, the common fstrim shape
                        off = off / BLOCK * BLOCK;
                        len = Math.min(SIZE - off, (1 + rnd.nextInt(3)) * BLOCK);
                    }
                    d.discard(off, len);
                    Arrays.fill(model, off, off + len, (byte) 0);
                } else if (kind < 97) {
                    d.flush();
                } else {
                    d.close();
                    d = Disk.open(top, OpenOptions.defaultReadWrite());
                    assertEquals(layers, d.layers().size());
                }
            }
            assertDiskEquals(model, d);
        } finally {
            d.close();
        }
        try (Disk ro = Disk.open(top, OpenOptions.defaultReadOnly())) {
            assertDiskEquals(model, ro);
        }
        if (layers == 1 && VdiTestSupport.onPath("qemu-img")) {
            qemuCheckClean(top);
            Path expected = dir.resolve("expected.raw");
            Files.write(expected, model);
            ok("qemu-img", "compare", "-f", "vdi", "-F", "raw", top.toString(), expected.toString());
        }
    }

    private static void randomWrite(Disk d, byte[] model, Random rnd) throws Exception {
        int off = rnd.nextInt(SIZE);
        int len = 1 + rnd.nextInt(Math.min(SIZE - off, MAX_REQUEST));
        if (rnd.nextInt(4) == 0) {
            off = off / BLOCK * BLOCK;
            len = Math.min(SIZE - off, BLOCK * (1 + rnd.nextInt(2)));
        }
        byte[] data = new byte[len];
        if (rnd.nextInt(5) != 0) {
            rnd.nextBytes(data); // else zeros: whole zero blocks take the no-allocation path
        }
        d.write(off, ByteBuffer.wrap(data));
        System.arraycopy(data, 0, model, off, len);
    }

    /**
     * Block moves racing in-place writes: each round the writer puts its block in the last slot
     * (discard + rewrite) and writes into it in place while the mover discards a block below it, so
     * the writer's block is copied into that hole meanwhile. No write may land in the old slot after
     * the copy and no read may see the old slot after the move.
     */
    @Test
    void inPlaceWritesRaceBlockMoves() throws Exception {
        int blocks = 4;
        int w = blocks - 1;
        int h = 0;
        Path path = dir.resolve("race.vdi");
        new VdiFormat().create(path, CreateOptions.of((long) blocks * BLOCK)).close();
        Semaphore holeReady = new Semaphore(0);
        Semaphore go = new Semaphore(0);
        Semaphore moved = new Semaphore(0);
        int rounds = 60;
        byte[] mine = new byte[BLOCK];
        byte[] theirs = new byte[BLOCK];
        try (Disk d = Disk.open(path, OpenOptions.defaultReadWrite())) {
            ExecutorService pool = Executors.newFixedThreadPool(2);
            try {
                Future<?> mover = pool.submit(() -> {
                    Random rnd = new Random(6);
                    for (int round = 0; round < rounds; round++) {
                        rnd.nextBytes(theirs);
                        d.write((long) h * BLOCK, ByteBuffer.wrap(theirs)); // appended below the writer's next slot
                        holeReady.release();
                        go.acquire();
                        d.discard((long) h * BLOCK, BLOCK); // the writer's block (last) moves into h's slot
                        moved.release();
                    }
                    return null;
                });
                Future<?> writer = pool.submit(() -> {
                    Random rnd = new Random(7);
                    for (int round = 0; round < rounds; round++) {
                        holeReady.acquire();
                        d.discard((long) w * BLOCK, BLOCK);
                        rnd.nextBytes(mine);
                        d.write((long) w * BLOCK, ByteBuffer.wrap(mine)); // now the last slot
                        go.release();
                        int after = 0;
                        for (int i = 0; after < 5; i++) {
                            if (after > 0 || moved.tryAcquire()) {
                                after++;
                            }
                            int off = rnd.nextInt(BLOCK - 4096);
                            byte[] data = VdiTestSupport.random(rnd, 1 + rnd.nextInt(4096));
                            d.write((long) w * BLOCK + off, ByteBuffer.wrap(data));
                            System.arraycopy(data, 0, mine, off, data.length);
                            ByteBuffer b = ByteBuffer.allocate(data.length);
                            d.read((long) w * BLOCK + off, b);
                            assertArrayEquals(data, b.array(), "round " + round + " write " + i);
                        }
                        ByteBuffer whole = ByteBuffer.allocate(BLOCK); // no write lost to the move
                        d.read((long) w * BLOCK, whole);
                        assertArrayEquals(mine, whole.array(), "round " + round);
                    }
                    return null;
                });
                writer.get();
                mover.get();
            } finally {
                pool.shutdownNow();
            }
            byte[] model = new byte[blocks * BLOCK];
            System.arraycopy(mine, 0, model, w * BLOCK, BLOCK);
            assertDiskEquals(model, d);
        }
        if (VdiTestSupport.onPath("qemu-img")) {
            qemuCheckClean(path);
        }
    }

    /**
     * Threads own disjoint blocks and write/discard/read them while discards move other threads'
     * blocks around in the file: nobody may see or lose another's data.
     */
    @Test
    void concurrentWritesAndDiscardsWhileBlocksMove() throws Exception {
        int threads = 4;
        Path path = create("conc.vdi", null);
        byte[] model = new byte[SIZE];
        try (Disk d = Disk.open(path, OpenOptions.defaultReadWrite())) {
            ExecutorService pool = Executors.newFixedThreadPool(threads);
            try {
                List<Future<?>> futures = new ArrayList<>();
                for (int t = 0; t < threads; t++) {
                    int me = t;
                    futures.add(pool.submit(() -> {
                        Random rnd = new Random(77 + me);
                        for (int op = 0; op < 600; op++) {
                            int block = me + threads * rnd.nextInt(SIZE / BLOCK / threads);
                            int start = block * BLOCK;
                            int off = start + rnd.nextInt(BLOCK);
                            int len = 1 + rnd.nextInt(Math.min(MAX_REQUEST, start + BLOCK - off));
                            int kind = rnd.nextInt(10);
                            if (kind < 4) {
                                byte[] data = VdiTestSupport.random(rnd, len);
                                d.write(off, ByteBuffer.wrap(data));
                                System.arraycopy(data, 0, model, off, len);
                            } else if (kind < 6) {
                                d.discard(start, BLOCK);
                                Arrays.fill(model, start, start + BLOCK, (byte) 0);
                            } else if (kind < 7) {
                                d.flush();
                            } else {
                                ByteBuffer b = ByteBuffer.allocate(len);
                                d.read(off, b);
                                assertArrayEquals(Arrays.copyOfRange(model, off, off + len), b.array(),
                                        "thread " + me + " op " + op);
                            }
                        }
                        return null;
                    }));
                }
                for (Future<?> f : futures) {
                    f.get();
                }
            } finally {
                pool.shutdownNow();
            }
            assertDiskEquals(model, d);
        }
        try (Disk ro = Disk.open(path, OpenOptions.defaultReadOnly())) {
            assertDiskEquals(model, ro);
        }
        if (VdiTestSupport.onPath("qemu-img")) {
            qemuCheckClean(path);
        }
    }
}
