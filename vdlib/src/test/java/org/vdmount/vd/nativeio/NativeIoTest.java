package org.vdmount.vd.nativeio;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.sun.security.auth.module.UnixSystem;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.Arrays;
import java.util.Random;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The native calls against what the JDK and the kernel report independently. */
class NativeIoTest {
    private static final int MIB = 1 << 20;

    @TempDir
    Path dir;

    @Test
    void uidAndGidAreTheProcessOnes() {
        UnixSystem unix = new UnixSystem();
        assertEquals(unix.getUid(), Posix.uid());
        assertEquals(unix.getGid(), Posix.gid());
    }

    @Test
    void allocatedBytesFollowTheHostFileAndPunchingGivesSpaceBack() throws Exception {
        Path f = dir.resolve("sparse");
        byte[] data = new byte[4 * MIB];
        new Random(3).nextBytes(data);
        try (FileChannel ch = FileChannel.open(f, StandardOpenOption.CREATE_NEW, StandardOpenOption.WRITE)) {
            ch.write(ByteBuffer.wrap(data), 0);
            ch.write(ByteBuffer.wrap(new byte[] {1}), 256L * MIB - 1); // 256 MiB, mostly a hole
            ch.force(true);
        }
        long written = HostFiles.allocatedBytes(f);
        assertTrue(written >= 4L * MIB && written < 64L * MIB, "st_blocks of a sparse file: " + written);
        assertFalse(HostFiles.punchHole(f, 0, 0), "nothing to punch");
        if (HostFiles.punchHole(f, 0, 4L * MIB)) {
            long after = HostFiles.allocatedBytes(f);
            assertTrue(after <= written - 4L * MIB, written + " -> " + after);
            assertEquals(256L * MIB, Files.size(f), "KEEP_SIZE");
            byte[] head = new byte[4096];
            try (FileChannel ch = FileChannel.open(f)) {
                ch.read(ByteBuffer.wrap(head), 0);
            }
            assertArrayEquals(new byte[4096], head, "a punched range reads zeros");
        } else {
            assertEquals(written, HostFiles.allocatedBytes(f), "a refused punch changes nothing");
        }
        assertFalse(HostFiles.punchHole(dir.resolve("absent"), 0, 4096));
    }

    /**
     * A zstd frame built by hand (RFC 8878): magic, a single-segment header with a 2-byte content
     * size, a raw block of 1000 bytes and a last RLE block of 3000 sevens.
     */
    private static byte[] frame(byte[] raw) {
        ByteBuffer b = ByteBuffer.allocate(4 + 1 + 2 + 3 + raw.length + 3 + 1).order(ByteOrder.LITTLE_ENDIAN);
        b.putInt(0xFD2FB528);
        b.put((byte) 0x60);                        // FCS field 2 bytes, single segment
        b.putShort((short) (4000 - 256));          // content size, stored minus 256
        putBlockHeader(b, false, 0, raw.length);   // raw block
        b.put(raw);
        putBlockHeader(b, true, 1, 3000);          // RLE block: one byte, repeated
        b.put((byte) 7);
        return b.array();
    }

    private static void putBlockHeader(ByteBuffer b, boolean last, int type, int size) {
        int h = (last ? 1 : 0) | type << 1 | size << 3;
        b.put((byte) h).put((byte) (h >> 8)).put((byte) (h >> 16));
    }

    @Test
    void zstdDecodesAFrameAndRejectsGarbage() throws Exception {
        byte[] raw = new byte[1000];
        new Random(9).nextBytes(raw);
        byte[] frame = frame(raw);
        ByteBuffer src = ByteBuffer.allocateDirect(frame.length + 100);
        src.put(frame).put(new byte[100]).flip(); // trailing bytes after the frame are ignored
        ByteBuffer dst = ByteBuffer.allocateDirect(4000);
        assertEquals(4000, Zstd.decompress(src, src.limit(), dst, 4000, "test data"));
        byte[] expected = Arrays.copyOf(raw, 4000);
        Arrays.fill(expected, 1000, 4000, (byte) 7);
        byte[] out = new byte[4000];
        dst.get(out);
        assertArrayEquals(expected, out);
        assertEquals(-1, Zstd.decompress(src, frame.length - 1, ByteBuffer.allocateDirect(4000), 4000, "test data"),
                "a cut frame");
        assertEquals(-1, Zstd.decompress(ByteBuffer.allocateDirect(64), 64, ByteBuffer.allocateDirect(4096), 4096,
                "test data"), "not zstd");
    }
}
