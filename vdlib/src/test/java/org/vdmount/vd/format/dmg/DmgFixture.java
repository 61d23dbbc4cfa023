package org.vdmount.vd.format.dmg;

import java.io.IOException;
import java.nio.ByteOrder;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import org.vdmount.vd.Bytes;
import org.vdmount.vd.conformance.FixtureBase;
import org.vdmount.vd.conformance.Oracle;
import org.vdmount.vd.conformance.Region;
import org.vdmount.vd.conformance.Variant;
import org.vdmount.vd.format.ewf.EwfTools;

/**
 * DMG images for the conformance kit. The format is read-only and cannot create: bases are
 * written by the test writer ({@link DmgWriter}) from an all-zero media of the size asked (zero
 * and free chunks only); the mutation campaign also gets patterned images of every codec the
 * reader decodes, so corruptions reach stored chunks.
 */
public class DmgFixture extends FixtureBase {

    public DmgFixture() {
        super("dmg", ByteOrder.BIG_ENDIAN, false);
    }

    @Override
    public List<Variant> variants() {
        return List.of(Variant.of("zlib", ""), Variant.of("tables", ""));
    }

    @Override
    public Path createBase(Path dir, String stem, Variant variant, long virtualSize) throws IOException {
        Path p = dir.resolve(stem + ".dmg");
        long sectors = virtualSize / 512;
        new DmgWriter(DmgWriter.Codec.ZLIB, variant.name().equals("tables") ? new long[] {0, 1, sectors / 2}
                : new long[] {0}).write(new byte[(int) virtualSize], p);
        return p;
    }

    @Override
    public List<Path> extraMutationImages(Path dir) throws IOException {
        List<Path> out = new ArrayList<>();
        byte[] media = EwfTools.pattern(1 << 20, 31);
        for (DmgWriter.Codec c : List.of(DmgWriter.Codec.RAW, DmgWriter.Codec.ZLIB, DmgWriter.Codec.BZIP2,
                DmgWriter.Codec.LZMA)) {
            Path d = Files.createDirectories(dir.resolve(c.name().toLowerCase()));
            Path p = d.resolve("p.dmg");
            new DmgWriter(c, 0, 1, 1024).write(media, p);
            out.add(p);
        }
        return out;
    }

    /** The koly trailer, the property list (its start, where the first block table lies) and the first stored chunk. */
    @Override
    public List<Region> regions(Path file, byte[] content) {
        List<Region> out = new ArrayList<>();
        int k = content.length - KolyTrailer.SIZE;
        if (k < 0) {
            return List.of(Region.whole("file", content.length));
        }
        out.add(new Region("koly trailer", k, KolyTrailer.SIZE));
        Bytes b = Bytes.of(content);
        long xml = b.u64be(k + 216);
        long xmlLen = b.u64be(k + 224);
        if (xml >= 0 && xmlLen > 0 && xml + xmlLen <= k) {
            out.add(new Region("XML property list", xml, Math.min(xmlLen, 8192)));
        }
        long fork = b.u64be(k + 32);
        if (fork > 0 && fork <= k) {
            out.add(new Region("first stored chunk", 0, Math.min(fork, 512)));
        }
        return out;
    }

    @Override
    public Oracle oracle(Variant variant, int layers) {
        return Oracle.none("dmg is read-only: the kit writes nothing for an outside tool to check");
    }
}
