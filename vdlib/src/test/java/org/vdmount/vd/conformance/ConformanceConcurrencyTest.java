package org.vdmount.vd.conformance;

import static org.junit.jupiter.api.DynamicContainer.dynamicContainer;
import static org.junit.jupiter.api.DynamicTest.dynamicTest;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Collections;
import java.util.List;
import java.util.Random;
import java.util.concurrent.Callable;
import java.util.concurrent.CyclicBarrier;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import java.util.stream.Stream;
import org.junit.jupiter.api.DynamicNode;
import org.junit.jupiter.api.TestFactory;
import org.junit.jupiter.api.io.TempDir;
import org.vdmount.vd.Capability;
import org.vdmount.vd.Disk;
import org.vdmount.vd.OpenOptions;

/**
 * For every registered format that writes, every variant: threads writing different sectors of
 * the same fresh block of the top image at the same moment (a barrier per block), over many
 * blocks, on a fresh base and on a fresh child over a parent full of data; then threads owning
 * disjoint blocks writing, discarding, flushing and reading them at random (on a base, where
 * discards free blocks and formats like VDI move others into the hole, and on a child). Afterwards
 * every thread's bytes are there, the parent's bytes around them too, and the oracle agrees.
 */
class ConformanceConcurrencyTest {
    static final int THREADS = 4;
    /** Fresh blocks written by all threads at once, per run (times {@link Kit#rounds()}). */
    static final int BLOCKS = 12;
    /** Sectors each thread writes in each of those blocks. */
    static final int SECTORS_PER_THREAD = 24;
    /** Operations per thread on its own blocks (times {@link Kit#rounds()}). */
    static final int OWN_BLOCK_OPS = 500;

    @TempDir
    Path dir;

    @TestFactory
    Stream<DynamicNode> parallelWritersKeepEachOthersBytes() {
        return Fixtures.all().stream().map(f -> dynamicContainer(f.format().name(),
                f.variants().stream().map(v -> dynamicContainer(v.name(), nodes(f, v)))));
    }

    private Stream<DynamicNode> nodes(FormatFixture f, Variant v) {
        List<DynamicNode> nodes = new ArrayList<>();
        if (!f.format().can(Capability.WRITE)) {
            return nodes.stream(); // read-only formats: reads by the mutation test, refusals by the capability test
        }
        boolean child = f.format().can(Capability.DIFFERENCING);
        nodes.add(dynamicTest("same fresh block, base", () -> sameBlock(f, v, false)));
        if (child) {
            nodes.add(dynamicTest("same fresh block, child over data", () -> sameBlock(f, v, true)));
        }
        nodes.add(dynamicTest("own blocks, base", () -> ownBlocks(f, v, false)));
        if (child) {
            nodes.add(dynamicTest("own blocks, child over data", () -> ownBlocks(f, v, true)));
        }
        return nodes.stream();
    }

    /** A fresh top (a base, or a child over a base full of random data); returns {layers, model}. */
    private Setup setup(FormatFixture f, Variant v, String name, boolean child) throws IOException {
        byte[][] model = new byte[1][];
        List<Path> layers = Layers.chain(f, v, dir, name, Kit.MODEL_SIZE, child ? 2 : 1, (top, index) -> {
            try (Disk d = Disk.open(top, Kit.readWrite())) {
                if (index > 0) {
                    return; // a fresh child reads its parent
                }
                model[0] = new byte[(int) d.size()];
                if (child) {
                    new Random(Kit.seed(name, "parent")).nextBytes(model[0]);
                    d.write(0, ByteBuffer.wrap(model[0]));
                }
            }
        });
        return new Setup(layers, model[0]);
    }

    private record Setup(List<Path> layers, byte[] model) {
        Path top() {
            return layers.get(layers.size() - 1);
        }
    }

    private void sameBlock(FormatFixture f, Variant v, boolean child) throws Exception {
        String name = f.format().name() + "-" + v.name() + "-same-" + (child ? "child" : "base");
        Setup s = setup(f, v, name, child);
        byte[] model = s.model();
        Random rnd = new Random(Kit.seed(name));
        try (Disk d = Disk.open(s.top(), Kit.readWrite())) {
            long bs = d.top().blockSize();
            int sector = d.logicalSectorSize();
            long blocksInDisk = (model.length + bs - 1) / bs;
            List<Long> order = new ArrayList<>();
            for (long b = 0; b < blocksInDisk; b++) {
                order.add(b);
            }
            Collections.shuffle(order, rnd);
            int blocks = (int) Math.min(blocksInDisk, (long) BLOCKS * Kit.rounds());
            // per block and thread: the pieces it writes, {offset, length}, in distinct sectors
            List<List<List<int[]>>> plan = new ArrayList<>();
            for (int i = 0; i < blocks; i++) {
                long start = order.get(i) * bs;
                int sectors = (int) ((Math.min(model.length, start + bs) - start) / sector);
                List<Integer> picks = new ArrayList<>();
                for (int k = 0; k < sectors; k++) {
                    picks.add(k);
                }
                Collections.shuffle(picks, rnd);
                boolean unaligned = i % 2 == 1;
                List<List<int[]>> perThread = new ArrayList<>();
                for (int t = 0; t < THREADS; t++) {
                    perThread.add(new ArrayList<>());
                }
                for (int k = 0; k < Math.min(sectors, THREADS * SECTORS_PER_THREAD); k++) {
                    int off = (int) (start + (long) picks.get(k) * sector);
                    int len = sector;
                    if (unaligned) { // a piece strictly inside the sector
                        int a = rnd.nextInt(sector - 1);
                        off += a;
                        len = 1 + rnd.nextInt(sector - a - 1);
                    }
                    perThread.get(k % THREADS).add(new int[] {off, len});
                }
                plan.add(perThread);
            }
            CyclicBarrier barrier = new CyclicBarrier(THREADS);
            List<Callable<Void>> writers = new ArrayList<>();
            for (int t = 0; t < THREADS; t++) {
                int me = t;
                writers.add(() -> {
                    Random r = new Random(Kit.seed(name, "thread") + me);
                    for (List<List<int[]>> block : plan) {
                        List<int[]> mine = new ArrayList<>(block.get(me));
                        Collections.shuffle(mine, r);
                        barrier.await(60, TimeUnit.SECONDS);
                        for (int[] p : mine) {
                            d.write(p[0], ByteBuffer.wrap(piece(name, p)));
                        }
                    }
                    return null;
                });
            }
            runAll(writers);
            for (List<List<int[]>> block : plan) {
                for (List<int[]> pieces : block) {
                    for (int[] p : pieces) {
                        System.arraycopy(piece(name, p), 0, model, p[0], p[1]);
                    }
                }
            }
            DiskBytes.assertSame(model, DiskBytes.readAll(d), name + ": after parallel writers");
            DiskBytes.assertMapConsistent(model, d, name);
        }
        finish(f, v, s, name);
    }

    /** The bytes written at piece {offset, length}: never all zero, different for every offset. */
    private static byte[] piece(String name, int[] p) {
        byte[] b = DiskBytes.random(p[1], Kit.seed(name) ^ p[0]);
        b[0] |= 1;
        return b;
    }

    private void ownBlocks(FormatFixture f, Variant v, boolean child) throws Exception {
        String name = f.format().name() + "-" + v.name() + "-own-" + (child ? "child" : "base");
        Setup s = setup(f, v, name, child);
        byte[] model = s.model();
        try (Disk d = Disk.open(s.top(), Kit.readWrite())) {
            long bs = d.top().blockSize();
            // units: the image's blocks, or 64 KiB stripes when there are too few blocks to share out
            long unit = model.length / bs >= 2L * THREADS ? bs : 64 * 1024;
            int units = (int) ((model.length + unit - 1) / unit);
            List<Callable<Void>> workers = new ArrayList<>();
            for (int t = 0; t < THREADS; t++) {
                int me = t;
                workers.add(() -> {
                    Random r = new Random(Kit.seed(name, "thread") + me);
                    for (int op = 0; op < OWN_BLOCK_OPS * Kit.rounds(); op++) {
                        int u = me + THREADS * r.nextInt(Math.max(1, (units - me + THREADS - 1) / THREADS));
                        if (u >= units) {
                            continue;
                        }
                        int start = (int) (u * unit);
                        int end = (int) Math.min(model.length, start + unit);
                        int off = start + r.nextInt(end - start);
                        int len = 1 + r.nextInt(Math.min(end - off, 128 * 1024));
                        int kind = r.nextInt(40);
                        if (kind < 16) {
                            byte[] data = new byte[len];
                            r.nextBytes(data);
                            d.write(off, ByteBuffer.wrap(data));
                            System.arraycopy(data, 0, model, off, len);
                        } else if (kind < 22) {
                            d.discard(start, end - start);
                            Arrays.fill(model, start, end, (byte) 0);
                        } else if (kind < 23) {
                            d.flush();
                        } else {
                            byte[] got = new byte[len];
                            d.read(off, ByteBuffer.wrap(got));
                            DiskBytes.assertRange(model, off, got, len, name + " thread " + me + " op " + op);
                        }
                    }
                    return null;
                });
            }
            runAll(workers);
            DiskBytes.assertSame(model, DiskBytes.readAll(d), name + ": after the workers");
        }
        finish(f, v, s, name);
    }

    /** Reopened read-only the disk reads as the model; then the oracle, where there is one. */
    private static void finish(FormatFixture f, Variant v, Setup s, String name) throws IOException {
        try (Disk d = Disk.open(s.top(), Kit.readOnly())) {
            DiskBytes.assertDisk(s.model(), d, name + ", reopened");
        }
        try {
            OracleRunner.check(f.oracle(v, s.layers().size()), s.layers(), s.model());
        } finally {
            Scratch.delete(s.top().getParent());
        }
    }

    private static void runAll(List<Callable<Void>> tasks) throws Exception {
        ExecutorService pool = Executors.newFixedThreadPool(tasks.size());
        try {
            List<Future<Void>> futures = new ArrayList<>();
            for (Callable<Void> c : tasks) {
                futures.add(pool.submit(c));
            }
            for (Future<Void> fu : futures) {
                try {
                    fu.get(120, TimeUnit.SECONDS);
                } catch (ExecutionException e) {
                    if (e.getCause() instanceof Exception ex) {
                        throw ex;
                    }
                    if (e.getCause() instanceof Error err) {
                        throw err;
                    }
                    throw e;
                } catch (TimeoutException e) {
                    throw new AssertionError("writers hung (deadlock?) for 120 s", e);
                }
            }
        } finally {
            pool.shutdownNow();
        }
    }
}
