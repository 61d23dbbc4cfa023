package org.vdmount.vd;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.ByteArrayOutputStream;
import java.nio.ByteBuffer;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.vdmount.vd.conformance.DiskBytes;
import org.vdmount.vd.format.ewf.EwfTools;

class OrderedReadTest {
    @TempDir
    Path dir;

    /** Pieces come in disk order, whole, with their end offsets, whatever the number of reading threads. */
    @Test
    void everyByteInOrderWithItsEnd() throws Exception {
        byte[] data = DiskBytes.random((19 << 19) + 4096, 3); // 9.5 MiB and a bit: a short last piece
        Path img = DiskBytes.writeRaw(dir.resolve("d.raw"), data);
        for (int threads : new int[] {1, 2, 5}) {
            ByteArrayOutputStream got = new ByteArrayOutputStream();
            List<Long> ends = new ArrayList<>();
            try (Disk d = Disk.open(img, OpenOptions.defaultReadOnly())) {
                OrderedRead.read(d, threads, (piece, end) -> {
                    byte[] b = new byte[piece.remaining()];
                    piece.duplicate().get(b);
                    got.write(b);
                    ends.add(end);
                });
            }
            DiskBytes.assertSame(data, got.toByteArray(), threads + " threads");
            assertEquals(data.length, ends.get(ends.size() - 1));
            for (int i = 1; i < ends.size(); i++) {
                assertTrue(ends.get(i) > ends.get(i - 1), ends.toString());
            }
        }
    }

    /**
     * An E01 with two damaged chunks, read by 5 threads: the error is always the first damaged
     * chunk's, though a later piece's read may fail first.
     */
    @Test
    void theFirstFailureInDiskOrderIsTheOneReported() throws Exception {
        EwfTools.assume();
        byte[] data = DiskBytes.random(8 << 20, 4);
        Path src = DiskBytes.writeRaw(dir.resolve("src.raw"), data);
        Path e01 = EwfTools.acquire(src, dir, "x", 64 << 20, "none", 16, 512);
        byte[] file = Files.readAllBytes(e01);
        for (int mib : new int[] {6, 2}) { // stored chunks: each one's bytes are in the file as they are
            int at = DiskBytes.indexOf(file, java.util.Arrays.copyOfRange(data, mib << 20, (mib << 20) + 64));
            assertTrue(at > 0, "chunk at " + mib + " MiB not found");
            file[at + 100] ^= 1;
        }
        Files.write(e01, file);
        for (int round = 0; round < 5; round++) {
            try (Disk d = Disk.open(e01, OpenOptions.defaultReadOnly())) {
                VdException e = assertThrows(VdException.class, () -> OrderedRead.read(d, 5, (p, end) -> {
                    if (end == (1 << 20)) {
                        java.util.concurrent.locks.LockSupport.parkNanos(50_000_000); // later pieces fail meanwhile
                    }
                }));
                assertTrue(e.getMessage().contains("chunk " + ((2 << 20) / 8192) + " "), e.getMessage());
            }
        }
    }
}
