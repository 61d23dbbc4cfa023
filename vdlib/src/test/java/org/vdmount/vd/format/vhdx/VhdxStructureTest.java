package org.vdmount.vd.format.vhdx;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.UUID;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.vdmount.vd.Bytes;
import org.vdmount.vd.CorruptImageException;
import org.vdmount.vd.CreateOptions;
import org.vdmount.vd.Disk;
import org.vdmount.vd.FormatRegistry;
import org.vdmount.vd.NotThisFormatException;
import org.vdmount.vd.OpenOptions;
import org.vdmount.vd.ReadOnlyException;
import org.vdmount.vd.UnsupportedFeatureException;

/** Header section rules: current header, both region tables, required regions and items, probe. */
class VhdxStructureTest {
    static final int SIZE = 4 * 1024 * 1024;
    static final VhdxFormat FORMAT = new VhdxFormat();

    @TempDir
    Path dir;
    Path img;
    byte[] content;

    @BeforeEach
    void image() throws IOException {
        img = dir.resolve("s.vhdx");
        content = Tools.random(SIZE, 1);
        try (Disk d = Disk.of(List.of(FORMAT.create(img, CreateOptions.of(SIZE).with("block_size", "1M"))))) {
            d.write(0, ByteBuffer.wrap(content));
        }
    }

    private byte[] readRo(List<String> warnings) throws IOException {
        try (Disk d = Disk.open(img, OpenOptions.defaultReadOnly().withWarnings(warnings::add))) {
            return Tools.readAll(d);
        }
    }

    private void patch(long at, byte[] b) throws IOException {
        try (FileChannel ch = FileChannel.open(img, StandardOpenOption.WRITE)) {
            ch.write(ByteBuffer.wrap(b), at);
        }
    }

    private byte[] bytes(long at, int n) throws IOException {
        return Arrays.copyOfRange(Files.readAllBytes(img), (int) at, (int) at + n);
    }

    private RegionTable regions() throws IOException {
        return RegionTable.parse(bytes(Vhdx.REGION1_OFFSET, RegionTable.SIZE), img, Vhdx.REGION1_OFFSET);
    }

    private void writeRegions(RegionTable t) throws IOException {
        patch(Vhdx.REGION1_OFFSET, t.write());
        patch(Vhdx.REGION2_OFFSET, t.write());
    }

    @Test
    void probeAndRegistryPickVhdx() throws IOException {
        assertEquals("vhdx", FormatRegistry.probe(img).name());
        Path raw = dir.resolve("x.raw");
        Files.write(raw, new byte[70000]);
        assertEquals("raw", FormatRegistry.probe(raw).name());
        assertThrows(NotThisFormatException.class, () -> FORMAT.open(raw, OpenOptions.defaultReadOnly()));
        assertEquals(List.of("vhdx", "avhdx"), FORMAT.extensions());
    }

    @Test
    void detailsNameTheFacts() throws IOException {
        try (Disk d = Disk.open(img, OpenOptions.defaultReadOnly())) {
            Map<String, Object> m = d.top().details();
            assertEquals(1L << 20, m.get("block-size"));
            assertEquals(512, m.get("logical-sector-size"));
            assertEquals("clean", m.get("log"));
            assertEquals("vdmount", m.get("creator"));
            assertEquals(d.top().linkUuid(), m.get("data-write-guid"));
            assertEquals("dynamic", d.top().variant());
            assertEquals(4L << 20, d.top().allocatedBytes());
            assertThrows(ReadOnlyException.class, () -> d.write(0, ByteBuffer.allocate(1)));
        }
    }

    @Test
    void oneDamagedHeaderIsToleratedBothAreNot() throws IOException {
        patch(Vhdx.HEADER2_OFFSET + 100, new byte[] {1}); // header 2 is current after create
        List<String> w = new ArrayList<>();
        assertArrayEquals(content, readRo(w));
        assertTrue(w.toString().contains("header 2 is damaged"), w.toString());
        patch(Vhdx.HEADER1_OFFSET, new byte[] {'x'});
        CorruptImageException e = assertThrows(CorruptImageException.class, () -> readRo(new ArrayList<>()));
        assertTrue(e.getMessage().startsWith("vhdx: corrupt header in " + img), e.getMessage());
    }

    @Test
    void higherSequenceWins() throws IOException {
        VhdxHeader h1 = VhdxHeader.parse(bytes(Vhdx.HEADER1_OFFSET, VhdxHeader.SIZE));
        VhdxHeader h2 = VhdxHeader.parse(bytes(Vhdx.HEADER2_OFFSET, VhdxHeader.SIZE));
        assertEquals(h1.sequence() + 1, h2.sequence());
        UUID marker = UUID.randomUUID();
        patch(Vhdx.HEADER1_OFFSET, new VhdxHeader(h2.sequence() + 5, h1.fileWriteGuid(), marker, h1.logGuid(),
                0, 1, h1.logLengthBytes(), h1.logOffsetBytes()).write());
        try (Disk d = Disk.open(img, OpenOptions.defaultReadOnly())) {
            assertEquals(marker, d.top().linkUuid());
        }
    }

    @Test
    void damagedFirstRegionTableFallsBackToTheSecond() throws IOException {
        patch(Vhdx.REGION1_OFFSET + 40, new byte[] {9});
        List<String> w = new ArrayList<>();
        assertArrayEquals(content, readRo(w));
        assertTrue(w.toString().contains("first region table is damaged"), w.toString());
        patch(Vhdx.REGION2_OFFSET + 40, new byte[] {9});
        assertThrows(CorruptImageException.class, () -> readRo(new ArrayList<>()));
    }

    @Test
    void unknownRegionsAreRefusedOnlyWhenRequired() throws IOException {
        RegionTable t = regions();
        List<RegionTable.Entry> e = new ArrayList<>(t.entries());
        UUID odd = UUID.randomUUID();
        long free = Files.size(img); // past everything; must exist in the file
        try (FileChannel ch = FileChannel.open(img, StandardOpenOption.WRITE)) {
            ch.write(ByteBuffer.allocate(1), free + Vhdx.MIB - 1);
        }
        e.add(new RegionTable.Entry(odd, free, Vhdx.MIB, false));
        writeRegions(new RegionTable(e));
        assertArrayEquals(content, readRo(new ArrayList<>()));
        e.set(e.size() - 1, new RegionTable.Entry(odd, free, Vhdx.MIB, true));
        writeRegions(new RegionTable(e));
        UnsupportedFeatureException u = assertThrows(UnsupportedFeatureException.class,
                () -> readRo(new ArrayList<>()));
        assertTrue(u.getMessage().contains(odd.toString()) && u.getMessage().contains("required"), u.getMessage());
    }

    @Test
    void overlappingRegionsAreCorrupt() throws IOException {
        RegionTable t = regions();
        RegionTable.Entry bat = t.find(Vhdx.BAT_REGION);
        RegionTable.Entry meta = t.find(Vhdx.METADATA_REGION);
        writeRegions(new RegionTable(List.of(bat, new RegionTable.Entry(Vhdx.METADATA_REGION,
                bat.fileOffsetBytes(), meta.lengthBytes(), true))));
        CorruptImageException e = assertThrows(CorruptImageException.class, () -> readRo(new ArrayList<>()));
        assertTrue(e.getMessage().contains("overlaps"), e.getMessage());
    }

    @Test
    void unknownMetadataItemsAreRefusedOnlyWhenRequired() throws IOException {
        long meta = regions().find(Vhdx.METADATA_REGION).fileOffsetBytes();
        byte[] table = bytes(meta, 4096);
        Bytes t = Bytes.of(table);
        int count = t.u16le(0x0A);
        int o = VhdxMetadata.TABLE_HEADER_SIZE + count * VhdxMetadata.ENTRY_SIZE;
        UUID odd = UUID.randomUUID();
        t.putGuid(o, odd).put32le(o + 0x10, 0x20000).put32le(o + 0x14, 8).put32le(o + 0x18, 0);
        t.put16le(0x0A, count + 1);
        patch(meta, table);
        assertArrayEquals(content, readRo(new ArrayList<>()));
        t.put32le(o + 0x18, VhdxMetadata.FLAG_REQUIRED);
        patch(meta, table);
        UnsupportedFeatureException u = assertThrows(UnsupportedFeatureException.class,
                () -> readRo(new ArrayList<>()));
        assertTrue(u.getMessage().contains(odd.toString()), u.getMessage());
    }

    @Test
    void payloadStatesReadAsTheSpecSays() throws IOException {
        RegionTable.Entry batRegion = regions().find(Vhdx.BAT_REGION);
        long e0 = Bytes.of(bytes(batRegion.fileOffsetBytes(), 8)).u64le(0);
        byte[] expected = content.clone();
        for (int state : new int[] {Bat.UNDEFINED, Bat.ZERO, Bat.UNMAPPED, Bat.UNMAPPED_V095}) {
            byte[] b = new byte[8];
            Bytes.of(b).put64le(0, Bat.entry(state, Bat.offset(e0)));
            patch(batRegion.fileOffsetBytes(), b);
            Arrays.fill(expected, 0, 1 << 20, (byte) 0);
            assertArrayEquals(expected, readRo(new ArrayList<>()), "state " + state);
        }
        byte[] b = new byte[8];
        Bytes.of(b).put64le(0, Bat.entry(Bat.PARTIALLY_PRESENT, Bat.offset(e0)));
        patch(batRegion.fileOffsetBytes(), b);
        assertThrows(CorruptImageException.class, () -> readRo(new ArrayList<>()), "partial in a base image");
        Bytes.of(b).put64le(0, Bat.entry(Bat.FULLY_PRESENT, 3 * Vhdx.MIB / 2));
        patch(batRegion.fileOffsetBytes(), b);
        assertThrows(CorruptImageException.class, () -> readRo(new ArrayList<>()), "unaligned / inside the log");
    }
}
