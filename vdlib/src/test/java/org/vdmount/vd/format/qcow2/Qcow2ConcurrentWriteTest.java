package org.vdmount.vd.format.qcow2;

import static org.vdmount.vd.format.qcow2.QemuTools.img;

import java.nio.ByteBuffer;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.atomic.AtomicBoolean;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;
import org.vdmount.vd.Disk;
import org.vdmount.vd.OpenOptions;
import org.vdmount.vd.conformance.DiskBytes;

/**
 * Whole-cluster runs, partial writes (fills from what the chain holds, or in place) and flushes
 * of many threads into the same clusters of a fresh image. Every write puts the bytes of one
 * fixed pattern of the whole disk, so the result does not depend on the order: each byte any
 * write covered must be the pattern's, every other byte zero. A fill that read a cluster before
 * another thread's run allocated it and wrote it after would leave zeros where the run wrote
 * ({@link org.vdmount.vd.Disk}'s block locks prevent it; with the allocation lock released while
 * a run's data is written, this test failed every time without them); a cluster allocated twice
 * would leave a leak, which qemu-img check reports.
 */
class Qcow2ConcurrentWriteTest {
    private static final int SIZE = 24 << 20;
    private static final int THREADS = 8;
    private static final int OPS = 400;

    @TempDir
    Path dir;

    @BeforeEach
    void needQemu() {
        QemuTools.assumeQemu();
    }

    @ParameterizedTest
    @ValueSource(strings = {"cluster_size=65536", "cluster_size=4096", "extended_l2=on,cluster_size=32k",
        "compat=0.10,cluster_size=16k"})
    void concurrentWritesIntoTheSameClustersLeaveThePatternAndNoLeak(String options) throws Exception {
        img(dir, "create", "-q", "-f", "qcow2", "-o", options, "w.qcow2", Integer.toString(SIZE));
        byte[] pattern = DiskBytes.random(SIZE, options.hashCode());
        for (int i = 0; i < SIZE; i++) {
            if (pattern[i] == 0) {
                pattern[i] = 1; // written bytes are never zero: a lost write shows
            }
        }
        boolean[] written = new boolean[SIZE];
        // hot: a few MiB that every thread writes, so runs, fills and in-place writes meet
        int hot = 4 << 20;
        byte[] model = new byte[SIZE];
        try (Disk d = Disk.open(dir.resolve("w.qcow2"), OpenOptions.defaultReadWrite())) {
            int cluster = (int) d.top().blockSize(); // qcow2: the cluster size
            ExecutorService pool = Executors.newFixedThreadPool(THREADS + 1);
            AtomicBoolean done = new AtomicBoolean();
            List<Future<?>> writers = new ArrayList<>();
            List<long[]> ranges = java.util.Collections.synchronizedList(new ArrayList<>());
            for (int t = 0; t < THREADS; t++) {
                long seed = options.hashCode() * 31L + t;
                writers.add(pool.submit(() -> {
                    Random r = new Random(seed);
                    for (int op = 0; op < OPS; op++) {
                        int area = r.nextInt(4) == 0 ? SIZE : hot;
                        int off;
                        int len;
                        if (r.nextBoolean()) { // whole clusters: one allocating run, or in place
                            int n = 1 + r.nextInt(8);
                            off = r.nextInt(area / cluster - n) * cluster;
                            len = n * cluster;
                        } else { // a piece of a cluster or two: a fill, or in place
                            off = r.nextInt(area - 2 * cluster);
                            len = 1 + r.nextInt(2 * cluster);
                        }
                        d.write(off, ByteBuffer.wrap(pattern, off, len).slice());
                        ranges.add(new long[] {off, len});
                    }
                    return null;
                }));
            }
            Future<?> flusher = pool.submit(() -> {
                while (!done.get()) {
                    d.flush();
                    Thread.sleep(3);
                }
                return null;
            });
            for (Future<?> w : writers) {
                w.get();
            }
            done.set(true);
            flusher.get();
            pool.shutdown();
            for (long[] r : ranges) {
                java.util.Arrays.fill(written, (int) r[0], (int) (r[0] + r[1]), true);
            }
            for (int i = 0; i < SIZE; i++) {
                model[i] = written[i] ? pattern[i] : 0;
            }
            DiskBytes.assertSame(model, DiskBytes.readAll(d), options + " before close");
        }
        QemuTools.assertClean(dir, "qcow2", "w.qcow2"); // no cluster allocated twice (a leak)
        DiskBytes.assertSame(model, QemuTools.qemuRaw(dir, "w.qcow2"), options + " as qemu reads it");
    }
}
