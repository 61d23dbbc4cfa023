package org.vdmount.vd.format.dmg;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.Random;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;
import org.vdmount.vd.Allocation;
import org.vdmount.vd.Disk;
import org.vdmount.vd.FormatRegistry;
import org.vdmount.vd.OpenOptions;
import org.vdmount.vd.Run;
import org.vdmount.vd.StoredChecksum;
import org.vdmount.vd.UnsupportedFeatureException;

/** Our reader against the source media of images the oracles read right ({@link DmgOracleTest}). */
class DmgReadTest {
    @TempDir
    Path dir;

    private Path write(byte[] media, DmgWriter.Codec codec, long[] tables) throws IOException {
        DmgWriter w = new DmgWriter();
        w.codec = codec;
        w.tableStarts = tables;
        Path dmg = dir.resolve("x-" + codec + ".dmg");
        w.write(media, dmg);
        return dmg;
    }

    @ParameterizedTest
    @EnumSource(DmgWriter.Codec.class)
    void readsTheSourceBackWholeAndAtRandomOffsets(DmgWriter.Codec codec) throws IOException {
        byte[] media = DmgMedia.media(dir, "gpt", 11);
        Path dmg = write(media, codec, DmgMedia.GPT_TABLES);
        assertEquals("dmg", FormatRegistry.probe(dmg).name());
        try (Disk d = Disk.open(dmg, OpenOptions.defaultReadOnly())) {
            assertEquals(media.length, d.size());
            ByteBuffer all = ByteBuffer.allocate(media.length);
            d.read(0, all);
            assertArrayEquals(media, all.array());
            Random r = new Random(3);
            for (int i = 0; i < 300; i++) {
                int off = r.nextInt(media.length);
                int len = Math.min(media.length - off, 1 + r.nextInt(200_000));
                ByteBuffer b = ByteBuffer.allocate(len);
                d.read(off, b);
                assertArrayEquals(java.util.Arrays.copyOfRange(media, off, off + len), b.array(), "at " + off);
            }
            // the free space between the GPT and the first partition maps as zeros
            long run = d.top().map(34 * 512, 1 << 20);
            assertEquals(Allocation.ZERO, Run.kind(run));
            List<StoredChecksum> sums = d.top().storedChecksums();
            assertEquals(1 + DmgMedia.GPT_TABLES.length, sums.size(), sums.toString());
            assertTrue(sums.stream().allMatch(StoredChecksum::matches), sums.toString());
            Map<String, Object> details = d.top().details();
            assertEquals(4L, details.get("koly-version"));
            assertTrue(details.get("chunks").toString().contains(codec.name().toLowerCase()), details.toString());
        }
    }

    /**
     * One block table over the whole 4 MiB media: its CRC-32 is summed over pieces that decode on
     * several threads, and the free chunks in it (the zeros before the first partition) are left
     * out of the sum as hdiutil leaves them out; a changed chunk still fails it.
     */
    @Test
    void aTableOfManyPiecesIsSummedInOrderLeavingOutItsFreeChunks() throws IOException {
        byte[] media = DmgMedia.media(dir, "dos", 17);
        Path dmg = write(media, DmgWriter.Codec.ZLIB, new long[] {0});
        try (Disk d = Disk.open(dmg, OpenOptions.defaultReadOnly())) {
            assertTrue(d.top().details().get("chunks").toString().contains("ignore="), d.top().details().toString());
            List<StoredChecksum> sums = d.top().storedChecksums();
            assertEquals(2, sums.size(), sums.toString());
            assertTrue(sums.stream().allMatch(StoredChecksum::matches), sums.toString());
        }
        Path raw = write(media, DmgWriter.Codec.RAW, new long[] {0});
        byte[] file = Files.readAllBytes(raw);
        int at = org.vdmount.vd.conformance.DiskBytes.indexOf(file,
                java.util.Arrays.copyOfRange(media, 3 << 20, (3 << 20) + 64)); // raw chunks: the media as it is
        assertTrue(at > 0, "the media at 3 MiB not found in the data fork");
        file[at + 5] ^= 1; // in the table's last piece
        Files.write(raw, file);
        try (Disk d = Disk.open(raw, OpenOptions.defaultReadOnly())) {
            List<StoredChecksum> sums = d.top().storedChecksums();
            assertTrue(sums.stream().noneMatch(StoredChecksum::matches), sums.toString());
        }
    }

    @Test
    void rawChunksNameWhereTheirBytesLie() throws IOException {
        byte[] media = DmgMedia.media(dir, "gpt", 13);
        Path dmg = write(media, DmgWriter.Codec.RAW, DmgMedia.GPT_TABLES);
        byte[] file = Files.readAllBytes(dmg);
        try (Disk d = Disk.open(dmg, OpenOptions.defaultReadOnly())) {
            int located = 0;
            for (long off = 0; off < media.length; off += 4096 + 512) {
                var at = d.top().hostLocation(off);
                if (Run.kind(d.top().map(off, 512)) == Allocation.ZERO) {
                    assertEquals(null, at, "a zero chunk at " + off);
                    continue;
                }
                assertEquals(media[(int) off], file[(int) at.offset()], "byte at " + off);
                assertEquals(media[(int) off + 511], file[(int) at.offset() + 511], "byte at " + (off + 511));
                located++;
            }
            assertTrue(located > 100, "located " + located);
        }
        Path z = write(media, DmgWriter.Codec.ZLIB, DmgMedia.GPT_TABLES);
        try (Disk d = Disk.open(z, OpenOptions.defaultReadOnly())) {
            assertEquals(null, d.top().hostLocation(0), "compressed data has no plain host location");
        }
    }

    @Test
    void writableOpenIsRefusedByName() throws IOException {
        byte[] media = DmgMedia.media(dir, "dos", 5);
        Path dmg = write(media, DmgWriter.Codec.ZLIB, new long[] {0});
        UnsupportedFeatureException e = assertThrows(UnsupportedFeatureException.class,
                () -> FormatRegistry.require("dmg").open(dmg, OpenOptions.defaultReadOnly().withReadOnly(false)));
        assertTrue(e.getMessage().contains("read-only"), e.getMessage());
    }

    @Test
    void aChangedDataForkFailsItsChecksumsButStillReads() throws IOException {
        byte[] media = DmgMedia.media(dir, "dos", 9);
        Path dmg = write(media, DmgWriter.Codec.RAW, new long[] {0, 2048});
        byte[] file = Files.readAllBytes(dmg);
        file[2048 * 512 + 7] ^= 1; // a byte of a raw chunk: one byte of the media changes
        Files.write(dmg, file);
        try (Disk d = Disk.open(dmg, OpenOptions.defaultReadOnly())) {
            List<StoredChecksum> sums = d.top().storedChecksums();
            assertEquals(3, sums.size(), sums.toString());
            assertTrue(!sums.get(0).matches() && sums.stream().filter(s -> !s.matches()).count() == 2, sums.toString());
            ByteBuffer b = ByteBuffer.allocate(media.length);
            d.read(0, b);
            int differ = 0;
            for (int i = 0; i < media.length; i++) {
                differ += media[i] != b.get(i) ? 1 : 0;
            }
            assertEquals(1, differ);
        }
    }
}
