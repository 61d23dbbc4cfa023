package org.vdmount.nativetests;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;
import org.vdmount.vd.format.dmg.DmgMedia;
import org.vdmount.vd.format.dmg.DmgWriter;

/**
 * DMG images (the test writer's, which dmg2img and 7-Zip read back right) mount read-only:
 * {@code disk} hashes as the source media, {@code p1}/{@code p2} as their slices; a corrupt chunk
 * is EIO for its range only and the mount lives on; {@code --rw} is refused before mounting.
 */
@Timeout(value = 240, unit = TimeUnit.SECONDS)
class DmgMountTest {
    @TempDir
    Path dir;
    private final Fuse fuse = new Fuse();

    @BeforeEach
    void fuse() {
        Fuse.assumeFuse();
        Sh.require("sfdisk");
    }

    @AfterEach
    void cleanup() {
        fuse.cleanup();
    }

    private DmgWriter writer;

    private Path dmg(String label, DmgWriter.Codec codec) throws Exception {
        byte[] media = DmgMedia.media(dir, label, 3);
        Files.write(dir.resolve("src.raw"), media);
        Path p = dir.resolve("x.dmg");
        writer = new DmgWriter(codec, DmgMedia.GPT_TABLES);
        writer.write(media, p);
        return p;
    }

    @ParameterizedTest
    @CsvSource({"gpt, ZLIB", "dos, BZIP2", "gpt, LZMA", "dos, RAW"})
    void diskAndPartitionsEqualTheSource(String label, DmgWriter.Codec codec) throws Exception {
        Path dmg = dmg(label, codec);
        Path raw = dir.resolve("src.raw");
        Path mnt = Files.createDirectory(dir.resolve("mnt"));
        fuse.mount(dmg.toString(), mnt.toString());
        assertEquals(Files.size(raw), Files.size(mnt.resolve("disk")), "size");
        assertEquals(Sh.sha256(raw), Sh.sha256(mnt.resolve("disk")), "disk content");
        List<Images.Part> parts = label.equals("gpt") ? Images.fdiskGptPartitions(raw, 512) : Images.sfdiskPartitions(raw);
        Images.assertPartitionFiles(mnt, raw, parts);
        assertEquals(Sh.sha256(raw, parts.get(1).startBytes(), parts.get(1).lengthBytes()),
                Sh.sha256(mnt.resolve("p2")), "p2");
        fuse.unmount(mnt);
    }

    @Test
    void aCorruptChunkIsEioForItsRangeOnly() throws Exception {
        Path dmg = dmg("gpt", DmgWriter.Codec.ZLIB);
        Path raw = dir.resolve("src.raw");
        long[] chunk = writer.firstStoredChunk(3); // in p1's table: 64 sectors from chunk[0]
        long sector = chunk[0];
        byte[] f = Files.readAllBytes(dmg);
        for (long i = chunk[1] + chunk[2] / 3; i < chunk[1] + chunk[2] / 3 + 40; i++) {
            f[(int) i] ^= 0x5a;
        }
        Files.write(dmg, f);
        Path mnt = Files.createDirectory(dir.resolve("mnt"));
        fuse.mount(dmg.toString(), mnt.toString());
        Path disk = mnt.resolve("disk");
        Sh.Result bad = Sh.run("dd", "if=" + disk, "of=/dev/null", "bs=512", "skip=" + sector, "count=1",
                "iflag=direct");
        assertNotEquals(0, bad.exit(), "a corrupt chunk read: " + bad);
        assertTrue(bad.err().contains("Input/output error"), bad.err());
        assertEquals(Sh.sha256(raw, 0, sector * 512), Sh.sha256(disk, 0, sector * 512), "before the chunk");
        long after = (sector + 64) * 512;
        assertEquals(Sh.sha256(raw, after, (4 << 20) - after), Sh.sha256(disk, after, (4 << 20) - after),
                "after the chunk");
        assertTrue(Fuse.isMounted(mnt), "the mount lives on");
        fuse.unmount(mnt);
    }

    @Test
    void rwIsRefusedInOneLineBeforeMounting() throws Exception {
        Path dmg = dmg("gpt", DmgWriter.Codec.RAW);
        Path mnt = Files.createDirectory(dir.resolve("mnt"));
        Sh.Result r = fuse.vdmount("--rw", dmg.toString(), mnt.toString());
        Fuse.assertOneLineFailure(r, "read-only");
        assertTrue(!Fuse.isMounted(mnt));
    }
}
