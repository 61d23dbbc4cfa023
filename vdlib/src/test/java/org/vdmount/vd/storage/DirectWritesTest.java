package org.vdmount.vd.storage;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Random;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.vdmount.vd.ReadOnlyException;

/**
 * {@link FileStorage#directWrites()}: whole aligned blocks from aligned direct buffers bypass the
 * page cache (checked with util-linux fincore, which counts a file's resident pages), everything
 * else goes through it, and the file holds the same bytes either way.
 */
class DirectWritesTest {
    private static final int BLOCK = 4096;

    @TempDir
    Path dir;

    private static ByteBuffer alignedDirect(byte[] content) {
        ByteBuffer b = ByteBuffer.allocateDirect(content.length + 2 * BLOCK).alignedSlice(BLOCK);
        b.put(content).flip();
        return b;
    }

    private static byte[] random(int length, long seed) {
        byte[] b = new byte[length];
        new Random(seed).nextBytes(b);
        return b;
    }

    /** Bytes of {@code file} in the page cache, by fincore; -1 when fincore is missing. */
    private static long residentBytes(Path file) throws IOException, InterruptedException {
        Process p;
        try {
            p = new ProcessBuilder("fincore", "--bytes", "--noheadings", "--output", "RES", file.toString())
                    .redirectErrorStream(true).start();
        } catch (IOException e) {
            return -1;
        }
        String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8).trim();
        assertEquals(0, p.waitFor(), out);
        return Long.parseLong(out);
    }

    @Test
    void alignedBlocksBypassThePageCacheAndTheRestGoesThroughIt() throws Exception {
        Path p = dir.resolve("d.img");
        byte[] expected = new byte[4 << 20];
        try (FileStorage fs = FileStorage.create(p)) {
            assumeTrue(fs.directWrites(), "the file system of " + dir + " takes no O_DIRECT");
            byte[] a = random(1 << 20, 1);
            fs.write(alignedDirect(a), 0);
            System.arraycopy(a, 0, expected, 0, a.length);
            fs.force();
            long afterDirect = residentBytes(p);
            byte[] b = random(1 << 20, 2);
            fs.write(ByteBuffer.wrap(b), 2 << 20); // a heap buffer: through the cache
            System.arraycopy(b, 0, expected, 2 << 20, b.length);
            long afterBuffered = residentBytes(p);
            if (afterDirect >= 0 && !Files.getFileStore(dir).type().equals("tmpfs")) { // tmpfs: pages are the file
                assertEquals(0, afterDirect, "the direct write left nothing in the page cache");
                assertTrue(afterBuffered >= 1 << 20, "the buffered write is in the page cache: " + afterBuffered);
            }

            // partial blocks, odd offsets, a misaligned address: all through the cache, same bytes
            byte[] c = random(3 * BLOCK + 100, 3);
            ByteBuffer misaligned = ByteBuffer.allocateDirect(c.length + 2 * BLOCK).alignedSlice(BLOCK);
            misaligned.position(1);
            misaligned = misaligned.slice().put(c).flip();
            fs.write(misaligned, 3L << 20);
            System.arraycopy(c, 0, expected, 3 << 20, c.length);
            byte[] d = random(BLOCK, 4);
            fs.write(alignedDirect(d), (3L << 20) + 512); // aligned address, unaligned offset
            System.arraycopy(d, 0, expected, (3 << 20) + 512, d.length);
            byte[] e = random(BLOCK + 512, 5);
            fs.write(alignedDirect(e), (4L << 20) - e.length); // aligned offset would need whole blocks
            System.arraycopy(e, 0, expected, (4 << 20) - e.length, e.length);
            // a direct write over bytes the cache holds (the buffered range): the cache must not go stale
            byte[] f = random(2 * BLOCK, 6);
            fs.write(alignedDirect(f), (2L << 20) + BLOCK);
            System.arraycopy(f, 0, expected, (2 << 20) + BLOCK, f.length);

            ByteBuffer back = ByteBuffer.allocate(expected.length);
            fs.read(back, 0);
            assertArrayEquals(expected, back.array(), "read back through the storage");
        }
        assertArrayEquals(expected, Files.readAllBytes(p), "the file holds every write");
    }

    @Test
    void readOnlyStorageRefusesDirectWrites() throws Exception {
        Path p = dir.resolve("ro.img");
        Files.write(p, new byte[BLOCK]);
        try (FileStorage fs = FileStorage.open(p, true)) {
            assertThrows(ReadOnlyException.class, fs::directWrites);
        }
    }
}
