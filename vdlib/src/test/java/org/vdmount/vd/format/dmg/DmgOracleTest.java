package org.vdmount.vd.format.dmg;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;
import org.vdmount.vd.conformance.ExternalTools;

/**
 * The test writer's images checked by two independent readers first, {@code dmg2img} and 7-Zip
 * ({@code 7zz}), then by ours ({@link DmgReadTest}): all give back the source media byte for byte,
 * and 7-Zip finds every block table's CRC-32 right. Oracles by codec: dmg2img reads raw, zlib,
 * bzip2 and ADC; 7-Zip reads all five (raw, zlib, bzip2, ADC, LZMA/xz); {@code qemu-img} (its dmg
 * driver without the optional bz2/lzfse modules) raw and zlib.
 */
class DmgOracleTest {
    @TempDir
    Path dir;

    /** dmg2img 1.6 has no LZMA (it exits 0 with a short output) nor LZFSE: those are checked with 7-Zip only. */
    @ParameterizedTest
    @EnumSource(value = DmgWriter.Codec.class, names = {"LZMA", "LZFSE"}, mode = EnumSource.Mode.EXCLUDE)
    void dmg2imgExtractsTheSource(DmgWriter.Codec codec) throws IOException {
        ExternalTools.assume("dmg2img");
        byte[] media = DmgMedia.media(dir, "gpt", 7);
        Path dmg = write(media, codec);
        Path out = dir.resolve("dmg2img.img");
        ExternalTools.Result r = ExternalTools.exec(dir, "dmg2img", "-i", dmg.toString(), "-o", out.toString());
        assertEquals(0, r.exit(), r.out() + r.err());
        assertArrayEquals(media, Files.readAllBytes(out), "dmg2img " + codec);
    }

    @ParameterizedTest
    /**
     * 7-Zip 26.02 answers "Data Error" for the stored-block (bvx-) LZFSE streams the test writer
     * emits, which Apple's reference decoder accepts (LzfseTest's "uncompressed" vector is the
     * reference encoder's own bvx- output); LZFSE's compressed kinds are pinned there by vectors.
     */
    @EnumSource(value = DmgWriter.Codec.class, names = "LZFSE", mode = EnumSource.Mode.EXCLUDE)
    void sevenZipExtractsTheSource(DmgWriter.Codec codec) throws IOException {
        ExternalTools.assume("7zz");
        byte[] media = DmgMedia.media(dir, "gpt", 7);
        Path dmg = write(media, codec);
        Path out = dir.resolve("7z-" + codec);
        ExternalTools.Result r = ExternalTools.exec(dir, "7zz", "x", "-y", "-o" + out, dmg.toString());
        assertEquals(0, r.exit(), r.out() + r.err());
        assertArrayEquals(media, concatenated(out), "7zz " + codec);
    }

    /** QEMU's dmg driver (without its optional bz2/lzfse modules here) reads raw and zlib chunks. */
    @ParameterizedTest
    @EnumSource(value = DmgWriter.Codec.class, names = {"RAW", "ZLIB"})
    void qemuImgReadsTheSource(DmgWriter.Codec codec) throws IOException {
        ExternalTools.assume("qemu-img");
        byte[] media = DmgMedia.media(dir, "gpt", 7);
        Path dmg = write(media, codec);
        Path src = dir.resolve("src.raw");
        Files.write(src, media);
        ExternalTools.Result r = ExternalTools.exec(dir, "qemu-img", "compare", "-f", "dmg", "-F", "raw", dmg.toString(),
                src.toString());
        assertEquals(0, r.exit(), r.out() + r.err());
    }

    /** 7-Zip extracts one file per block table, named "N.name": laid end to end in N's order. */
    static byte[] concatenated(Path out) throws IOException {
        java.io.ByteArrayOutputStream all = new java.io.ByteArrayOutputStream();
        try (var s = Files.list(out)) {
            for (Path p : s.sorted(java.util.Comparator.comparingInt(
                    p -> Integer.parseInt(p.getFileName().toString().split("\\.")[0]))).toList()) {
                all.write(Files.readAllBytes(p));
            }
        }
        return all.toByteArray();
    }

    private Path write(byte[] media, DmgWriter.Codec codec) throws IOException {
        DmgWriter w = new DmgWriter();
        w.codec = codec;
        w.tableStarts = DmgMedia.GPT_TABLES;
        Path dmg = dir.resolve("x-" + codec + ".dmg");
        w.write(media, dmg);
        return dmg;
    }
}
