package org.vdmount.vd.format.vhd;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.vdmount.vd.format.vhd.VhdTestSupport.assertBytes;
import static org.vdmount.vd.format.vhd.VhdTestSupport.assumeTool;

import java.nio.ByteBuffer;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.vdmount.vd.CreateOptions;
import org.vdmount.vd.Disk;
import org.vdmount.vd.Image;
import org.vdmount.vd.OpenOptions;

/** Differencing chains we create, against a byte[] model and against libvhdi's vhdimount. */
class VhdDifferencingTest {
    static final int SIZE = 6 * 1024 * 1024 + 1536;
    static final int BLOCK = 512 * 1024;

    @TempDir
    Path dir;

    /** Creates base + 2 children; {@code writer} fills each layer through the chain below it. */
    interface LayerWriter {
        void fill(Disk d, byte[] model, Random r, int layer) throws Exception;
    }

    /** Model of each layer's view after it was written (base, mid, top). */
    private final List<byte[]> snapshots = new java.util.ArrayList<>();

    private Path[] chain(byte[] model, LayerWriter writer) throws Exception {
        Path[] p = {dir.resolve("base.vhd"), dir.resolve("mid.vhd"), dir.resolve("top.vhd")};
        VhdFormat f = new VhdFormat();
        Random r = new Random(42);
        try (Disk d = Disk.of(List.of(f.create(p[0], CreateOptions.of(SIZE).with("block_size", "512K"))))) {
            writer.fill(d, model, r, 0);
        }
        snapshots.add(model.clone());
        for (int layer = 1; layer < 3; layer++) {
            try (Disk parent = Disk.open(p[layer - 1], OpenOptions.defaultReadOnly())) {
                CreateOptions o = new CreateOptions(0, Map.of("block_size", "512K"), parent, p[layer - 1]);
                try (Image child = f.create(p[layer], o)) {
                    assertEquals("differencing", child.variant());
                    assertEquals(SIZE, child.virtualSize());
                    assertEquals(parent.top().linkUuid(), child.parent().uuid());
                    assertEquals(".\\" + p[layer - 1].getFileName(), child.parent().locators().get(0));
                }
            }
            try (Disk d = Disk.open(p[layer], OpenOptions.defaultReadWrite())) { // parent found by W2ru
                assertEquals(layer + 1, d.layers().size());
                assertBytes(model, VhdTestSupport.readAll(d, layer), "layer " + layer + " before writing");
                writer.fill(d, model, r, layer);
                assertBytes(model, VhdTestSupport.readAll(d, layer + 10), "layer " + layer + " after writing");
            }
            snapshots.add(model.clone());
        }
        return p;
    }

    private static void write(Disk d, byte[] model, int off, byte[] data) throws Exception {
        d.write(off, ByteBuffer.wrap(data));
        System.arraycopy(data, 0, model, off, data.length);
    }

    @Test
    void unalignedWritesThroughThreeLayers() throws Exception {
        byte[] model = new byte[SIZE];
        Path[] p = chain(model, (d, m, r, layer) -> {
            for (int i = 0; i < 80; i++) {
                int off = r.nextInt(SIZE);
                byte[] data = new byte[Math.min(SIZE - off, 1 + r.nextInt(i % 8 == 0 ? 1_500_000 : 9000))];
                r.nextBytes(data);
                write(d, m, off, data);
            }
        });
        try (Disk d = Disk.open(p[2], OpenOptions.defaultReadOnly())) {
            assertEquals(3, d.layers().size());
            assertBytes(model, VhdTestSupport.readAll(d, 99), "reopened chain");
        }
    }

    /** Parent in a sub-directory: neither its name nor the (absolute) W2ku locator finds it; W2ru does. */
    @Test
    void parentFoundThroughRelativeLocatorOnly() throws Exception {
        Path parents = Files.createDirectory(dir.resolve("parents"));
        Path base = parents.resolve("base.vhd");
        Path child = dir.resolve("child.vhd");
        VhdFormat f = new VhdFormat();
        byte[] model = VhdTestSupport.pattern(3, SIZE);
        try (Disk d = Disk.of(List.of(f.create(base, CreateOptions.of(SIZE))))) {
            d.write(0, ByteBuffer.wrap(model));
        }
        try (Disk parent = Disk.open(base, OpenOptions.defaultReadOnly())) {
            try (Image c = f.create(child, new CreateOptions(0, Map.of(), parent, base))) {
                assertEquals(List.of(".\\parents\\base.vhd", base.toAbsolutePath().toString(), "base.vhd"),
                        c.parent().locators());
            }
        }
        try (Disk d = Disk.open(child, OpenOptions.defaultReadOnly())) {
            assertEquals(base.toAbsolutePath(), d.layers().get(0).storage().path().toAbsolutePath().normalize());
            assertBytes(model, VhdTestSupport.readAll(d, 1), "child over parent in parents/");
        }
    }

    @Test
    void vhdimountReadsWholeBlockChain() throws Exception {
        assumeTool("vhdimount");
        assumeTool("fusermount");
        assumeTrueFuse();
        byte[] model = new byte[SIZE];
        Path[] p = chain(model, (d, m, r, layer) -> {
            for (int i = 0; i < 6; i++) {
                int block = r.nextInt(SIZE / BLOCK);
                int blocks = 1 + r.nextInt(2);
                byte[] data = new byte[Math.min(SIZE - block * BLOCK, blocks * BLOCK)];
                r.nextBytes(data);
                write(d, m, block * BLOCK, data);
            }
            if (layer == 2) {
                int block = r.nextInt(SIZE / BLOCK);
                d.discard((long) block * BLOCK, BLOCK);
                Arrays.fill(m, block * BLOCK, block * BLOCK + BLOCK, (byte) 0);
            }
        });
        Path mnt = Files.createDirectory(dir.resolve("mnt"));
        VhdTestSupport.ok("vhdimount", p[2].toString(), mnt.toString());
        try {
            // vhdimount lists the chain base first: vhdi1 = base, vhdi2 = mid, vhdi3 = top
            for (int i = 0; i < 100 && !Files.exists(mnt.resolve("vhdi3")); i++) {
                Thread.sleep(50);
            }
            for (int layer = 0; layer < 3; layer++) {
                assertBytes(snapshots.get(layer), Files.readAllBytes(mnt.resolve("vhdi" + (layer + 1))),
                        "vhdimount of " + p[layer].getFileName());
            }
        } finally {
            VhdTestSupport.run("fusermount", "-u", mnt.toString());
        }
    }

    private static void assumeTrueFuse() {
        org.junit.jupiter.api.Assumptions.assumeTrue(Files.exists(Path.of("/dev/fuse")), "no /dev/fuse");
    }

    @Test
    void discardInChildReadsZerosAndKeepsParent() throws Exception {
        byte[] model = new byte[SIZE];
        new Random(7).nextBytes(model);
        Path base = dir.resolve("d-base.vhd");
        Path child = dir.resolve("d-child.vhd");
        VhdFormat f = new VhdFormat();
        try (Disk d = Disk.of(List.of(f.create(base, CreateOptions.of(SIZE).with("block_size", "512K"))))) {
            d.write(0, ByteBuffer.wrap(model));
        }
        byte[] parentBytes = model.clone();
        try (Disk parent = Disk.open(base, OpenOptions.defaultReadOnly())) {
            f.create(child, new CreateOptions(0, Map.of("block_size", "512K"), parent, base)).close();
        }
        int[][] ranges = {{BLOCK, BLOCK}, {3 * BLOCK + 1000, 2 * BLOCK}, {100, 700}, {SIZE - 5000, 5000}, {0, 512}};
        try (Disk d = Disk.open(child, OpenOptions.defaultReadWrite())) {
            for (int[] rg : ranges) {
                d.discard(rg[0], rg[1]);
                Arrays.fill(model, rg[0], rg[0] + rg[1], (byte) 0);
                assertBytes(model, VhdTestSupport.readAll(d, rg[0]), "after discard at " + rg[0]);
            }
        }
        try (Disk d = Disk.open(child, OpenOptions.defaultReadOnly())) {
            assertBytes(model, VhdTestSupport.readAll(d, 3), "reopened child");
        }
        try (Disk d = Disk.open(base, OpenOptions.defaultReadOnly())) {
            assertBytes(parentBytes, VhdTestSupport.readAll(d, 4), "parent untouched");
        }
    }

    @Test
    void concurrentHalvesOfFreshBlocksBothSurvive() throws Exception {
        byte[] model = new byte[SIZE];
        new Random(8).nextBytes(model);
        Path base = dir.resolve("c-base.vhd");
        Path child = dir.resolve("c-child.vhd");
        VhdFormat f = new VhdFormat();
        try (Disk d = Disk.of(List.of(f.create(base, CreateOptions.of(SIZE).with("block_size", "512K"))))) {
            d.write(0, ByteBuffer.wrap(model));
        }
        try (Disk parent = Disk.open(base, OpenOptions.defaultReadOnly())) {
            f.create(child, new CreateOptions(0, Map.of("block_size", "512K"), parent, base)).close();
        }
        Path fresh = dir.resolve("c-fresh.vhd");
        f.create(fresh, CreateOptions.of(SIZE).with("block_size", "512K")).close();
        for (Path img : new Path[] {child, fresh}) {
            byte[] m = img == child ? model.clone() : new byte[SIZE];
            ExecutorService pool = Executors.newFixedThreadPool(2);
            try (Disk d = Disk.open(img, OpenOptions.defaultReadWrite())) {
                Random r = new Random(9);
                for (int block = 0; block < SIZE / BLOCK; block++) {
                    int half = BLOCK / 2;
                    // unaligned split point in the child: both halves need a fill of one sector
                    int split = img == child && block % 2 == 1 ? half + 100 : half;
                    byte[] a = new byte[split];
                    byte[] b = new byte[BLOCK - split];
                    r.nextBytes(a);
                    r.nextBytes(b);
                    long start = (long) block * BLOCK;
                    CountDownLatch go = new CountDownLatch(1);
                    Future<?> fa = pool.submit(() -> {
                        go.await();
                        d.write(start, ByteBuffer.wrap(a));
                        return null;
                    });
                    Future<?> fb = pool.submit(() -> {
                        go.await();
                        d.write(start + split, ByteBuffer.wrap(b));
                        return null;
                    });
                    go.countDown();
                    fa.get(30, TimeUnit.SECONDS);
                    fb.get(30, TimeUnit.SECONDS);
                    System.arraycopy(a, 0, m, (int) start, a.length);
                    System.arraycopy(b, 0, m, (int) start + split, b.length);
                }
                assertBytes(m, VhdTestSupport.readAll(d, 11), "concurrent halves in " + img.getFileName());
            } finally {
                pool.shutdownNow();
            }
            try (Disk d = Disk.open(img, OpenOptions.defaultReadOnly())) {
                assertBytes(m, VhdTestSupport.readAll(d, 12), "reopened " + img.getFileName());
                assertTrue(d.top().allocatedBytes() > 0);
            }
        }
    }
}
