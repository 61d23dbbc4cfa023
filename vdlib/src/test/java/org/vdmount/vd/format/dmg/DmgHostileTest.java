package org.vdmount.vd.format.dmg;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.function.Consumer;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.vdmount.vd.Bytes;
import org.vdmount.vd.CorruptImageException;
import org.vdmount.vd.Disk;
import org.vdmount.vd.FormatRegistry;
import org.vdmount.vd.Image;
import org.vdmount.vd.NotThisFormatException;
import org.vdmount.vd.OpenOptions;
import org.vdmount.vd.UnsupportedFeatureException;

/** Damaged and hostile images: one line naming file, structure and offset; never a hang or OOM. */
class DmgHostileTest {
    @TempDir
    Path dir;
    private byte[] media;

    @BeforeEach
    void media() {
        media = org.vdmount.vd.format.ewf.EwfTools.pattern(1 << 20, 21);
    }

    private Path image(Consumer<List<DmgWriter.Table>> bend) throws IOException {
        DmgWriter w = new DmgWriter();
        w.tableStarts = new long[] {0, 1024};
        w.bend = bend;
        Path p = dir.resolve("h.dmg");
        w.write(media, p);
        return p;
    }

    private static Image open(Path p) throws IOException {
        return FormatRegistry.require("dmg").open(p, OpenOptions.defaultReadOnly());
    }

    /** The one-line message of the failure to open {@code p}; nothing else may be printed (the XML parser's own reports). */
    private static <T extends Throwable> String fails(Class<T> type, Path p) {
        java.io.PrintStream err = System.err;
        java.io.ByteArrayOutputStream captured = new java.io.ByteArrayOutputStream();
        System.setErr(new java.io.PrintStream(captured, true, StandardCharsets.UTF_8));
        String m;
        try {
            m = assertThrows(type, () -> open(p).close()).getMessage();
        } finally {
            System.setErr(err);
        }
        assertEquals("", captured.toString(StandardCharsets.UTF_8), "printed besides the exception");
        assertTrue(m.startsWith("dmg: ") && m.contains(p.toString()) && !m.contains("\n"), m);
        return m;
    }

    /** Rewrites the file: {@code edit} gets the whole file and the koly trailer's offset. */
    private static void edit(Path p, java.util.function.BiConsumer<byte[], Integer> edit) throws IOException {
        byte[] f = Files.readAllBytes(p);
        edit.accept(f, f.length - 512);
        Files.write(p, f);
    }

    @Test
    void aTruncatedTrailerIsNotADmg() throws IOException {
        Path p = image(t -> { });
        byte[] f = Files.readAllBytes(p);
        Files.write(p, java.util.Arrays.copyOf(f, f.length - 100));
        assertTrue(fails(NotThisFormatException.class, p).contains("no 'koly' trailer"));
        byte[] tail = new byte[4096];
        System.arraycopy("koly".getBytes(StandardCharsets.US_ASCII), 0, tail, 4096 - 512, 4);
        Files.write(p, tail);
        assertEquals("raw", FormatRegistry.probe(p).name(), "'koly' without its header size is not a trailer");
        Files.write(p, new byte[100]);
        assertTrue(fails(NotThisFormatException.class, p).contains("too short"));
    }

    @Test
    void aPlistPastTheTrailerIsCorrupt() throws IOException {
        Path p = image(t -> { });
        edit(p, (f, k) -> Bytes.of(f).put64be(k + 224, f.length));
        String m = fails(CorruptImageException.class, p);
        assertTrue(m.contains("koly trailer") && m.contains("XML property list") && m.contains("runs past"), m);
    }

    @Test
    void aBrokenPlistIsCorrupt() throws IOException {
        Path p = image(t -> { });
        edit(p, (f, k) -> {
            long xml = Bytes.of(f).u64be(k + 216);
            f[(int) xml + 60] = '<'; // inside the DOCTYPE line
            f[(int) xml + 61] = '!';
        });
        assertTrue(fails(CorruptImageException.class, p).contains("XML property list"));
    }

    @Test
    void aPlistThatIsNotUtf8IsOneQuietLine() throws IOException {
        Path p = image(t -> { });
        edit(p, (f, k) -> f[(int) Bytes.of(f).u64be(k + 216) + 150] = (byte) 0xc3);
        assertTrue(fails(CorruptImageException.class, p).contains("not UTF-8"));
    }

    @Test
    void anExternalEntityIsNeverResolved() throws IOException {
        Path secret = dir.resolve("secret.txt");
        Files.writeString(secret, "TOPSECRET");
        Path p = dir.resolve("xxe.dmg");
        String xml = "<?xml version=\"1.0\"?>\n<!DOCTYPE plist [<!ENTITY x SYSTEM \"" + secret.toUri()
                + "\">]>\n<plist version=\"1.0\"><dict><key>resource-fork</key><dict><key>&x;</key><array/></dict>"
                + "</dict></plist>\n";
        Files.write(p, withTrailer(xml.getBytes(StandardCharsets.UTF_8)));
        String m = fails(CorruptImageException.class, p);
        assertTrue(!m.contains("TOPSECRET") && m.contains("XML property list"), m);
    }

    @Test
    void aBillionLaughsPlistFailsQuickly() throws IOException {
        StringBuilder dtd = new StringBuilder("<!DOCTYPE plist [<!ENTITY a0 \"lol\">");
        for (int i = 1; i < 12; i++) {
            dtd.append("<!ENTITY a").append(i).append(" \"").append(("&a" + (i - 1) + ";").repeat(10)).append("\">");
        }
        dtd.append("]>");
        String xml = "<?xml version=\"1.0\"?>\n" + dtd + "<plist version=\"1.0\"><dict><key>&a11;</key><string/>"
                + "</dict></plist>";
        Path p = dir.resolve("lol.dmg");
        Files.write(p, withTrailer(xml.getBytes(StandardCharsets.UTF_8)));
        long t0 = System.nanoTime();
        fails(CorruptImageException.class, p);
        assertTrue(System.nanoTime() - t0 < 10_000_000_000L);
    }

    /** A koly trailer after {@code xml}, which is the whole file before it; no data fork. */
    private static byte[] withTrailer(byte[] xml) {
        byte[] f = new byte[xml.length + 512];
        System.arraycopy(xml, 0, f, 0, xml.length);
        Bytes k = Bytes.of(f).at(xml.length);
        k.putBytes(0, "koly".getBytes(StandardCharsets.US_ASCII)).put32be(4, 4).put32be(8, 512);
        k.put64be(216, 0).put64be(224, xml.length).put64be(492, 2048);
        return f;
    }

    @Test
    void resourceForkOnlyAndSegmentedImagesAreRefusedByName() throws IOException {
        Path p = image(t -> { });
        edit(p, (f, k) -> Bytes.of(f).put64be(k + 40, 0).put64be(k + 48, 256).put64be(k + 224, 0));
        assertTrue(fails(UnsupportedFeatureException.class, p).contains("classic resource fork"));
        Path q = image(t -> { });
        edit(q, (f, k) -> Bytes.of(f).put32be(k + 56, 2).put32be(k + 60, 3));
        assertTrue(fails(UnsupportedFeatureException.class, q).contains("segment 2 of 3"));
    }

    @Test
    void aChunkCountPastTheTableIsCorrupt() throws IOException {
        Path p = image(t -> t.get(1).chunkCountOverride = 1L << 31);
        String m = fails(CorruptImageException.class, p);
        assertTrue(m.contains("blkx entry 1") && m.contains("chunk count 2147483648"), m);
    }

    @Test
    void aChunkPastTheMediaIsCorrupt() throws IOException {
        Path p = image(t -> t.get(1).chunks.get(2).sectorCount = 1L << 40);
        String m = fails(CorruptImageException.class, p);
        assertTrue(m.contains("blkx entry 1, chunk 2") && m.contains("past the media"), m);
    }

    @Test
    void overlappingChunksAreCorrupt() throws IOException {
        Path p = image(t -> t.get(1).chunks.get(3).sectorStart -= 10);
        String m = fails(CorruptImageException.class, p);
        assertTrue(m.contains("overlap"), m);
    }

    @Test
    void storedBytesPastTheDataForkAreCorrupt() throws IOException {
        Path p = image(t -> t.get(0).chunks.get(1).offset = 1L << 40);
        String m = fails(CorruptImageException.class, p);
        assertTrue(m.contains("blkx entry 0, chunk 1") && m.contains("past the data fork"), m);
    }

    @Test
    void aHugeCompressedChunkIsRefusedAtOpen() throws IOException {
        Path p = image(t -> {
            DmgWriter.Chunk last = t.get(1).chunks.get(t.get(1).chunks.size() - 2);
            last.sectorCount = (64L << 20) / 512 + 1; // runs past the media too: make the media big
        });
        edit(p, (f, k) -> Bytes.of(f).put64be(k + 492, 1L << 30));
        String m = fails(CorruptImageException.class, p);
        assertTrue(m.contains("> limit " + (64L << 20)), m);
    }

    @Test
    void anUnknownChunkTypeIsUnsupportedByName() throws IOException {
        Path p = image(t -> t.get(0).chunks.get(0).type = 0x80000042L);
        String m = fails(UnsupportedFeatureException.class, p);
        assertTrue(m.contains("blkx entry 0, chunk 0") && m.contains("0x80000042"), m);
    }

    @Test
    void aCorruptChunkFailsOnlyItsOwnRange() throws IOException {
        Path p = image(t -> { });
        edit(p, (f, k) -> {
            for (int i = 100; i < 140; i++) {
                f[i] ^= 0x5a; // inside the first stored chunk
            }
        });
        try (Disk d = Disk.open(p, OpenOptions.defaultReadOnly())) {
            CorruptImageException e = assertThrows(CorruptImageException.class,
                    () -> d.read(0, ByteBuffer.allocate(512)));
            assertTrue(e.getMessage().contains("blkx entry 0, chunk 0") && e.getMessage().contains(" at 0x0:"),
                    e.getMessage());
            ByteBuffer rest = ByteBuffer.allocate(media.length - 64 * 512);
            d.read(64 * 512, rest);
            assertArrayEquals(java.util.Arrays.copyOfRange(media, 64 * 512, media.length), rest.array());
        }
    }

    @Test
    void aChunkThatDecodesToMoreThanItsSectorsFailsItsReads() throws IOException {
        Path p = image(t -> t.get(0).chunks.get(0).sectorCount = 63); // 64 sectors stored; sector 63 a gap
        try (Disk d = Disk.open(p, OpenOptions.defaultReadOnly())) {
            CorruptImageException e = assertThrows(CorruptImageException.class,
                    () -> d.read(0, ByteBuffer.allocate(512)));
            assertTrue(e.getMessage().contains("blkx entry 0, chunk 0") && e.getMessage().contains(
                    "decodes to more than 32256 bytes"), e.getMessage());
            ByteBuffer gap = ByteBuffer.allocate(512);
            d.read(63 * 512, gap);
            assertTrue(Bytes.of(gap.array()).isZero(0, 512), "a sector no chunk covers reads as zeros");
        }
    }
}
