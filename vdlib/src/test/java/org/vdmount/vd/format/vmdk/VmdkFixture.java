package org.vdmount.vd.format.vmdk;

import java.io.IOException;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import org.vdmount.vd.Bytes;
import org.vdmount.vd.CreateOptions;
import org.vdmount.vd.Disk;
import org.vdmount.vd.Image;
import org.vdmount.vd.OpenOptions;
import org.vdmount.vd.conformance.ExternalTools;
import org.vdmount.vd.conformance.FixtureBase;
import org.vdmount.vd.conformance.Oracle;
import org.vdmount.vd.conformance.Region;
import org.vdmount.vd.conformance.Regions;
import org.vdmount.vd.conformance.Variant;

/**
 * VMDK for the conformance kit: monolithic sparse (with and without zeroed grains), split sparse
 * (several files) and monolithic flat (fully allocated: descriptor plus extent).
 */
public class VmdkFixture extends FixtureBase {
    private static final int EXTRA_SIZE = 1 << 20;

    public VmdkFixture() {
        super("vmdk", ByteOrder.LITTLE_ENDIAN, true);
    }

    @Override
    public List<Variant> variants() {
        return List.of(Variant.of("monolithicSparse", "").children("subformat=twoGbMaxExtentSparse,zeroed_grain=on"),
                Variant.of("zeroed-grain", "zeroed_grain=on"),
                Variant.of("twoGbMaxExtentSparse", "subformat=twoGbMaxExtentSparse"),
                Variant.fixed("monolithicFlat", "subformat=monolithicFlat"));
    }

    /**
     * A hosted sparse extent: header, embedded descriptor, both grain directories, the first grain
     * table and the first grain (its marker in a stream); a streamed file's footer. A text
     * descriptor or a flat extent: the whole file.
     */
    @Override
    public List<Region> regions(Path file, byte[] f) {
        Regions r = new Regions(f.length);
        if (f.length < 512 || !Arrays.equals(Arrays.copyOf(f, 4), SparseHeader.MAGIC)) {
            String head = new String(f, 0, Math.min(f.length, 512), StandardCharsets.ISO_8859_1);
            String kind = head.contains("createType") || head.startsWith("#") ? "descriptor"
                    : head.startsWith("COWD") ? "COWD extent" : "extent";
            r.add(kind + " head", 0, 2048);
            r.add(kind, 0, f.length);
            return r.list();
        }
        SparseHeader h = SparseHeader.parse(Bytes.of(f));
        r.add("sparse header", 0, 80);
        if (h.gdOffset() == SparseHeader.GD_AT_END) {
            long end = f.length & ~511L;
            r.add("footer and end-of-stream", end - 1536, 1536);
            h = SparseHeader.parse(Bytes.of(f).at((int) end - 1024));
        }
        if (h.descriptorOffset() > 0) {
            r.add("embedded descriptor", h.descriptorOffset() * 512, 600);
        }
        for (long gd : new long[] {h.gdOffset(), h.rgdOffset()}) {
            if (gd <= 0 || gd * 512 >= f.length) {
                continue;
            }
            r.add("grain directory", gd * 512, 64);
            long gt = Bytes.of(f).u32le((int) (gd * 512));
            if (gt > 0 && gt * 512 + 2048 <= f.length) {
                r.add("grain table", gt * 512, 2048);
                long grain = 0;
                for (int i = 0; i < 512 && grain == 0; i++) {
                    grain = Bytes.of(f).u32le((int) (gt * 512 + i * 4));
                }
                if (grain > 1 && grain * 512 + 64 <= f.length) {
                    r.add("first grain (a marker in a stream)", grain * 512, 64);
                }
            }
        }
        return r.list();
    }

    @Override
    public Oracle oracle(Variant variant, int layers) {
        return Oracle.qemu("vmdk");
    }

    /**
     * What QEMU makes of every subformat (streamOptimized and split flat included), our child of a
     * QEMU base, and ESX's hosted COWD and seSparse extents, bare and behind a descriptor.
     */
    @Override
    public List<Path> extraMutationImages(Path dir) throws IOException {
        List<Path> out = new ArrayList<>();
        if (ExternalTools.has("qemu-img")) {
            for (String sub : new String[] {"monolithicSparse", "streamOptimized", "twoGbMaxExtentSparse",
                "twoGbMaxExtentFlat"}) {
                Path d = Files.createDirectories(dir.resolve(sub));
                Files.write(d.resolve("src.raw"), Tools.source(EXTRA_SIZE, 42));
                ExternalTools.run(d, "qemu-img", "convert", "-O", "vmdk", "-o", "subformat=" + sub
                        + (sub.equals("monolithicSparse") ? ",zeroed_grain=on" : ""), "src.raw", sub + ".vmdk");
                Files.delete(d.resolve("src.raw"));
                out.add(d.resolve(sub + ".vmdk"));
            }
            Path base = dir.resolve("monolithicSparse").resolve("monolithicSparse.vmdk");
            Path child = base.resolveSibling("child.vmdk");
            try (Disk p = Disk.open(base, OpenOptions.defaultReadOnly());
                 Image c = format().create(child, CreateOptions.of(0).withParent(p, base.getFileName()))) {
                c.write(65536, java.nio.ByteBuffer.wrap(Tools.source(65536, 1)));
                c.write(5 * 65536, java.nio.ByteBuffer.wrap(Tools.source(65536, 2)));
            }
            out.add(child);
        }
        Path esx = Files.createDirectories(dir.resolve("esx"));
        Path cowd = esx.resolve("bare-cowd.vmdk");
        EsxFixtures.cowd(cowd, Tools.source(EXTRA_SIZE, 3), 8, EsxFixtures.kinds(EXTRA_SIZE / 4096, 4, false));
        out.add(cowd);
        Path se = esx.resolve("bare-se.vmdk");
        EsxFixtures.seSparse(se, Tools.source(EXTRA_SIZE, 5), EsxFixtures.kinds(EXTRA_SIZE / 4096, 6, true));
        Path seDescriptor = esx.resolve("se.vmdk");
        Files.writeString(seDescriptor, EsxFixtures.descriptor("seSparse", 1, 0xFFFF_FFFFL, null,
                "RW " + EXTRA_SIZE / 512 + " SESPARSE \"bare-se.vmdk\""));
        out.add(seDescriptor);
        return out;
    }

    @Override
    public int mutationCases() {
        return 4000;
    }
}
