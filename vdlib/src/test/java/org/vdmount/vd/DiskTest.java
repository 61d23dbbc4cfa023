package org.vdmount.vd;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.util.Arrays;
import java.util.Random;
import java.util.concurrent.CyclicBarrier;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import org.junit.jupiter.api.Test;
import org.vdmount.vd.conformance.DiskBytes;

/** The Disk's chain logic over in-memory layers: fall-through, ZERO, copy-on-write, discard. */
class DiskTest {
    private static final int BS = 4096;

    private static byte[] read(Disk d, long off, int len) throws IOException {
        ByteBuffer b = ByteBuffer.allocate(len);
        d.read(off, b);
        assertEquals(len, b.position(), "read must fill the buffer");
        return b.array();
    }

    @Test
    void topMostLayerWinsAndUnallocatedEverywhereReadsZeros() throws IOException {
        MemImage base = new MemImage(8 * BS, BS, false);
        MemImage mid = new MemImage(8 * BS, BS, true);
        MemImage top = new MemImage(8 * BS, BS, true);
        Disk d = MemImage.chain(base, mid, top);
        byte[] a = DiskBytes.random(BS, 1);
        byte[] b = DiskBytes.random(BS, 2);
        base.blocks.put(0L, a.clone());
        base.blocks.put(1L, a.clone());
        mid.blocks.put(1L, b.clone());
        mid.zeroBlock(0);
        byte[] got = read(d, 0, 3 * BS);
        assertArrayEquals(new byte[BS], Arrays.copyOfRange(got, 0, BS), "ZERO hides the parent");
        assertArrayEquals(b, Arrays.copyOfRange(got, BS, 2 * BS), "nearest layer wins");
        assertArrayEquals(new byte[BS], Arrays.copyOfRange(got, 2 * BS, 3 * BS), "nothing anywhere: zeros");
    }

    @Test
    void bytesBeyondALowerLayersSizeReadAsZeros() throws IOException {
        MemImage base = new MemImage(2 * BS, BS, false);
        base.blocks.put(1L, DiskBytes.random(BS, 3));
        MemImage top = new MemImage(4 * BS, BS, true);
        Disk d = MemImage.chain(base, top);
        byte[] got = read(d, BS, 3 * BS);
        assertArrayEquals(base.blocks.get(1L), Arrays.copyOfRange(got, 0, BS));
        assertArrayEquals(new byte[2 * BS], Arrays.copyOfRange(got, BS, 3 * BS));
    }

    @Test
    void partialWriteIntoFreshBlockCopiesTheRestFromTheParent() throws IOException {
        MemImage base = new MemImage(4 * BS, BS, false);
        byte[] a = DiskBytes.random(BS, 4);
        base.blocks.put(0L, a.clone());
        MemImage top = new MemImage(4 * BS, BS, true);
        Disk d = MemImage.chain(base, top);
        d.write(100, ByteBuffer.wrap(new byte[] {1, 2, 3}));
        byte[] expect = a.clone();
        expect[100] = 1;
        expect[101] = 2;
        expect[102] = 3;
        assertArrayEquals(expect, read(d, 0, BS));
        assertArrayEquals(a, base.blocks.get(0L), "the parent is never written");
        assertEquals(1, top.blocks.size());
    }

    @Test
    void discardInADifferencingLayerNeverShowsParentData() throws IOException {
        MemImage base = new MemImage(4 * BS, BS, false);
        for (long i = 0; i < 4; i++) {
            base.blocks.put(i, DiskBytes.random(BS, (int) i + 10));
        }
        MemImage top = new MemImage(4 * BS, BS, true);
        Disk d = MemImage.chain(base, top);
        d.discard(BS - 10, BS + 20); // tail of block 0, all of block 1, head of block 2
        byte[] got = read(d, 0, 4 * BS);
        byte[] expect = new byte[4 * BS];
        for (int i = 0; i < 4; i++) {
            System.arraycopy(base.blocks.get((long) i), 0, expect, i * BS, BS);
        }
        Arrays.fill(expect, BS - 10, 2 * BS + 10, (byte) 0);
        assertArrayEquals(expect, got);
    }

    @Test
    void partialDiscardOfUnallocatedBaseSpaceAllocatesNothing() throws IOException {
        MemImage base = new MemImage(4 * BS, BS, false);
        Disk d = MemImage.chain(base);
        d.discard(10, 100);
        assertEquals(0, base.blocks.size());
    }

    @Test
    void concurrentWritersIntoOneFreshBlockBothSurvive() throws Exception {
        ExecutorService pool = Executors.newFixedThreadPool(2);
        try {
            for (int round = 0; round < 300; round++) {
                MemImage base = new MemImage(2 * BS, BS, false);
                base.blocks.put(0L, DiskBytes.random(BS, round));
                MemImage top = new MemImage(2 * BS, BS, true);
                Disk d = MemImage.chain(base, top);
                byte[] left = DiskBytes.random(BS / 2 - 7, 1000 + round);
                byte[] right = DiskBytes.random(BS / 2 - 9, 2000 + round);
                CyclicBarrier go = new CyclicBarrier(2);
                Future<?> f1 = pool.submit(() -> {
                    go.await();
                    d.write(3, ByteBuffer.wrap(left));
                    return null;
                });
                Future<?> f2 = pool.submit(() -> {
                    go.await();
                    d.write(BS / 2 + 5, ByteBuffer.wrap(right));
                    return null;
                });
                f1.get();
                f2.get();
                byte[] expect = base.blocks.get(0L).clone();
                System.arraycopy(left, 0, expect, 3, left.length);
                System.arraycopy(right, 0, expect, BS / 2 + 5, right.length);
                assertArrayEquals(expect, read(d, 0, BS), "round " + round);
            }
        } finally {
            pool.shutdownNow();
        }
    }

    @Test
    void randomOperationsMatchAByteArrayModel() throws IOException {
        Random rnd = new Random(42);
        int size = 64 * BS + 123; // last block partial
        MemImage base = new MemImage(size, BS, false);
        MemImage mid = new MemImage(size, BS, true);
        MemImage top = new MemImage(size, BS, true);
        byte[] model = new byte[size];
        Disk lower = MemImage.chain(base);
        for (int i = 0; i < 40; i++) {
            int off = rnd.nextInt(size);
            int len = 1 + rnd.nextInt(Math.min(3 * BS, size - off));
            byte[] p = DiskBytes.random(len, rnd.nextInt());
            lower.write(off, ByteBuffer.wrap(p));
            System.arraycopy(p, 0, model, off, len);
        }
        Disk d = MemImage.chain(base, mid, top);
        for (int step = 0; step < 4000; step++) {
            int off = rnd.nextInt(size);
            int len = 1 + rnd.nextInt(Math.min(3 * BS, size - off));
            switch (rnd.nextInt(4)) {
                case 0 -> {
                    byte[] p = DiskBytes.random(len, rnd.nextInt());
                    d.write(off, ByteBuffer.wrap(p));
                    System.arraycopy(p, 0, model, off, len);
                }
                case 1 -> {
                    d.discard(off, len);
                    Arrays.fill(model, off, off + len, (byte) 0);
                }
                default -> assertArrayEquals(Arrays.copyOfRange(model, off, off + len), read(d, off, len),
                        "step " + step + " read at " + off + "+" + len);
            }
        }
        assertArrayEquals(model, read(d, 0, size));
    }

    @Test
    void outOfRangeAndReadOnlyAreRefused() {
        MemImage base = new MemImage(4 * BS, BS, false);
        Disk d = MemImage.chain(base);
        assertThrows(VdException.class, () -> d.read(4 * BS - 1, ByteBuffer.allocate(2)));
        assertThrows(VdException.class, () -> d.write(-1, ByteBuffer.allocate(2)));
    }

    /**
     * A fill reads the block's old bytes from the parent, then writes the whole block; a
     * whole-block write by another thread must not land in between, or the fill's stale bytes go
     * over it. The parent's read is held open here until the other write has had every chance to
     * land: it must wait for the fill (and then win), not be overwritten by it.
     */
    @Test
    void aWholeBlockWriteNeverLandsBetweenAFillsReadAndItsWrite() throws Exception {
        java.util.concurrent.CountDownLatch reading = new java.util.concurrent.CountDownLatch(1);
        java.util.concurrent.CountDownLatch release = new java.util.concurrent.CountDownLatch(1);
        MemImage base = new MemImage(4 * BS, BS, false) {
            @Override
            public void readData(long offset, ByteBuffer dst) {
                reading.countDown();
                try {
                    release.await();
                } catch (InterruptedException e) {
                    Thread.currentThread().interrupt();
                }
                super.readData(offset, dst);
            }
        };
        byte[] old = new byte[BS];
        Arrays.fill(old, (byte) 0x11);
        base.blocks.put(0L, old);
        Disk d = MemImage.chain(base, new MemImage(4 * BS, BS, true));
        byte[] whole = new byte[BS];
        Arrays.fill(whole, (byte) 0x77);
        ExecutorService pool = Executors.newFixedThreadPool(2);
        try {
            Future<?> fill = pool.submit(() -> {
                d.write(100, ByteBuffer.wrap(new byte[] {0x77, 0x77}));
                return null;
            });
            reading.await();
            Future<?> full = pool.submit(() -> {
                d.write(0, ByteBuffer.wrap(whole.clone()));
                return null;
            });
            try {
                full.get(300, java.util.concurrent.TimeUnit.MILLISECONDS); // lands now only if nothing stops it
            } catch (java.util.concurrent.TimeoutException e) {
                // waiting for the fill: as it should
            }
            release.countDown();
            fill.get();
            full.get();
        } finally {
            release.countDown();
            pool.shutdownNow();
        }
        assertArrayEquals(whole, read(d, 0, BS), "the whole-block write was overwritten by the fill's stale bytes");
    }
}
