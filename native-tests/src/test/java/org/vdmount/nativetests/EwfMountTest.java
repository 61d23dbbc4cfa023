package org.vdmount.nativetests;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.io.RandomAccessFile;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

/**
 * E01 sets written by libewf's {@code ewfacquire} (several segments) mount read-only: {@code disk}
 * hashes as the source, each {@code p<N>} as its slice (offsets from sfdisk); a damaged chunk is
 * EIO for its range only, and the mount lives on.
 */
@Timeout(value = 240, unit = TimeUnit.SECONDS)
class EwfMountTest {
    @TempDir
    Path dir;
    private final Fuse fuse = new Fuse();

    @BeforeEach
    void fuse() {
        Fuse.assumeFuse();
        Sh.require("ewfacquire", "sfdisk");
    }

    @AfterEach
    void cleanup() {
        fuse.cleanup();
    }

    /** A patterned 21 MiB (+ 3 x 4 KiB) disk with an MBR of three partitions, acquired in 4 MiB segments. */
    private Path acquire(String compression, int sectorBytes) throws IOException {
        Path raw = Images.pattern(dir.resolve("src.raw"), 21L * Images.MIB + 3 * 4096, 23);
        Sh.ok("bash", "-c", "printf 'start=2048, size=8192, type=83\\nsize=16384, type=b\\nsize=12000, type=83\\n' "
                + "| sfdisk -q '" + raw + "'");
        Sh.ok("ewfacquire", "-u", "-q", "-t", dir.resolve("ev").toString(), "-S", String.valueOf(4 * Images.MIB),
                "-c", "deflate:" + compression, "-b", "64", "-P", String.valueOf(sectorBytes), raw.toString());
        return dir.resolve("ev.E01");
    }

    @ParameterizedTest(name = "{0} compression, {1}-byte sectors")
    @CsvSource({"fast, 512", "none, 512", "best, 4096"})
    void diskAndPartitionsEqualTheSource(String compression, int sectorBytes) throws Exception {
        Path e01 = acquire(compression, sectorBytes);
        Path raw = dir.resolve("src.raw");
        try (Stream<Path> s = Files.list(dir)) {
            assertTrue(s.filter(p -> p.getFileName().toString().startsWith("ev.E")).count() >= 2, "several segments");
        }
        Path mnt = Files.createDirectory(dir.resolve("mnt"));
        fuse.mount(e01.toString(), mnt.toString());
        assertEquals(Files.size(raw), Files.size(mnt.resolve("disk")), "size");
        assertEquals(Sh.sha256(raw), Sh.sha256(mnt.resolve("disk")), "disk content");
        if (sectorBytes == 512) {
            List<Images.Part> parts = Images.sfdiskPartitions(raw);
            Images.assertPartitionFiles(mnt, raw, parts);
            assertEquals(Sh.sha256(raw, parts.get(0).startBytes(), parts.get(0).lengthBytes()),
                    Sh.sha256(mnt.resolve("p1")), "p1");
        }
        fuse.unmount(mnt);
    }

    @Test
    void aDamagedChunkIsEioForItsRangeOnly() throws Exception {
        Path e01 = acquire("none", 512);
        Path raw = dir.resolve("src.raw");
        // chunk 10 of the first segment: stored chunks of 32 KiB + 4-byte checksum follow the sectors descriptor
        long chunk = 10;
        long at = sectorsData(e01) + chunk * (32768 + 4) + 1000;
        try (RandomAccessFile f = new RandomAccessFile(e01.toFile(), "rw")) {
            f.seek(at);
            int b = f.read();
            f.seek(at);
            f.write(b ^ 0xff);
        }
        Path mnt = Files.createDirectory(dir.resolve("mnt"));
        fuse.mount(e01.toString(), mnt.toString());
        Path disk = mnt.resolve("disk");
        Sh.Result bad = Sh.run("dd", "if=" + disk, "of=/dev/null", "bs=32768", "skip=" + chunk, "count=1",
                "iflag=direct");
        assertNotEquals(0, bad.exit(), "a damaged chunk read: " + bad);
        assertTrue(bad.err().contains("Input/output error"), bad.err());
        for (long c : new long[] {chunk - 1, chunk + 1, 200}) {
            assertEquals(Sh.sha256(raw, c * 32768, 32768), Sh.sha256(disk, c * 32768, 32768), "chunk " + c);
        }
        assertTrue(Fuse.isMounted(mnt), "the mount lives on");
        fuse.unmount(mnt);
    }

    /** Where the first "sectors" section's data starts in {@code e01}. */
    private static long sectorsData(Path e01) throws IOException {
        byte[] b = Files.readAllBytes(e01);
        long off = 13;
        while (off + 76 <= b.length) {
            String type = new String(b, (int) off, 16, java.nio.charset.StandardCharsets.US_ASCII).replace("\0", "");
            if (type.equals("sectors")) {
                return off + 76;
            }
            long next = java.nio.ByteBuffer.wrap(b, (int) off + 16, 8).order(java.nio.ByteOrder.LITTLE_ENDIAN).getLong();
            if (next <= off) {
                break;
            }
            off = next;
        }
        throw new IOException("no sectors section in " + e01);
    }
}
