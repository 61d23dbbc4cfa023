package org.vdmount.mount.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.vdmount.vd.format.dmg.DmgMedia;
import org.vdmount.vd.format.dmg.DmgWriter;

/**
 * DMG images through the CLI: {@code vd info} names the format and shows the partition map
 * inside (GPT and APM, offsets as written), {@code vd verify} checks the CRC-32s, {@code vdmount
 * --rw} refuses the image in one line before mounting.
 */
class DmgCliTest {
    @TempDir
    Path dir;

    private Path dmg(String label, DmgWriter.Codec codec, long[] tables) throws Exception {
        byte[] media = DmgMedia.media(dir, label, 4);
        Path p = dir.resolve(label + "-" + codec + ".dmg");
        new DmgWriter(codec, tables).write(media, p);
        return p;
    }

    @SuppressWarnings("unchecked")
    private static List<Map<String, Object>> partitions(Map<String, Object> info) {
        return (List<Map<String, Object>>) info.get("partitions");
    }

    @Test
    void infoShowsTheGptInside() throws Exception {
        Path p = dmg("gpt", DmgWriter.Codec.ZLIB, DmgMedia.GPT_TABLES);
        Map<String, Object> info = InfoTest.infoJson(p);
        assertEquals("dmg", info.get("format"));
        assertEquals((long) DmgMedia.MEDIA_BYTES, info.get("virtual-size"));
        assertEquals("gpt", info.get("partition-scheme"));
        List<Map<String, Object>> parts = partitions(info);
        assertEquals(2, parts.size(), parts.toString());
        assertEquals(List.of(2048L * 512, 4096L * 512), parts.stream().map(m -> m.get("start")).toList(),
                parts.toString());
        Map<String, Object> details = (Map<String, Object>) InfoTest.chain(info).get(0).get("details");
        assertEquals(4L, details.get("koly-version"));
        assertTrue(details.get("data-checksum").toString().startsWith("crc32:"), details.toString());
        Cli.Result text = Cli.vd("info", p);
        assertEquals(0, text.exit(), text.toString());
        assertTrue(text.out().contains("dmg") && text.out().contains("zlib"), text.out());
    }

    @Test
    void infoShowsTheAppleMapInside() throws Exception {
        Path p = dmg("apm", DmgWriter.Codec.BZIP2, DmgMedia.APM_TABLES);
        Map<String, Object> info = InfoTest.infoJson(p);
        assertEquals("apm", info.get("partition-scheme"), info.toString());
        List<Map<String, Object>> parts = partitions(info);
        assertTrue(parts.stream().map(m -> m.get("start")).toList().containsAll(List.of(2048L * 512, 4096L * 512)),
                parts.toString());
    }

    @Test
    void verifyChecksTheCrcsAndNamesAMismatch() throws Exception {
        Path p = dmg("gpt", DmgWriter.Codec.LZMA, DmgMedia.GPT_TABLES);
        Cli.Result ok = Cli.vd("verify", p);
        assertEquals(0, ok.exit(), ok.toString());
        assertTrue(ok.out().contains("data fork crc32: stored") && ok.out().contains("blkx entry 5"), ok.out());
        byte[] f = Files.readAllBytes(p);
        f[40] ^= 1; // inside the first stored chunk
        Files.write(p, f);
        Cli.Result bad = Cli.vd("verify", p);
        assertTrue(bad.exit() != 0, bad.toString());
        assertTrue(bad.err().startsWith("vd: ") && !bad.err().contains("\tat "), bad.toString());
    }

    @Test
    void vdmountRwRefusesADmgBeforeMounting() throws Exception {
        Path p = dmg("gpt", DmgWriter.Codec.RAW, DmgMedia.GPT_TABLES);
        Path mnt = Files.createDirectory(dir.resolve("mnt"));
        ByteArrayOutputStream buf = new ByteArrayOutputStream();
        int rc = VdmountMain.run(new String[] {"--rw", p.toString(), mnt.toString()},
                new PrintStream(buf, true, StandardCharsets.UTF_8));
        String[] lines = buf.toString(StandardCharsets.UTF_8).split("\n");
        assertTrue(rc != 0);
        assertEquals(1, lines.length, String.join("\n", lines));
        assertTrue(lines[0].startsWith("vdmount: ") && lines[0].contains("read-only"), lines[0]);
    }
}
