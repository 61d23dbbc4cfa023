package org.vdmount.vd;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.vdmount.vd.ChainTesting.KIB;
import static org.vdmount.vd.ChainTesting.MIB;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Random;
import java.util.stream.Stream;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.vdmount.vd.format.qcow2.QemuTools;
import org.vdmount.vd.conformance.DiskBytes;
import org.vdmount.vd.conformance.ModelRun;

/**
 * A chain as deep as the resolver allows (256 layers) reads and writes correctly, also on a
 * thread with a small stack; a deeper one is a one-line ChainException that leaks no file.
 */
class DeepChainTest {
    private static final int SIZE = MIB + 1536;
    private static final int LAYERS = 300;
    private static final int MAX = ChainResolver.MAX_DEPTH;

    @TempDir
    static Path dir;
    /** The model as the chain of MAX layers (l0..l255) reads. */
    private static byte[] atMax;

    /**
     * Builds l0 ← l1 ← ... ← l299 (qcow2, our create; relative backing names), each layer with
     * a few unaligned writes through the chain below it, some discards; all layers stay open
     * while building, so this takes O(n) opens.
     */
    @BeforeAll
    static void build() throws IOException {
        ImageFormat qcow2 = FormatRegistry.require("qcow2");
        List<Image> open = new ArrayList<>();
        byte[] model = new byte[SIZE];
        Random rnd = new Random(LAYERS);
        try {
            for (int i = 0; i < LAYERS; i++) {
                Path p = dir.resolve(name(i));
                CreateOptions o = i == 0 ? CreateOptions.of(SIZE)
                        : CreateOptions.of(0).withParent(Disk.of(List.copyOf(open)), Path.of(name(i - 1)));
                open.add(qcow2.create(p, o));
                Disk d = Disk.of(List.copyOf(open)); // not closed: the images are closed below
                for (int w = 0; w < 2; w++) {
                    int len = 1 + rnd.nextInt(6 * KIB);
                    int off = rnd.nextInt(SIZE - len + 1);
                    byte[] data = new byte[len];
                    Arrays.fill(data, (byte) (i + 1));
                    data[0] = (byte) w;
                    d.write(off, ByteBuffer.wrap(data));
                    System.arraycopy(data, 0, model, off, len);
                }
                if (i % 16 == 5) {
                    int len = 1 + rnd.nextInt(200 * KIB);
                    int off = rnd.nextInt(SIZE - len + 1);
                    d.discard(off, len);
                    Arrays.fill(model, off, off + len, (byte) 0);
                }
                d.top().flush();
                if (i == MAX - 1) {
                    atMax = model.clone();
                }
            }
        } finally {
            for (Image img : open) {
                img.close();
            }
        }
    }

    private static String name(int i) {
        return "l" + i + ".qcow2";
    }

    @Test
    void chainAtTheDepthLimitReadsLikeTheModelAndLikeQemu() throws Exception {
        try (Disk d = Disk.open(dir.resolve(name(MAX - 1)), OpenOptions.defaultReadOnly())) {
            assertEquals(MAX, d.layers().size());
            // Disk.readLayer recurses once per layer that leaves a range unallocated: measured, a
            // cold 256-layer read needs 160-192 KiB; half of Java's default 1 MiB must do
            DiskBytes.assertSame(atMax, readOnSmallStack(d, 512 * KIB), "read on a small stack");
            DiskBytes.assertDisk(atMax, d, MAX + " layers");
        }
        if (QemuTools.available()) {
            DiskBytes.assertSame(atMax, ChainTesting.qemuRaw(dir.resolve(name(MAX - 1)), "qcow2"), "qemu");
        }
    }

    @Test
    void writesAtTheDepthLimitFillFromTheWholeChain() throws IOException {
        Path top = dir.resolve("writable.qcow2");
        try (Disk parent = Disk.open(dir.resolve(name(MAX - 2)), OpenOptions.defaultReadOnly())) {
            assertEquals(MAX - 1, parent.layers().size());
            FormatRegistry.require("qcow2").create(top, CreateOptions.of(0).withParent(parent,
                    Path.of(name(MAX - 2)))).close();
        }
        byte[] model;
        try (Disk d = Disk.open(dir.resolve(name(MAX - 2)), OpenOptions.defaultReadOnly())) {
            model = DiskBytes.readAll(d);
        }
        try (Disk d = Disk.open(top, OpenOptions.defaultReadWrite())) {
            assertEquals(MAX, d.layers().size());
            ModelRun.scribble(d, model, new Random(7), 20);
            DiskBytes.assertDisk(model, d, "written at depth " + MAX);
        }
        try (Disk d = Disk.open(top, OpenOptions.defaultReadOnly())) {
            DiskBytes.assertDisk(model, d, "reopened");
        }
        Files.delete(top);
    }

    @Test
    void deeperChainsAreAOneLineChainExceptionAndLeakNoFile() throws IOException {
        long fdsBefore = openFds();
        for (int top : new int[] {MAX, LAYERS - 1}) {
            Path p = dir.resolve(name(top));
            ChainException e = org.junit.jupiter.api.Assertions.assertThrows(ChainException.class,
                    () -> Disk.open(p, OpenOptions.defaultReadOnly()).close());
            DiskBytes.assertOneLine(e, p.getFileName().toString(), String.valueOf(MAX));
        }
        assertEquals(fdsBefore, openFds(), "file descriptors left open by failed opens");
        // the top alone, without its parents, still opens: the image itself is fine
        try (Image img = FormatRegistry.open(dir.resolve(name(LAYERS - 1)), OpenOptions.defaultReadOnly())) {
            assertTrue(img.parent() != null);
        }
    }

    private static long openFds() throws IOException {
        try (Stream<Path> s = Files.list(Path.of("/proc/self/fd"))) {
            return s.count();
        }
    }

    /** Reads {@code d} whole on a thread with a small stack (a FUSE thread's stack is not ours to pick). */
    static byte[] readOnSmallStack(Disk d, long stackBytes) throws Exception {
        byte[][] out = new byte[1][];
        Throwable[] err = new Throwable[1];
        Thread t = new Thread(null, () -> {
            try {
                out[0] = DiskBytes.readAll(d);
            } catch (Throwable e) {
                err[0] = e;
            }
        }, "small-stack", stackBytes);
        t.start();
        t.join();
        if (err[0] != null) {
            throw new AssertionError("read on a " + stackBytes + "-byte stack failed: " + err[0], err[0]);
        }
        return out[0];
    }
}
