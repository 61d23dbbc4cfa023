package org.vdmount.vd.format.raw;

import java.io.IOException;
import java.nio.ByteOrder;
import java.nio.channels.FileChannel;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.List;
import org.vdmount.vd.conformance.FixtureBase;
import org.vdmount.vd.conformance.Oracle;
import org.vdmount.vd.conformance.Region;
import org.vdmount.vd.conformance.Variant;

/** Raw images for the conformance kit: sparse, preallocated, and a split set of three parts. */
public class RawFixture extends FixtureBase {
    private static final int SPLIT_PARTS = 3;

    public RawFixture() {
        super("raw", ByteOrder.LITTLE_ENDIAN, false);
    }

    @Override
    public List<Variant> variants() {
        return List.of(Variant.of("sparse", ""), Variant.fixed("full", "preallocation=full"), Variant.of("split", ""));
    }

    /** The split variant is made by hand (create makes one file): parts {@code base.001} ... */
    @Override
    public Path createBase(Path dir, String stem, Variant variant, long virtualSize) throws IOException {
        if (!variant.name().equals("split")) {
            return super.createBase(dir, stem, variant, virtualSize);
        }
        long part = (virtualSize / SPLIT_PARTS + 511) & ~511L;
        for (int i = 1; i <= SPLIT_PARTS; i++) {
            long n = Math.min(part, virtualSize - (i - 1) * part);
            try (FileChannel ch = FileChannel.open(dir.resolve(String.format("%s.%03d", stem, i)),
                    StandardOpenOption.CREATE_NEW, StandardOpenOption.WRITE)) {
                ch.truncate(0);
                ch.write(java.nio.ByteBuffer.allocate(1), n - 1);
            }
        }
        return dir.resolve(stem + ".001");
    }

    /** Every byte is data: the interesting mutations are the cuts, which change the size. */
    @Override
    public List<Region> regions(Path file, byte[] content) {
        return List.of(Region.whole("data", content.length));
    }

    @Override
    public Oracle oracle(Variant variant, int layers) {
        if (variant.name().equals("split")) {
            return Oracle.none("QEMU reads one file as a raw disk, not a split set");
        }
        return Oracle.qemuCompareOnly("raw", "qemu-img check does not check raw files");
    }

    @Override
    public int mutationCases() {
        return 300;
    }

    @Override
    public boolean refusalsExpected() {
        return false;
    }
}
