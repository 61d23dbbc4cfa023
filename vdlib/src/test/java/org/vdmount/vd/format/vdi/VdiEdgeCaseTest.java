package org.vdmount.vd.format.vdi;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.vdmount.vd.format.vdi.VdiTestSupport.assertDiskEquals;
import static org.vdmount.vd.format.vdi.VdiTestSupport.handMade;
import static org.vdmount.vd.format.vdi.VdiTestSupport.random;

import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Random;
import java.util.UUID;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.vdmount.vd.Allocation;
import org.vdmount.vd.Bytes;
import org.vdmount.vd.CorruptImageException;
import org.vdmount.vd.Disk;
import org.vdmount.vd.Image;
import org.vdmount.vd.NotThisFormatException;
import org.vdmount.vd.OpenOptions;
import org.vdmount.vd.ReadOnlyException;
import org.vdmount.vd.Run;
import org.vdmount.vd.TruncatedImageException;
import org.vdmount.vd.UnsupportedFeatureException;

/** Hand-built VDI files: v0 headers, extra block data, truncation and hostile fields. */
class VdiEdgeCaseTest {
    private static final int BLOCK = 4096;

    @TempDir
    Path dir;

    private final Random rnd = new Random(31);

    private Path file(String name, byte[] bytes) throws Exception {
        Path p = dir.resolve(name);
        Files.write(p, bytes);
        return p;
    }

    /** 16 blocks: block i in slot (15 - i) for odd i, FREE for even i except 4 which is ZERO. */
    private static int[] scrambledMap() {
        int[] map = new int[16];
        int slot = 0;
        for (int i = 15; i >= 0; i--) {
            map[i] = i % 2 == 1 ? slot++ : i == 4 ? VdiBlockMap.ZERO : VdiBlockMap.FREE;
        }
        return map;
    }

    private static byte[] expected(byte[] data, int[] map) {
        byte[] out = data.clone();
        for (int i = 0; i < map.length; i++) {
            if (!VdiBlockMap.isAllocated(map[i])) {
                Arrays.fill(out, i * BLOCK, Math.min(out.length, (i + 1) * BLOCK), (byte) 0);
            }
        }
        return out;
    }

    @Test
    void extraBlockDataIsSkippedOnReadAndKeptOnWrite() throws Exception {
        int[] map = scrambledMap();
        int size = 16 * BLOCK - 512;
        byte[] data = random(rnd, size);
        Path p = file("extra.vdi", handMade(BLOCK, 512, map, 8, data, size, VdiHeader.TYPE_NORMAL,
                VdiHeader.nullUuid()));
        byte[] model = expected(data, map);
        try (Disk d = Disk.open(p, OpenOptions.defaultReadWrite())) {
            assertDiskEquals(model, d);
            VdiTestSupport.write(d, model, 3 * BLOCK - 10, random(rnd, 20));   // allocated + fresh block
            VdiTestSupport.write(d, model, 8 * BLOCK + 100, random(rnd, 50));  // fresh block
            d.discard(BLOCK, BLOCK);                                          // moves the last slot
            Arrays.fill(model, BLOCK, 2 * BLOCK, (byte) 0);
            assertDiskEquals(model, d);
        }
        try (Disk d = Disk.open(p, OpenOptions.defaultReadOnly())) {
            assertDiskEquals(model, d);
            assertEquals(512L, d.top().details().get("block_extra"));
        }
    }

    @Test
    void readsV0HeaderImagesReadOnly() throws Exception {
        int blocks = 8;
        int size = blocks * BLOCK;
        byte[] data = random(rnd, size);
        int mapOff = 0x48 + 0x15C;
        int dataOff = mapOff + 4 * blocks;
        byte[] f = new byte[dataOff + 4 * BLOCK];
        Bytes b = Bytes.of(f);
        b.putBytes(0, "<<< innotek VirtualBox Disk Image >>>\n".getBytes(StandardCharsets.US_ASCII));
        b.put32le(0x40, VdiHeader.SIGNATURE).put32le(0x44, VdiHeader.VERSION_0);
        b.put32le(0x48, VdiHeader.TYPE_NORMAL).put32le(0x4C, 0);
        b.put32le(0x15C, 512);                     // legacy geometry cbSector
        b.put64le(0x160, size).put32le(0x168, BLOCK).put32le(0x16C, blocks).put32le(0x170, 4);
        UUID id = UUID.randomUUID();
        b.putGuid(0x174, id).putGuid(0x184, UUID.randomUUID());
        int[] map = {2, VdiBlockMap.FREE, 0, VdiBlockMap.ZERO, 3, VdiBlockMap.FREE, 1, VdiBlockMap.FREE};
        for (int i = 0; i < blocks; i++) {
            b.put32le(mapOff + 4 * i, Integer.toUnsignedLong(map[i]));
            if (VdiBlockMap.isAllocated(map[i])) {
                System.arraycopy(data, i * BLOCK, f, dataOff + map[i] * BLOCK, BLOCK);
            }
        }
        Path p = file("v0.vdi", f);
        try (Disk d = Disk.open(p, OpenOptions.defaultReadOnly())) {
            assertEquals(id, d.top().uuid());
            assertEquals("0.2", d.top().details().get("version"));
            assertDiskEquals(expected(data, map), d);
            assertEquals(Allocation.ZERO, Run.kind(d.top().map(3L * BLOCK, BLOCK)));
        }
        UnsupportedFeatureException e = assertThrows(UnsupportedFeatureException.class,
                () -> new VdiFormat().open(p, OpenOptions.defaultReadWrite()));
        assertTrue(e.getMessage().contains("read-only"), e.getMessage());
    }

    @Test
    void truncatedDataBlockOpensWithWarningAndFailsOnRead() throws Exception {
        int[] map = scrambledMap();
        int size = 16 * BLOCK;
        byte[] data = random(rnd, size);
        byte[] full = handMade(BLOCK, 0, map, 8, data, size, VdiHeader.TYPE_NORMAL, VdiHeader.nullUuid());
        Path p = file("trunc.vdi", Arrays.copyOf(full, full.length - BLOCK - 100)); // slot 7 gone, slot 6 cut
        List<String> warnings = new ArrayList<>();
        try (Disk d = Disk.open(p, OpenOptions.defaultReadOnly().withWarnings(warnings::add))) {
            assertEquals(1, warnings.size(), warnings.toString());
            assertTrue(warnings.get(0).contains("2 data blocks"), warnings.get(0));
            // block 1 is in slot 7 (beyond the end), block 3 in slot 6 (cut)
            TruncatedImageException e = assertThrows(TruncatedImageException.class,
                    () -> d.read(BLOCK, ByteBuffer.allocate(10)));
            assertTrue(e.getMessage().contains("trunc.vdi") && e.getMessage().contains("block 1"), e.getMessage());
            assertThrows(TruncatedImageException.class, () -> d.read(4L * BLOCK - 200, ByteBuffer.allocate(200)));
            ByteBuffer ok = ByteBuffer.allocate(BLOCK - 100); // the part of block 3 still in the file
            d.read(3L * BLOCK, ok);
            assertArrayEquals(Arrays.copyOfRange(data, 3 * BLOCK, 4 * BLOCK - 100), ok.array());
            ByteBuffer other = ByteBuffer.allocate(BLOCK);
            d.read(5L * BLOCK, other);
            assertArrayEquals(Arrays.copyOfRange(data, 5 * BLOCK, 6 * BLOCK), other.array());
        }
    }

    @Test
    void mapEntryBeyondTheBlockCountIsCorrupt() throws Exception {
        byte[] bytes = handMade(BLOCK, 0, scrambledMap(), 8, new byte[16 * BLOCK], 16 * BLOCK, VdiHeader.TYPE_NORMAL,
                VdiHeader.nullUuid());
        Bytes.of(bytes).put32le(0x200 + 4 * 5, 16); // 16 blocks: slots 0..15
        Path p = file("bad.vdi", bytes);
        for (OpenOptions o : List.of(OpenOptions.defaultReadOnly(), OpenOptions.defaultReadWrite())) {
            CorruptImageException e = assertThrows(CorruptImageException.class, () -> new VdiFormat().open(p, o));
            assertEquals("vdi: corrupt block map in " + p + " at 0x214: block 5 points to slot 16 >= block count 16",
                    e.getMessage());
        }
    }

    /** A slot past the end of the file: VirtualBox would count it and append after a hole; refused for writing. */
    @Test
    void dataSlotPastTheEndOfTheFileIsRefusedWritable() throws Exception {
        byte[] bytes = handMade(BLOCK, 0, scrambledMap(), 8, random(rnd, 16 * BLOCK), 16 * BLOCK,
                VdiHeader.TYPE_NORMAL, VdiHeader.nullUuid());
        Bytes.of(bytes).put32le(0x200 + 4 * 5, 9).put32le(0x184, 10); // block 5 in slot 9, beyond the 8 written
        Path p = file("past.vdi", bytes);
        List<String> warnings = new ArrayList<>();
        new VdiFormat().open(p, OpenOptions.defaultReadOnly().withWarnings(warnings::add)).close();
        assertTrue(warnings.stream().anyMatch(w -> w.contains("past the end")), warnings.toString());
        CorruptImageException e = assertThrows(CorruptImageException.class,
                () -> new VdiFormat().open(p, OpenOptions.defaultReadWrite()));
        assertTrue(e.getMessage().contains("block 5 in slot 9") && e.getMessage().contains("past the end of the file")
                && e.getMessage().contains("read-only"), e.getMessage());
        assertArrayEquals(bytes, Files.readAllBytes(p), "nothing written");
    }

    @Test
    void sharedSlotsAreReportedReadOnlyAndRefusedWritable() throws Exception {
        int[] map = scrambledMap();
        byte[] bytes = handMade(BLOCK, 0, map, 8, random(rnd, 16 * BLOCK), 16 * BLOCK, VdiHeader.TYPE_NORMAL,
                VdiHeader.nullUuid());
        Bytes.of(bytes).put32le(0x200 + 4 * 2, map[3]); // block 2 now shares block 3's slot
        Path p = file("shared.vdi", bytes);
        List<String> warnings = new ArrayList<>();
        new VdiFormat().open(p, OpenOptions.defaultReadOnly().withWarnings(warnings::add)).close();
        assertEquals(1, warnings.size());
        assertThrows(CorruptImageException.class, () -> new VdiFormat().open(p, OpenOptions.defaultReadWrite()));
    }

    @Test
    void hostileHeaderFieldsFailFastWithoutHugeAllocations() throws Exception {
        byte[] base = handMade(BLOCK, 0, scrambledMap(), 8, new byte[16 * BLOCK], 16 * BLOCK, VdiHeader.TYPE_NORMAL,
                VdiHeader.nullUuid());
        // a 1G-entry block map that would need 4 GiB of memory, with a data offset that passes the map check
        byte[] huge = base.clone();
        Bytes.of(huge).put32le(0x180, 0x3FFF_0000L).put32le(0x158, 0xFFFF_FE00L).put64le(0x170, 1L << 40);
        assertThrows(TruncatedImageException.class, () -> new VdiFormat().open(file("huge.vdi", huge),
                OpenOptions.defaultReadOnly()));
        byte[] badBlock = base.clone();
        Bytes.of(badBlock).put32le(0x178, 3000);
        CorruptImageException e = assertThrows(CorruptImageException.class,
                () -> new VdiFormat().open(file("bs.vdi", badBlock), OpenOptions.defaultReadOnly()));
        assertTrue(e.getMessage().contains("at 0x178") && e.getMessage().contains("block size 3000"), e.getMessage());
        byte[] tooSmall = base.clone();
        Bytes.of(tooSmall).put32le(0x180, 2); // 2 blocks of 4 KiB cannot hold 64 KiB
        assertThrows(CorruptImageException.class, () -> new VdiFormat().open(file("small.vdi", tooSmall),
                OpenOptions.defaultReadOnly()));
        byte[] version = base.clone();
        Bytes.of(version).put32le(0x44, 0x0002_0000L);
        assertThrows(UnsupportedFeatureException.class, () -> new VdiFormat().open(file("v2.vdi", version),
                OpenOptions.defaultReadOnly()));
        byte[] undo = base.clone();
        Bytes.of(undo).put32le(0x4C, VdiHeader.TYPE_UNDO);
        assertThrows(UnsupportedFeatureException.class, () -> new VdiFormat().open(file("undo.vdi", undo),
                OpenOptions.defaultReadOnly()));
        assertThrows(TruncatedImageException.class, () -> new VdiFormat().open(file("cut.vdi",
                Arrays.copyOf(base, 0x100)), OpenOptions.defaultReadOnly()));
        assertThrows(NotThisFormatException.class, () -> new VdiFormat().open(file("zero.vdi", new byte[4096]),
                OpenOptions.defaultReadOnly()));
        assertThrows(NotThisFormatException.class, () -> new VdiFormat().open(file("tiny.vdi", new byte[10]),
                OpenOptions.defaultReadOnly()));
    }

    @Test
    void differencingImageWithoutParentUuidIsCorrupt() throws Exception {
        byte[] bytes = handMade(BLOCK, 0, scrambledMap(), 8, new byte[16 * BLOCK], 16 * BLOCK, VdiHeader.TYPE_DIFF,
                VdiHeader.nullUuid());
        CorruptImageException e = assertThrows(CorruptImageException.class,
                () -> new VdiFormat().open(file("d.vdi", bytes), OpenOptions.defaultReadOnly()));
        assertTrue(e.getMessage().contains("parent UUID"), e.getMessage());
    }

    @Test
    void readOnlyImagesRefuseWrites() throws Exception {
        byte[] bytes = handMade(BLOCK, 0, scrambledMap(), 8, new byte[16 * BLOCK], 16 * BLOCK, VdiHeader.TYPE_NORMAL,
                VdiHeader.nullUuid());
        Path p = file("ro.vdi", bytes);
        try (Image img = new VdiFormat().open(p, OpenOptions.defaultReadOnly())) {
            assertThrows(ReadOnlyException.class, () -> img.write(0, ByteBuffer.allocate(BLOCK)));
            assertThrows(ReadOnlyException.class, () -> img.discard(0, BLOCK));
            img.flush();
        }
        assertArrayEquals(bytes, Files.readAllBytes(p));
    }
}
