package org.vdmount.vd.format.vdi;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;

import java.nio.ByteBuffer;
import java.nio.file.Path;
import java.util.Random;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.Semaphore;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.vdmount.vd.CreateOptions;
import org.vdmount.vd.Disk;
import org.vdmount.vd.OpenOptions;
import org.vdmount.vd.conformance.DiskBytes;
import org.vdmount.vd.conformance.ExternalTools;

/**
 * VDI compacts on discard: the last block moves into the hole. This race is VDI's own; the
 * randomised model, mutation and concurrency tests are the conformance kit's (VdiFixture).
 */
class VdiBlockMoveRaceTest {
    private static final int BLOCK = 1 << 20;

    @TempDir
    Path dir;

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
            DiskBytes.assertDisk(model, d, "after the race");
        }
        if (ExternalTools.has("qemu-img")) {
            ExternalTools.run(dir, "qemu-img", "check", "-f", "vdi", path.toString());
        }
    }
}
