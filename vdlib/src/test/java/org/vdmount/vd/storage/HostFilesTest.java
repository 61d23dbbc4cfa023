package org.vdmount.vd.storage;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class HostFilesTest {

    @Test
    void allocatedBytesEqualsStatBlocksOfSparseFile(@TempDir Path dir) throws Exception {
        Path f = dir.resolve("sparse.img");
        try (FileChannel ch = FileChannel.open(f, StandardOpenOption.CREATE_NEW, StandardOpenOption.WRITE)) {
            ch.write(ByteBuffer.wrap(new byte[8192]).put(0, (byte) 1), 4L << 20);
            ch.write(ByteBuffer.allocate(1), (64L << 20) - 1);
            ch.force(true);
        }
        long allocated = HostFiles.allocatedBytes(f);
        assertEquals(statBlocks(f) * 512, allocated, "st_blocks * 512 as stat(1) reports it");
        assertTrue(allocated < (1 << 20), "sparse 64 MiB file with 8 KiB data allocates " + allocated);
    }

    private static long statBlocks(Path f) throws IOException, InterruptedException {
        Process p = new ProcessBuilder("stat", "-c", "%b", f.toString()).redirectErrorStream(true).start();
        String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8).trim();
        assertEquals(0, p.waitFor(), out);
        return Long.parseLong(out);
    }
}
