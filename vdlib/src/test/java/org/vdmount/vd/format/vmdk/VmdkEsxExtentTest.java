package org.vdmount.vd.format.vmdk;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;
import org.vdmount.vd.Disk;
import org.vdmount.vd.FormatRegistry;
import org.vdmount.vd.OpenOptions;
import org.vdmount.vd.UnsupportedFeatureException;

/** COWD (vmfsSparse) and seSparse extents, alone and as snapshots of a qemu-made base; qemu-img is the oracle. */
class VmdkEsxExtentTest {
    private static final int SIZE = 3 * 1024 * 1024 + 4096;

    @TempDir
    Path dir;

    private static long cidOf(Path sparse) throws IOException {
        String text = new String(Files.readAllBytes(sparse), StandardCharsets.ISO_8859_1);
        int i = text.indexOf("\nCID=") + 5;
        return Long.parseLong(text.substring(i, text.indexOf('\n', i)), 16);
    }

    private void writeExtent(String type, Path file, byte[] content, int grainSectors, long seed) throws IOException {
        if (type.equals("VMFSSPARSE")) {
            int grains = (content.length + grainSectors * 512 - 1) / (grainSectors * 512);
            EsxFixtures.cowd(file, content, grainSectors, EsxFixtures.kinds(grains, seed, false));
        } else {
            EsxFixtures.seSparse(file, content, EsxFixtures.kinds((content.length + 4095) / 4096, seed, true));
        }
    }

    @ParameterizedTest
    @ValueSource(strings = {"VMFSSPARSE:16", "VMFSSPARSE:1", "SESPARSE:8"})
    void readsBaseExtentsLikeQemu(String spec) throws IOException {
        Tools.need("qemu-img");
        String type = spec.split(":")[0];
        int grain = Integer.parseInt(spec.split(":")[1]);
        Path ext = dir.resolve("e-extent.vmdk");
        writeExtent(type, ext, Tools.source(SIZE, grain), grain, 7);
        String ct = type.equals("SESPARSE") ? "seSparse" : "vmfsSparse";
        Path desc = dir.resolve("e.vmdk");
        Files.writeString(desc, EsxFixtures.descriptor(ct, 0x1234, 0xFFFF_FFFFL, null,
                "RW " + SIZE / 512 + " " + type + " \"e-extent.vmdk\""));
        Path oracle = Tools.qemuRaw(desc, "oracle.raw");
        try (Disk d = Disk.open(desc, OpenOptions.defaultReadOnly())) {
            assertEquals(ct, d.top().variant());
            Tools.assertSameAsFile(d, oracle);
        }
        // opened bare (QEMU cannot open a seSparse file without its descriptor)
        assertEquals("vmdk", FormatRegistry.probe(ext).name());
        try (Disk d = Disk.open(ext, OpenOptions.defaultReadOnly())) {
            Tools.assertSameAsFile(d, oracle);
        }
        assertThrows(UnsupportedFeatureException.class, () -> Disk.open(desc, OpenOptions.defaultReadWrite()));
    }

    @ParameterizedTest
    @ValueSource(strings = {"VMFSSPARSE", "SESPARSE"})
    void readsSnapshotsOfAQemuBase(String type) throws IOException {
        Tools.need("qemu-img");
        Path src = dir.resolve("base.raw");
        Files.write(src, Tools.source(SIZE, 8));
        Path base = dir.resolve("base.vmdk");
        Tools.run(dir, "qemu-img", "convert", "-O", "vmdk", src.toString(), base.toString());
        writeExtent(type, dir.resolve("snap-delta.vmdk"), Tools.source(SIZE, 9), 8, 10);
        Path desc = dir.resolve("snap.vmdk");
        Files.writeString(desc, EsxFixtures.descriptor(type.equals("SESPARSE") ? "seSparse" : "vmfsSparse", 0x77,
                cidOf(base), "base.vmdk", "RW " + SIZE / 512 + " " + type + " \"snap-delta.vmdk\""));
        Path oracle = Tools.qemuRaw(desc, "oracle.raw");
        try (Disk d = Disk.open(desc, OpenOptions.defaultReadOnly())) {
            assertEquals(2, d.layers().size());
            Tools.assertSameAsFile(d, oracle);
        }
    }

    @Test
    void seSparseNeedingJournalReplayIsRefused() throws IOException {
        Path ext = dir.resolve("j.vmdk");
        writeExtent("SESPARSE", ext, new byte[1 << 20], 8, 1);
        byte[] f = Files.readAllBytes(ext);
        f[512 + 0x18] = 1; // volatile header: replay_journal
        Files.write(ext, f);
        UnsupportedFeatureException e = assertThrows(UnsupportedFeatureException.class,
                () -> Disk.open(ext, OpenOptions.defaultReadOnly()));
        assertEquals(true, e.getMessage().contains("journal"), e.getMessage());
    }

    @Test
    void cowdGrainsPastTheEndAreCorruptNotGarbage() throws IOException {
        Path ext = dir.resolve("c.vmdk");
        byte[] content = Tools.source(1 << 20, 3);
        int[] kinds = EsxFixtures.kinds(256, 2, false);
        EsxFixtures.cowd(ext, content, 8, kinds);
        byte[] f = Files.readAllBytes(ext);
        int gt = (4 + 1) * 512;
        int first = 0;
        while (org.vdmount.vd.Bytes.of(f).u32le(gt + first * 4) == 0) {
            first++;
        }
        final int firstAllocated = first;
        org.vdmount.vd.Bytes.of(f).put32le(gt + firstAllocated * 4, 0x7FFF_FFFF);
        Files.write(ext, f);
        try (Disk d = Disk.open(ext, OpenOptions.defaultReadOnly())) {
            assertThrows(org.vdmount.vd.CorruptImageException.class,
                    () -> d.read(firstAllocated * 4096L, ByteBuffer.allocate(4096)));
            byte[] other = new byte[4096];
            for (int g = 0; g < 256; g++) {
                if (g != firstAllocated) {
                    d.read(g * 4096L, ByteBuffer.wrap(other));
                    byte[] want = kinds[g] == EsxFixtures.DATA
                            ? java.util.Arrays.copyOfRange(content, g * 4096, g * 4096 + 4096) : new byte[4096];
                    assertArrayEquals(want, other, "grain " + g);
                }
            }
        }
    }
}
