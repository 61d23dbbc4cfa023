package org.vdmount.vd.format.vdi;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.vdmount.vd.format.vdi.VdiTestSupport.assertDiskEquals;
import static org.vdmount.vd.format.vdi.VdiTestSupport.random;
import static org.vdmount.vd.format.vdi.VdiTestSupport.write;

import java.nio.ByteBuffer;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.List;
import java.util.Random;
import java.util.concurrent.CyclicBarrier;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.vdmount.vd.Allocation;
import org.vdmount.vd.ChainException;
import org.vdmount.vd.CreateOptions;
import org.vdmount.vd.Disk;
import org.vdmount.vd.Image;
import org.vdmount.vd.OpenOptions;
import org.vdmount.vd.Run;

/** Differencing chains made by {@link VdiFormat#create}, checked against an in-memory model. */
class VdiChainTest {
    private static final int BLOCK = 128 << 10;
    /** Not a multiple of the block size. */
    private static final int SIZE = 40 * BLOCK + 3 * 1024;

    @TempDir
    Path dir;

    private final Random rnd = new Random(2024);

    private CreateOptions opts(long size) {
        return CreateOptions.of(size).with("block_size", String.valueOf(BLOCK));
    }

    /** Creates {@code name} as a child of the chain whose top is {@code parent}; returns it open with its chain. */
    private Disk child(Path parent, String name) throws Exception {
        Path path = dir.resolve(name);
        try (Disk p = Disk.open(parent, OpenOptions.defaultReadOnly())) {
            new VdiFormat().create(path, opts(0).withParent(p, parent)).close();
        }
        return Disk.open(path, OpenOptions.defaultReadWrite());
    }

    private Path base(byte[] model) throws Exception {
        Path path = dir.resolve("base.vdi");
        try (Disk d = Disk.of(List.of(new VdiFormat().create(path, opts(SIZE))))) {
            for (int i = 0; i < 12; i++) {
                int off = rnd.nextInt(SIZE - 3 * BLOCK);
                write(d, model, off, random(rnd, 1 + rnd.nextInt(2 * BLOCK)));
            }
            write(d, model, SIZE - 1500, random(rnd, 1500));
        }
        return path;
    }

    @Test
    void threeLayerChainMatchesModelAndReopens() throws Exception {
        byte[] model = new byte[SIZE];
        Path base = base(model);
        try (Disk d = child(base, "mid.vdi")) {
            assertEquals(2, d.layers().size());
            assertEquals(d.layers().get(0).uuid(), d.top().parent().uuid());
            assertEquals("differencing", d.top().variant());
            assertEquals(SIZE, d.size());
            assertDiskEquals(model, d);
            for (int i = 0; i < 20; i++) {
                write(d, model, rnd.nextInt(SIZE - 2 * BLOCK), random(rnd, 1 + rnd.nextInt(2 * BLOCK)));
            }
            assertDiskEquals(model, d);
        }
        try (Disk d = child(dir.resolve("mid.vdi"), "top.vdi")) {
            assertEquals(3, d.layers().size());
            for (int i = 0; i < 20; i++) {
                write(d, model, rnd.nextInt(SIZE - 2 * BLOCK), random(rnd, 1 + rnd.nextInt(2 * BLOCK)));
            }
            write(d, model, SIZE - 700, random(rnd, 700));
            assertDiskEquals(model, d);
            VdiImage mid = (VdiImage) d.layers().get(1);
            VdiImage top = (VdiImage) d.top();
            assertEquals(mid.uuid(), top.parent().uuid());
            assertEquals(mid.modificationUuid(), top.details().get("uuid_parent_modify"));
        }
        // reopen read-only: the parents are found by UUID in the same directory
        try (Disk d = Disk.open(dir.resolve("top.vdi"), OpenOptions.defaultReadOnly())) {
            assertEquals(3, d.layers().size());
            assertEquals(dir.resolve("base.vdi"), d.layers().get(0).storage().path());
            assertDiskEquals(model, d);
        }
    }

    @Test
    void partialWriteIntoFreshChildBlockKeepsParentData() throws Exception {
        byte[] model = new byte[SIZE];
        Path base = base(model);
        try (Disk d = Disk.of(List.of(new VdiFormat().create(base.resolveSibling("b2.vdi"), opts(SIZE))))) {
            Arrays.fill(model, (byte) 0);
            write(d, model, 0, random(rnd, SIZE)); // parent data everywhere
        }
        try (Disk d = child(base.resolveSibling("b2.vdi"), "c.vdi")) {
            long blockStart = 5L * BLOCK;
            assertEquals(Allocation.UNALLOCATED, Run.kind(d.top().map(blockStart, BLOCK)));
            write(d, model, blockStart + 1000, random(rnd, 333));
            assertEquals(Allocation.DATA, Run.kind(d.top().map(blockStart, BLOCK)));
            ByteBuffer b = ByteBuffer.allocate(BLOCK);
            d.read(blockStart, b);
            assertArrayEquals(Arrays.copyOfRange(model, (int) blockStart, (int) blockStart + BLOCK), b.array());
            assertDiskEquals(model, d);
        }
    }

    @Test
    void discardInChildReadsZerosNotParentData() throws Exception {
        byte[] model = new byte[SIZE];
        Path basePath = dir.resolve("full.vdi");
        try (Disk d = Disk.of(List.of(new VdiFormat().create(basePath, opts(SIZE))))) {
            write(d, model, 0, random(rnd, SIZE));
        }
        try (Disk d = child(basePath, "c.vdi")) {
            write(d, model, 3L * BLOCK + 10, random(rnd, 20)); // allocated in the child, then discarded
            d.discard(2L * BLOCK, 2L * BLOCK);              // one free and one allocated child block
            Arrays.fill(model, 2 * BLOCK, 4 * BLOCK, (byte) 0);
            d.discard(7L * BLOCK + 100, 1000);               // partial: zeros written
            Arrays.fill(model, 7 * BLOCK + 100, 7 * BLOCK + 1100, (byte) 0);
            d.discard(SIZE - 3 * 1024, 3 * 1024);            // the partial last block, whole for the image
            Arrays.fill(model, SIZE - 3 * 1024, SIZE, (byte) 0);
            assertEquals(Allocation.ZERO, Run.kind(d.top().map(2L * BLOCK, BLOCK)));
            assertEquals(Allocation.ZERO, Run.kind(d.top().map(3L * BLOCK, BLOCK)));
            assertDiskEquals(model, d);
        }
        try (Disk d = Disk.open(dir.resolve("c.vdi"), OpenOptions.defaultReadOnly())) {
            assertDiskEquals(model, d);
        }
    }

    @Test
    void concurrentHalfWritesIntoOneFreshBlockBothSurvive() throws Exception {
        int blocks = 300;
        int size = blocks * BLOCK;
        byte[] model = new byte[size];
        Path basePath = dir.resolve("cbase.vdi");
        try (Disk d = Disk.of(List.of(new VdiFormat().create(basePath, opts(size))))) {
            write(d, model, 0, random(rnd, size));
        }
        ExecutorService pool = Executors.newFixedThreadPool(2);
        try (Disk d = child(basePath, "cc.vdi")) {
            CyclicBarrier barrier = new CyclicBarrier(2);
            int part = BLOCK * 2 / 5;
            for (int b = 0; b < blocks; b++) {
                long start = (long) b * BLOCK;
                byte[] first = random(rnd, part);
                byte[] second = random(rnd, part);
                System.arraycopy(first, 0, model, (int) start, part);
                System.arraycopy(second, 0, model, (int) start + BLOCK - part, part);
                Future<?> f1 = pool.submit(() -> {
                    barrier.await();
                    d.write(start, ByteBuffer.wrap(first));
                    return null;
                });
                Future<?> f2 = pool.submit(() -> {
                    barrier.await();
                    d.write(start + BLOCK - part, ByteBuffer.wrap(second));
                    return null;
                });
                f1.get();
                f2.get();
                ByteBuffer got = ByteBuffer.allocate(BLOCK);
                d.read(start, got);
                assertArrayEquals(Arrays.copyOfRange(model, (int) start, (int) start + BLOCK), got.array(),
                        "block " + b);
            }
        } finally {
            pool.shutdownNow();
        }
        try (Disk d = Disk.open(dir.resolve("cc.vdi"), OpenOptions.defaultReadOnly())) {
            assertDiskEquals(model, d);
            assertEquals((long) blocks * BLOCK, d.top().allocatedBytes());
        }
    }

    @Test
    void missingParentIsAChainError() throws Exception {
        byte[] model = new byte[SIZE];
        Path base = base(model);
        child(base, "orphan.vdi").close();
        Path elsewhere = Files.createDirectory(dir.resolve("elsewhere"));
        Files.move(dir.resolve("orphan.vdi"), elsewhere.resolve("orphan.vdi"));
        ChainException e = assertThrows(ChainException.class,
                () -> Disk.open(elsewhere.resolve("orphan.vdi"), OpenOptions.defaultReadOnly()));
        assertTrue(e.getMessage().contains("parent"), e.getMessage());
        // --parent-dir finds it
        try (Disk d = Disk.open(elsewhere.resolve("orphan.vdi"),
                OpenOptions.defaultReadOnly().withParentDirs(List.of(dir)))) {
            assertDiskEquals(model, d);
        }
    }

    @Test
    void childOfNonVdiParentNeedsItsUuid() throws Exception {
        Path raw = dir.resolve("p.raw");
        Files.write(raw, new byte[1 << 20]);
        try (Disk p = Disk.open(raw, OpenOptions.defaultReadOnly())) {
            assertThrows(org.vdmount.vd.UnsupportedFeatureException.class,
                    () -> new VdiFormat().create(dir.resolve("x.vdi"), opts(0).withParent(p, raw)));
        }
        Image img = new VdiFormat().create(dir.resolve("y.vdi"), opts(1 << 20));
        img.close();
    }

    @Test
    void childOfAVhdParentIsFoundByUuidOnReopen() throws Exception {
        Path vhd = dir.resolve("base.vhd");
        byte[] data = new byte[2 << 20];
        new Random(7).nextBytes(data);
        try (Image base = new org.vdmount.vd.format.vhd.VhdFormat().create(vhd, opts(2 << 20));
             Disk d = Disk.of(List.of(base))) {
            d.write(0, ByteBuffer.wrap(data));
        }
        try (Disk p = Disk.open(vhd, OpenOptions.defaultReadOnly())) {
            new VdiFormat().create(dir.resolve("child.vdi"), opts(0).withParent(p, vhd)).close();
        }
        try (Disk chain = Disk.open(dir.resolve("child.vdi"), OpenOptions.defaultReadOnly())) {
            assertEquals(2, chain.layers().size());
            assertEquals("vhd", chain.layers().get(0).format().name());
            ByteBuffer b = ByteBuffer.allocate(data.length);
            chain.read(0, b);
            assertArrayEquals(data, b.array());
        }
    }
}
