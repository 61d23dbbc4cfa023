package org.vdmount.vd.storage;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import java.util.concurrent.Callable;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * {@link FileStorage}'s reader channels (one per stripe of threads): many threads read the right
 * bytes, every channel is the file that was opened even when its name now names another file, and
 * closing the storage closes every descriptor it opened.
 */
class FileStorageReadersTest {
    private static final int SIZE = 1 << 20;

    @TempDir
    Path dir;

    private static byte[] random(long seed) {
        byte[] b = new byte[SIZE];
        new Random(seed).nextBytes(b);
        return b;
    }

    /** Runs {@code task} on more fresh threads than there are stripes, so every stripe reads. */
    private static void onFreshThreads(Callable<Void> task) throws Exception {
        int threads = 3 * FileStorage.READ_STRIPES + 1;
        ExecutorService pool = Executors.newFixedThreadPool(threads);
        try {
            List<Future<Void>> done = new ArrayList<>();
            for (int i = 0; i < threads; i++) {
                done.add(pool.submit(task));
            }
            for (Future<Void> f : done) {
                f.get();
            }
        } finally {
            pool.shutdownNow();
        }
    }

    /** Reads 200 random ranges (direct and heap buffers) and compares them with {@code expected}. */
    private static Void readAndCompare(FileStorage fs, byte[] expected) throws IOException {
        Random r = new Random(Thread.currentThread().getId());
        for (int i = 0; i < 200; i++) {
            int len = 1 + r.nextInt(64 << 10);
            int at = r.nextInt(SIZE - len + 1);
            ByteBuffer b = i % 2 == 0 ? ByteBuffer.allocateDirect(len) : ByteBuffer.allocate(len);
            assertEquals(len, fs.read(b, at));
            byte[] got = new byte[len];
            b.flip().get(got);
            byte[] want = new byte[len];
            System.arraycopy(expected, at, want, 0, len);
            assertArrayEquals(want, got, "bytes at " + at);
        }
        return null;
    }

    /** The descriptors of this process whose link names {@code file}. */
    private static long descriptorsOf(Path file) throws IOException {
        Path real = file.toRealPath();
        try (Stream<Path> fds = Files.list(Path.of("/proc/self/fd"))) {
            return fds.filter(fd -> {
                try {
                    return Files.readSymbolicLink(fd).equals(real);
                } catch (IOException e) {
                    return false; // closed meanwhile (the listing's own descriptor)
                }
            }).count();
        }
    }

    @Test
    void manyThreadsReadTheRightBytes() throws Exception {
        Path p = dir.resolve("a.img");
        byte[] content = random(1);
        Files.write(p, content);
        try (FileStorage fs = FileStorage.open(p, true)) {
            onFreshThreads(() -> readAndCompare(fs, content));
            ByteBuffer tail = ByteBuffer.allocate(100);
            assertEquals(10, fs.read(tail, SIZE - 10), "a read past the end stops there");
        }
    }

    @Test
    void everyReaderIsTheFileThatWasOpenedAfterItsNameIsReplaced() throws Exception {
        Path p = dir.resolve("b.img");
        byte[] opened = random(2);
        Files.write(p, opened);
        try (FileStorage fs = FileStorage.open(p, false)) {
            Files.move(p, dir.resolve("b.old"));
            Files.write(p, random(3)); // the name now names another file
            onFreshThreads(() -> readAndCompare(fs, opened));
            byte[] changed = opened.clone();
            changed[5] = (byte) ~changed[5];
            fs.write(ByteBuffer.wrap(changed, 5, 1), 5);
            onFreshThreads(() -> readAndCompare(fs, changed)); // a write is seen by every reader
        }
    }

    @Test
    void withTheDescriptorBudgetSpentEveryThreadReadsThroughTheMainChannel() throws Exception {
        Path p = dir.resolve("d.img");
        byte[] content = random(5);
        Files.write(p, content);
        int taken = DescriptorBudget.taken();
        try (FileStorage fs = FileStorage.open(p, true)) {
            long opened = descriptorsOf(p);
            DescriptorBudget.slots(taken); // nothing left
            onFreshThreads(() -> readAndCompare(fs, content));
            assertEquals(opened, descriptorsOf(p), "reader channels opened beyond the budget");
            assertEquals(taken, DescriptorBudget.taken());
        } finally {
            DescriptorBudget.slots(-1);
        }
        try (FileStorage fs = FileStorage.open(p, true)) {
            long opened = descriptorsOf(p);
            onFreshThreads(() -> readAndCompare(fs, content));
            if (FileStorage.READ_STRIPES > 1) {
                assertTrue(descriptorsOf(p) > opened, "no reader channel opened with the budget back");
                assertTrue(DescriptorBudget.taken() > taken);
            }
        }
        assertEquals(taken, DescriptorBudget.taken(), "slots not given back on close");
    }

    @Test
    void limitsFileGivesAQuarterOfTheSoftLimit() throws IOException {
        Path limits = dir.resolve("limits");
        Files.writeString(limits, "Limit                     Soft Limit           Hard Limit           Units     \n"
                + "Max processes             95359                95359                processes \n"
                + "Max open files            20000                1048576              files     \n");
        assertEquals(5000, DescriptorBudget.fromLimits(limits));
        Files.writeString(limits, "Max open files            unlimited            unlimited            files\n");
        assertEquals(Integer.MAX_VALUE, DescriptorBudget.fromLimits(limits));
        assertEquals(256, DescriptorBudget.fromLimits(dir.resolve("missing")));
    }

    @Test
    void closingReleasesEveryDescriptor() throws Exception {
        Path p = dir.resolve("c.img");
        byte[] content = random(4);
        Files.write(p, content);
        assertEquals(0, descriptorsOf(p));
        FileStorage fs = FileStorage.open(p, true);
        onFreshThreads(() -> readAndCompare(fs, content));
        assertTrue(descriptorsOf(p) >= 1);
        fs.close();
        assertEquals(0, descriptorsOf(p), "descriptors left open on " + p);
    }
}
