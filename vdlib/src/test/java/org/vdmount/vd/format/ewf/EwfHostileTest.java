package org.vdmount.vd.format.ewf;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.vdmount.vd.Bytes;
import org.vdmount.vd.Disk;
import org.vdmount.vd.OpenOptions;
import org.vdmount.vd.UnsupportedFeatureException;
import org.vdmount.vd.VdException;
import org.vdmount.vd.conformance.DiskBytes;

/**
 * Headers that lie, with their checksums made right so that the values themselves are what the
 * reader must refuse: huge chunks, sector counts that disagree with the chunk count, table entry
 * counts and offsets past the segment, a section chain that runs backwards. Each is one line
 * naming the file; nothing large is allocated.
 */
class EwfHostileTest {
    @TempDir
    Path dir;
    private Path e01;
    private byte[] pristine;

    @BeforeEach
    void acquire() throws IOException {
        EwfTools.assume();
        Path src = DiskBytes.writeRaw(dir.resolve("src.raw"), EwfTools.pattern(1 << 20, 3));
        e01 = EwfTools.acquire(src, dir, "h", 64 << 20, "fast", 64, 512);
        pristine = Files.readAllBytes(e01);
    }

    /** Writes {@code value} (u32 or u64 LE) at {@code relative} into the data of the first {@code type} section, checksums fixed. */
    private void patch(String type, int relative, long value, boolean wide) throws IOException {
        byte[] b = pristine.clone();
        int at = (int) EwfReadTest.sectionDataOffset(e01, type) + relative;
        if (wide) {
            Bytes.of(b).put64le(at, value);
        } else {
            Bytes.of(b).put32le(at, value);
        }
        new EwfFixture().fixChecksums(b, b.length);
        Files.write(e01, b);
    }

    private VdException refused() {
        VdException e = assertThrows(VdException.class, () -> Disk.open(e01, OpenOptions.defaultReadOnly()).close());
        DiskBytes.assertOneLine(e, e01.toString());
        return e;
    }

    @Test
    void theFixedChecksumsAloneChangeNothing() throws IOException {
        byte[] b = pristine.clone();
        new EwfFixture().fixChecksums(b, b.length);
        assertTrue(java.util.Arrays.equals(pristine, b), "fixChecksums rewrote a valid set");
    }

    @Test
    void aHugeChunkIsUnsupported() throws IOException {
        patch("volume", 8, 1 << 24, false); // 16 Mi sectors per chunk
        patch("volume", 4, 1, false);
        VdException e = refused();
        assertTrue(e instanceof UnsupportedFeatureException || e.getMessage().contains("chunk"), e.getMessage());
    }

    @Test
    void aSectorCountThatDisagreesWithTheChunkCount() throws IOException {
        patch("volume", 16, 1L << 30, true);
        assertTrue(refused().getMessage().contains("chunk count"));
    }

    @Test
    void moreChunksThanTheTableCanIndexAreUnsupported() throws IOException {
        patch("volume", 16, 1L << 50, true);
        VdException e = refused();
        assertTrue(e instanceof UnsupportedFeatureException && e.getMessage().contains("chunks"), e.getMessage());
    }

    @Test
    void aBytesPerSectorThatIsNoPowerOfTwo() throws IOException {
        patch("volume", 12, 520, false);
        assertTrue(refused().getMessage().contains("bytes per sector 520"));
    }

    @Test
    void aTableEntryCountBeyondItsSection() throws IOException {
        patch("table", 0, 0x7fffffffL, false);
        // table2 still holds the right count: the damaged table is read through its mirror
        List<String> warnings = new ArrayList<>();
        try (Disk d = Disk.open(e01, OpenOptions.defaultReadOnly().withWarnings(warnings::add))) {
            assertEquals(1 << 20, d.size());
        }
        assertTrue(warnings.get(0).contains("entries do not fit"), warnings.toString());
    }

    @Test
    void aTableEntryPastTheSegment() throws IOException {
        byte[] b = pristine.clone();
        for (String t : new String[] {"table", "table2"}) {
            int at = (int) EwfReadTest.sectionDataOffset(e01, t) + TableSection.HEADER_SIZE + 4;
            Bytes.of(b).put32le(at, 0x7ffffff0L);
        }
        new EwfFixture().fixChecksums(b, b.length);
        Files.write(e01, b);
        assertTrue(refused().getMessage().contains("past the segment's end"));
    }

    @Test
    void aSectionChainRunningBackwards() throws IOException {
        byte[] b = pristine.clone();
        Bytes.of(b).put64le(FileHeader.SIZE + 16, 0); // the first descriptor's next offset
        java.util.zip.Adler32 a = new java.util.zip.Adler32();
        a.update(b, FileHeader.SIZE, 72);
        Bytes.of(b).put32le(FileHeader.SIZE + 72, a.getValue());
        Files.write(e01, b);
        assertTrue(refused().getMessage().contains("does not move forward"));
    }

    @Test
    void aFileNamedLikeALaterSegmentAfterTheDoneSectionIsNotPartOfTheSet() throws IOException {
        Files.write(dir.resolve("h.E02"), new byte[4096]);
        try (Disk d = Disk.open(e01, OpenOptions.defaultReadOnly())) {
            assertEquals(List.of(e01), d.top().files());
        }
    }

    @Test
    void aDamagedHeaderSectionCostsOnlyTheMetadata() throws IOException {
        byte[] b = pristine.clone();
        int at = (int) EwfReadTest.sectionDataOffset(e01, "header2");
        b[at + 4] ^= 0x55; // inside the zlib stream; the descriptor stays valid
        Files.write(e01, b);
        List<String> warnings = new ArrayList<>();
        try (Disk d = Disk.open(e01, OpenOptions.defaultReadOnly().withWarnings(warnings::add))) {
            DiskBytes.assertSame(EwfTools.pattern(1 << 20, 3), DiskBytes.readAll(d), "data");
        }
        assertTrue(warnings.isEmpty() || warnings.get(0).contains("header2"), warnings.toString());
    }
}
