package org.vdmount.vd.format.vhdx;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Random;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.vdmount.vd.CreateOptions;
import org.vdmount.vd.Disk;
import org.vdmount.vd.Image;
import org.vdmount.vd.OpenOptions;

/**
 * The writer is stopped after its N-th metadata write or flush, for every N of a scripted
 * workload, and the image abandoned as a crash would leave it. Every reopen must be consistent:
 * bytes untouched since the last completed flush read as flushed, touched bytes as before or after
 * one of the later operations; the read-only replay equals the read-write one; qemu-img check passes.
 */
class VhdxCrashTest {
    static final int SIZE = 8 * 1024 * 1024;
    static final VhdxFormat FORMAT = new VhdxFormat();

    @TempDir
    Path dir;

    /** Thrown by the hook: the simulated crash. */
    static final class Crash extends IOException {
        private static final long serialVersionUID = 1L;

        Crash(String step) {
            super("simulated crash at " + step);
        }
    }

    /** The model: the flushed state and the operations since (each may or may not have landed). */
    static final class Model {
        byte[] current;
        byte[] durable;
        final List<long[]> ranges = new ArrayList<>(); // {offset, length} since the last flush
        final List<byte[]> values = new ArrayList<>();

        Model(byte[] start) {
            current = start.clone();
            durable = start.clone();
        }

        void started(long off, byte[] data) {
            ranges.add(new long[] {off, data.length});
            values.add(data);
        }

        void done(long off, byte[] data) {
            System.arraycopy(data, 0, current, (int) off, data.length);
        }

        void flushed() {
            durable = current.clone();
            ranges.clear();
            values.clear();
        }

        void check(byte[] view, String what) {
            for (int i = 0; i < view.length; i++) {
                if (view[i] == durable[i]) {
                    continue;
                }
                boolean ok = false;
                for (int k = 0; k < ranges.size() && !ok; k++) {
                    long off = ranges.get(k)[0];
                    ok = i >= off && i < off + ranges.get(k)[1] && values.get(k)[(int) (i - off)] == view[i];
                }
                if (!ok) {
                    fail(what + ": byte " + i + " reads " + view[i] + ", flushed " + durable[i]
                            + " and no later operation wrote that value there");
                }
            }
        }
    }

    /** The scripted workload: writes of every shape, whole and partial discards, flushes, close. */
    static void workload(Disk d, Model m) throws IOException {
        Random r = new Random(42);
        for (int i = 0; i < 16; i++) {
            long off;
            byte[] data;
            if (i == 5) {
                off = 2 << 20;
                data = new byte[1 << 20];
                m.started(off, data);
                d.discard(off, data.length);
            } else if (i == 11) {
                off = 3 * 4096 + 100;
                data = new byte[7000];
                m.started(off, data);
                d.discard(off, data.length);
            } else {
                int len = i % 4 == 0 ? 512 * (1 + r.nextInt(16)) : 1 + r.nextInt(1_500_000);
                off = i % 4 == 0 ? 512L * r.nextInt((SIZE - len) / 512) : r.nextInt(SIZE - len);
                data = Tools.random(len, 1000 + i);
                m.started(off, data);
                d.write(off, ByteBuffer.wrap(data));
            }
            m.done(off, data);
            if (i % 3 == 2) {
                d.flush();
                m.flushed();
            }
        }
        d.close();
        m.flushed();
    }

    private static int countSteps(Path img, boolean differencing) throws IOException {
        int[] steps = {0};
        VhdxImage im = (VhdxImage) FORMAT.open(img, OpenOptions.defaultReadWrite());
        im.hook(what -> steps[0]++);
        workload(differencing ? Disk.fromTop(im, OpenOptions.defaultReadWrite()) : Disk.of(List.of(im)),
                new Model(new byte[SIZE]));
        return steps[0];
    }

    private void crashAtEveryStep(Path pristine, byte[] start, boolean differencing) throws IOException {
        Path probe = dir.resolve("probe" + (differencing ? ".avhdx" : ".vhdx"));
        Files.copy(pristine, probe, StandardCopyOption.REPLACE_EXISTING);
        int total = countSteps(probe, differencing);
        assertTrue(total > 30, "workload has " + total + " metadata steps");
        for (int n = 1; n <= total; n++) {
            Path work = dir.resolve("work" + (differencing ? ".avhdx" : ".vhdx"));
            Files.copy(pristine, work, StandardCopyOption.REPLACE_EXISTING);
            Model m = new Model(start);
            VhdxImage im = (VhdxImage) FORMAT.open(work, OpenOptions.defaultReadWrite());
            int stopAt = n;
            int[] count = {0};
            im.hook(what -> {
                if (++count[0] == stopAt) {
                    throw new Crash(what);
                }
            });
            Disk d = differencing ? Disk.fromTop(im, OpenOptions.defaultReadWrite()) : Disk.of(List.of(im));
            try {
                workload(d, m);
                fail("the hook did not fire at step " + n);
            } catch (Crash expected) {
                im.abandon();
                for (Image layer : d.layers()) {
                    if (layer != im) {
                        layer.close();
                    }
                }
            }
            verify(work, m, "crash at step " + n + "/" + total, !differencing);
        }
    }

    private static void verify(Path work, Model m, String what, boolean qemu) throws IOException {
        String sha = Tools.sha256(work);
        byte[] ro;
        try (Disk d = Disk.open(work, OpenOptions.defaultReadOnly())) {
            ro = Tools.readAll(d);
        }
        m.check(ro, what + " (read-only replay)");
        assertEquals(sha, Tools.sha256(work), what + ": read-only open changed the file");
        try (Disk d = Disk.open(work, OpenOptions.defaultReadWrite())) {
            assertArrayEquals(ro, Tools.readAll(d), what + ": read-write replay differs from read-only replay");
        }
        try (Disk d = Disk.open(work, OpenOptions.defaultReadOnly())) {
            assertArrayEquals(ro, Tools.readAll(d), what + ": after replay into the file");
            assertEquals("clean", d.top().details().get("log"), what);
        }
        if (qemu && Tools.have("qemu-img")) {
            Tools.Result r = Tools.exec("qemu-img", "check", "-f", "vhdx", work.toString());
            assertEquals(0, r.exit(), what + ": qemu-img check\n" + r.out());
        }
    }

    @Test
    void baseImageSurvivesACrashAtEveryMetadataStep() throws IOException {
        Path pristine = dir.resolve("pristine.vhdx");
        byte[] start = new byte[SIZE];
        try (Disk d = Disk.of(List.of(FORMAT.create(pristine, CreateOptions.of(SIZE).with("block_size", "1M"))))) {
            byte[] data = Tools.random(3 << 20, 7);
            d.write(1 << 20, ByteBuffer.wrap(data));
            System.arraycopy(data, 0, start, 1 << 20, data.length);
        }
        crashAtEveryStep(pristine, start, false);
    }

    @Test
    void differencingImageSurvivesACrashAtEveryMetadataStep() throws IOException {
        Path base = dir.resolve("base.vhdx");
        byte[] start = Tools.random(SIZE, 8);
        try (Disk d = Disk.of(List.of(FORMAT.create(base, CreateOptions.of(SIZE).with("block_size", "1M"))))) {
            d.write(0, ByteBuffer.wrap(start));
        }
        Path pristine = dir.resolve("pristine.avhdx");
        VhdxChainTest.createChild(pristine, base, CreateOptions.of(0).with("block_size", "1M")).close();
        crashAtEveryStep(pristine, start, true);
        try (Disk d = Disk.open(base, OpenOptions.defaultReadOnly())) {
            assertTrue(Arrays.equals(start, Tools.readAll(d)), "the parent is never written");
        }
    }
}
