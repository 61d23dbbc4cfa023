package org.vdmount.vd.format.ewf;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.security.MessageDigest;
import java.util.ArrayList;
import java.util.HexFormat;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;
import org.vdmount.vd.CorruptImageException;
import org.vdmount.vd.Disk;
import org.vdmount.vd.FormatRegistry;
import org.vdmount.vd.Image;
import org.vdmount.vd.OpenOptions;
import org.vdmount.vd.VdException;
import org.vdmount.vd.conformance.DiskBytes;

/**
 * E01 sets written by {@code ewfacquire} (segments, compression none/fast/best, 512- and
 * 4096-byte sectors, media not filling the last chunk) read back byte for byte as the source and
 * as {@code ewfexport} reads them; stored hashes and case metadata; damage fails only the chunk
 * it hits, naming it.
 */
class EwfReadTest {
    @TempDir
    Path dir;

    @BeforeEach
    void tools() {
        EwfTools.assume();
    }

    private Path source(byte[] data) throws IOException {
        return DiskBytes.writeRaw(dir.resolve("src.raw"), data);
    }

    @ParameterizedTest(name = "{0} compression, {1}-byte sectors, {2} sectors per chunk, {3} bytes")
    @CsvSource({
        "none, 512, 64, 3473408",
        "fast, 512, 64, 3473408",
        "best, 512, 128, 3473408",
        "none, 4096, 16, 3473408",
        "best, 4096, 16, 3440640",
        "empty-block, 512, 32, 2621952",
        "fast, 512, 64, 512"})
    void readsAsTheSourceAndAsEwfexport(String compression, int sectorBytes, int sectorsPerChunk, int size)
            throws IOException {
        byte[] data = EwfTools.pattern(size, size + sectorBytes + compression.hashCode());
        Path e01 = EwfTools.acquire(source(data), dir, "x", 1 << 20, compression, sectorsPerChunk, sectorBytes,
                "-C", "case 7", "-e", "Examiner Name");
        List<Path> segments = EwfTools.segments(e01);
        try (Disk d = Disk.open(e01, OpenOptions.defaultReadOnly())) {
            Image top = d.top();
            assertEquals("ewf", top.format().name());
            assertEquals(size, d.size());
            assertEquals(sectorBytes, top.logicalSectorSize());
            assertEquals(segments, top.files().stream().map(p -> p.getFileName()).map(dir::resolve).toList());
            byte[] got = DiskBytes.readAll(d);
            DiskBytes.assertSame(data, got, "read back");
            DiskBytes.assertSame(EwfTools.export(e01, dir), got, "as ewfexport reads it");
            Map<String, Object> details = top.details();
            assertEquals(hex("MD5", data), details.get("md5"));
            assertEquals(hex("SHA-1", data), details.get("sha1"));
            assertEquals(Map.of("MD5", hex("MD5", data), "SHA-1", hex("SHA-1", data)), top.storedDigests());
            assertEquals("case 7", details.get("case-number"));
            assertEquals("Examiner Name", details.get("examiner"));
            assertEquals(segments.size(), details.get("segments"));
            assertEquals((long) sectorBytes * sectorsPerChunk, details.get("chunk-size"));
        }
        if (size > 3_000_000) {
            assertTrue(segments.size() >= 2 || !compression.equals("none"), segments.toString());
        }
    }

    @Test
    void manySegmentsAndLowerCaseNames() throws IOException {
        byte[] data = DiskBytes.random(5 << 20, 5);
        Path e01 = EwfTools.acquire(source(data), dir, "set", 1 << 20, "none", 64, 512);
        List<Path> segments = EwfTools.segments(e01);
        assertTrue(segments.size() >= 5, segments.toString());
        for (Path s : segments) {
            String n = s.getFileName().toString();
            Files.move(s, s.resolveSibling(n.substring(0, n.length() - 3) + n.substring(n.length() - 3).toLowerCase()));
        }
        Path lower = dir.resolve("set.e01");
        try (Disk d = Disk.open(lower, OpenOptions.defaultReadOnly())) {
            assertEquals(segments.size(), d.top().files().size());
            DiskBytes.assertSame(data, DiskBytes.readAll(d), "lower-case set");
        }
    }

    /** More chunks than one table holds (65534): a segment with two sectors/table/table2 groups. */
    @Test
    void twoTableGroupsInOneSegment() throws Exception {
        Path src = dir.resolve("sparse.raw");
        long size = 600L << 20;
        byte[] marks = DiskBytes.random(3 * 8192, 18);
        long[] at = {8192L * 65533, 8192L * 65534 + 100, size - marks.length / 3};
        try (FileChannel ch = FileChannel.open(src, StandardOpenOption.CREATE_NEW, StandardOpenOption.WRITE)) {
            ch.truncate(size);
            for (int i = 0; i < 3; i++) {
                ch.write(ByteBuffer.wrap(marks, i * 8192, marks.length / 3), at[i]);
            }
        }
        Path e01 = EwfTools.acquire(src, dir, "two", 1L << 30, "fast", 16, 512);
        assertEquals(2, countSections(e01, "table"));
        try (Disk d = Disk.open(e01, OpenOptions.defaultReadOnly())) {
            for (int i = 0; i < 3; i++) {
                byte[] got = new byte[marks.length / 3];
                d.read(at[i], ByteBuffer.wrap(got));
                DiskBytes.assertRange(marks, i * 8192, got, got.length, "mark " + i);
            }
            MessageDigest md5 = MessageDigest.getInstance("MD5");
            ByteBuffer buf = ByteBuffer.allocate(1 << 20);
            for (long off = 0; off < size; off += buf.capacity()) {
                d.read(off, buf.clear());
                md5.update(buf.flip());
            }
            assertEquals(d.top().storedDigests().get("MD5"), HexFormat.of().formatHex(md5.digest()));
        }
    }

    private static int countSections(Path file, String type) throws IOException {
        byte[] b = Files.readAllBytes(file);
        org.vdmount.vd.Bytes bytes = org.vdmount.vd.Bytes.of(b);
        int n = 0;
        for (long off = FileHeader.SIZE; ; ) {
            SectionDescriptor d = SectionDescriptor.parse(bytes.at((int) off), file, off);
            n += d.type().equals(type) ? 1 : 0;
            if (d.nextOffset() <= off) {
                return n;
            }
            off = d.nextOffset();
        }
    }

    @Test
    void segmentNamesRunFromE99ToEaa() {
        assertEquals("E01", SegmentSet.extension(1));
        assertEquals("E99", SegmentSet.extension(99));
        assertEquals("EAA", SegmentSet.extension(100));
        assertEquals("EAZ", SegmentSet.extension(125));
        assertEquals("EBA", SegmentSet.extension(126));
        assertEquals("EZZ", SegmentSet.extension(99 + 26 * 26));
        assertEquals("FAA", SegmentSet.extension(100 + 26 * 26));
        assertEquals("ZZZ", SegmentSet.extension(SegmentSet.MAX_SEGMENTS));
    }

    @Test
    void aMissingSegmentIsNamed() throws IOException {
        Path e01 = EwfTools.acquire(source(DiskBytes.random(3 << 20, 9)), dir, "m", 1 << 20, "none", 64, 512);
        Files.delete(dir.resolve("m.E02"));
        VdException e = assertThrows(VdException.class, () -> Disk.open(e01, OpenOptions.defaultReadOnly()));
        DiskBytes.assertOneLine(e, "missing segment " + dir.resolve("m.E02"), "m.E01");
    }

    @Test
    void openingALaterSegmentSaysWhichToOpen() throws IOException {
        EwfTools.acquire(source(DiskBytes.random(3 << 20, 10)), dir, "s", 1 << 20, "none", 64, 512);
        VdException e = assertThrows(VdException.class,
                () -> Disk.open(dir.resolve("s.E02"), OpenOptions.defaultReadOnly()));
        DiskBytes.assertOneLine(e, "s.E02", "segment number 2, expected 1");
    }

    @Test
    void writableOpensAreRefused() throws IOException {
        Path e01 = EwfTools.acquire(source(DiskBytes.random(1 << 20, 11)), dir, "w", 1 << 20, "fast", 64, 512);
        VdException e = assertThrows(VdException.class, () -> Disk.open(e01, OpenOptions.defaultReadWrite()));
        DiskBytes.assertOneLine(e, "read-only");
    }

    /** Flips one byte at {@code fileOffset} of {@code file}. */
    private static void flip(Path file, long fileOffset) throws IOException {
        try (FileChannel ch = FileChannel.open(file, StandardOpenOption.READ, StandardOpenOption.WRITE)) {
            ByteBuffer b = ByteBuffer.allocate(1);
            ch.read(b, fileOffset);
            b.put(0, (byte) (b.get(0) ^ 0x5a)).rewind();
            ch.write(b, fileOffset);
        }
    }

    @ParameterizedTest(name = "{0}")
    @CsvSource({"none", "best"})
    void aDamagedChunkFailsOnlyItsOwnReads(String compression) throws IOException {
        byte[] data = DiskBytes.random(3 << 20, 12); // random: best compression stores... or compresses nothing
        if (compression.equals("best")) {
            data = EwfTools.pattern(3 << 20, 13);
        }
        Path e01 = EwfTools.acquire(source(data), dir, "c", 1 << 20, compression, 64, 512);
        int chunkBytes = 64 * 512;
        long victim;
        long at;
        Path file;
        try (Disk d = Disk.open(e01, OpenOptions.defaultReadOnly())) {
            EwfImage img = (EwfImage) d.top();
            victim = 40;
            EwfImage.ChunkLocation loc = img.locate(victim);
            file = loc.file();
            at = loc.offset();
        }
        flip(file, at + 100);
        try (Disk d = Disk.open(e01, OpenOptions.defaultReadOnly())) {
            CorruptImageException e = assertThrows(CorruptImageException.class,
                    () -> d.read(victim * chunkBytes + 7, ByteBuffer.allocate(4096)));
            DiskBytes.assertOneLine(e, "chunk " + victim, file.toString(), "0x" + Long.toHexString(at));
            for (long c : new long[] {0, victim - 1, victim + 1, data.length / chunkBytes - 1}) {
                byte[] got = new byte[chunkBytes];
                d.read(c * chunkBytes, ByteBuffer.wrap(got));
                DiskBytes.assertRange(data, (int) (c * chunkBytes), got, chunkBytes, "chunk " + c);
            }
        }
    }

    @Test
    void aDamagedTableFallsBackToTable2() throws IOException {
        byte[] data = EwfTools.pattern(2 << 20, 14);
        Path e01 = EwfTools.acquire(source(data), dir, "t", 64 << 20, "fast", 64, 512);
        long tableEntries = sectionDataOffset(e01, "table") + TableSection.HEADER_SIZE;
        flip(e01, tableEntries + 4 * 3 + 1);
        List<String> warnings = new ArrayList<>();
        try (Disk d = Disk.open(e01, OpenOptions.defaultReadOnly().withWarnings(warnings::add))) {
            DiskBytes.assertSame(data, DiskBytes.readAll(d), "read through table2");
        }
        assertEquals(1, warnings.size(), warnings.toString());
        assertTrue(warnings.get(0).contains("table2"), warnings.get(0));
        flip(e01, sectionDataOffset(e01, "table2") + TableSection.HEADER_SIZE + 4 * 3 + 1);
        VdException e = assertThrows(VdException.class, () -> Disk.open(e01, OpenOptions.defaultReadOnly()));
        DiskBytes.assertOneLine(e, "table section entries", e01.toString());
    }

    @Test
    void truncatedSegmentsAreRefusedInOneLine() throws IOException {
        Path e01 = EwfTools.acquire(source(DiskBytes.random(3 << 20, 15)), dir, "tr", 1 << 20, "none", 64, 512);
        Path second = dir.resolve("tr.E02");
        long size = Files.size(second);
        for (long cut : new long[] {size - 10, size / 2, 40, 5, 0}) {
            try (FileChannel ch = FileChannel.open(second, StandardOpenOption.WRITE)) {
                ch.truncate(cut);
            }
            VdException e = assertThrows(VdException.class, () -> Disk.open(e01, OpenOptions.defaultReadOnly()),
                    "cut at " + cut);
            DiskBytes.assertOneLine(e, second.toString());
        }
    }

    @Test
    void parallelReadersSeeTheSameBytes() throws Exception {
        byte[] data = EwfTools.pattern(4 << 20, 16);
        Path e01 = EwfTools.acquire(source(data), dir, "p", 1 << 20, "fast", 16, 512);
        ExecutorService pool = Executors.newFixedThreadPool(8);
        try (Disk d = Disk.open(e01, OpenOptions.defaultReadOnly())) {
            List<Future<?>> fs = new ArrayList<>();
            for (int t = 0; t < 8; t++) {
                long seed = t;
                fs.add(pool.submit(() -> {
                    java.util.Random r = new java.util.Random(seed);
                    for (int i = 0; i < 300; i++) {
                        int len = 1 + r.nextInt(100_000);
                        int off = r.nextInt(data.length - len);
                        byte[] got = new byte[len];
                        d.read(off, ByteBuffer.wrap(got));
                        DiskBytes.assertRange(data, off, got, len, "thread " + seed);
                    }
                    return null;
                }));
            }
            for (Future<?> f : fs) {
                f.get();
            }
        } finally {
            pool.shutdownNow();
        }
    }

    /**
     * The chunk table keeps only where each table is; the entries are read again into a bounded
     * cache. With room for fewer tables than the set has (one per 1 MiB segment here), reads that
     * jump between segments and threads that read at once evict and re-read tables all the time,
     * and every byte must still be the source's.
     */
    @Test
    void tablesReReadIntoABoundedCacheGiveTheSameBytes() throws Exception {
        byte[] data = DiskBytes.random(12 << 20, 19);
        Path e01 = EwfTools.acquire(source(data), dir, "rr", 1 << 20, "none", 16, 512);
        List<Path> files = EwfTools.segments(e01);
        try (org.vdmount.vd.storage.SplitStorage s = org.vdmount.vd.storage.SplitStorage.open(files, true)) {
            SectionWalker.Layout layout = SectionWalker.walk(s, OpenOptions.defaultReadOnly(), 1);
            ChunkTable t = layout.chunks();
            assertTrue(t.tables() > 2 * t.cacheCapacity(), t.tables() + " tables, room for " + t.cacheCapacity());
            assertEquals(data.length / 8192, t.count());
            Image img = new EwfImage(FormatRegistry.require("ewf"), s, layout);
            // chunk order that crosses tables at every step: first, last, second, second to last, ...
            long n = t.count();
            byte[] got = new byte[8192];
            for (long i = 0; i < n; i++) {
                long chunk = i % 2 == 0 ? i / 2 : n - 1 - i / 2;
                img.readData(chunk * 8192, ByteBuffer.wrap(got));
                DiskBytes.assertRange(data, (int) (chunk * 8192), got, got.length, "chunk " + chunk);
            }
            ExecutorService pool = Executors.newFixedThreadPool(4);
            try {
                List<Future<?>> fs = new ArrayList<>();
                for (int th = 0; th < 4; th++) {
                    long seed = th;
                    fs.add(pool.submit(() -> {
                        java.util.Random r = new java.util.Random(seed);
                        byte[] b = new byte[3000];
                        for (int k = 0; k < 2000; k++) {
                            int off = r.nextInt(data.length - b.length);
                            img.readData(off, ByteBuffer.wrap(b));
                            DiskBytes.assertRange(data, off, b, b.length, "thread " + seed);
                        }
                        return null;
                    }));
                }
                for (Future<?> f : fs) {
                    f.get();
                }
            } finally {
                pool.shutdownNow();
            }
        }
    }

    @Test
    void probedAsEwf() throws IOException {
        Path e01 = EwfTools.acquire(source(DiskBytes.random(1 << 20, 17)), dir, "pr", 1 << 20, "fast", 64, 512);
        assertEquals("ewf", FormatRegistry.probe(e01).name());
    }

    /** The data offset of the first section of {@code type} in {@code file}. */
    static long sectionDataOffset(Path file, String type) throws IOException {
        byte[] b = Files.readAllBytes(file);
        org.vdmount.vd.Bytes bytes = org.vdmount.vd.Bytes.of(b);
        long off = FileHeader.SIZE;
        while (true) {
            SectionDescriptor d = SectionDescriptor.parse(bytes.at((int) off), file, off);
            if (d.type().equals(type)) {
                return d.dataOffset();
            }
            if (d.nextOffset() <= off) {
                throw new IOException("no " + type + " section in " + file);
            }
            off = d.nextOffset();
        }
    }

    static String hex(String algorithm, byte[] data) {
        try {
            return HexFormat.of().formatHex(MessageDigest.getInstance(algorithm).digest(data));
        } catch (java.security.NoSuchAlgorithmException e) {
            throw new AssertionError(e);
        }
    }
}
