package org.vdmount.vd.format.vdi;

import java.io.IOException;
import java.nio.ByteOrder;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import org.vdmount.vd.Bytes;
import org.vdmount.vd.conformance.ExternalTools;
import org.vdmount.vd.conformance.FixtureBase;
import org.vdmount.vd.conformance.Oracle;
import org.vdmount.vd.conformance.Region;
import org.vdmount.vd.conformance.Regions;
import org.vdmount.vd.conformance.Variant;

/** VDI for the conformance kit: dynamic and fixed images of 1 MiB blocks (what QEMU opens). */
public class VdiFixture extends FixtureBase {
    public VdiFixture() {
        super("vdi", ByteOrder.LITTLE_ENDIAN, false);
    }

    @Override
    public List<Variant> variants() {
        return List.of(Variant.of("dynamic", ""), Variant.fixed("fixed", "subformat=fixed"));
    }

    /** The header, the fields that shape the layout, the block map, and all of it up to the data. */
    @Override
    public List<Region> regions(Path file, byte[] content) {
        Regions r = new Regions(content.length);
        r.add("pre-header and version", 0, VdiHeader.PRE_HEADER_SIZE + 8);
        r.add("header", 0x40, VdiHeader.SIZE - 0x40);
        r.add("map and data offsets", 0x154, 8);
        r.add("disk size", 0x170, 8);
        r.add("block size, extra bytes, block counts", 0x178, 16);
        if (content.length >= VdiHeader.SIZE) {
            Bytes b = Bytes.of(content);
            long mapOffset = b.u32le(0x154);
            long dataOffset = b.u32le(0x158);
            long blocks = b.u32le(0x180);
            r.add("block map", mapOffset, 4 * Math.min(blocks, 1 << 20));
            r.add("header and block map", 0, Math.min(dataOffset, content.length));
        }
        return r.list();
    }

    /** QEMU refuses VDI differencing images; nothing else that reads VDI is installed. */
    @Override
    public Oracle oracle(Variant variant, int layers) {
        return layers == 1 ? Oracle.qemu("vdi") : Oracle.none("QEMU refuses VDI differencing images");
    }

    /**
     * A compact dynamic image made by hand (4 KiB blocks, free, zero and allocated blocks in
     * scrambled slots: what our create never writes), and one QEMU made.
     */
    @Override
    public List<Path> extraMutationImages(Path dir) throws IOException {
        List<Path> out = new ArrayList<>();
        Path compact = Files.createDirectories(dir.resolve("compact")).resolve("compact.vdi");
        Files.write(compact, compactDynamic());
        out.add(compact);
        if (ExternalTools.has("qemu-img")) {
            Path q = Files.createDirectories(dir.resolve("qemu"));
            Files.write(q.resolve("src.raw"), VdiTestSupport.patternedDisk(8, 3 << 20, 1 << 20));
            ExternalTools.run(q, "qemu-img", "convert", "-O", "vdi", "src.raw", "q.vdi");
            Files.delete(q.resolve("src.raw"));
            out.add(q.resolve("q.vdi"));
        }
        return out;
    }

    private static byte[] compactDynamic() {
        Random rnd = new Random(99);
        int blocks = 48;
        int[] map = new int[blocks];
        int allocated = 0;
        for (int i = 0; i < blocks; i++) {
            map[i] = i % 5 == 1 ? VdiBlockMap.FREE : i % 7 == 3 ? VdiBlockMap.ZERO : allocated++;
        }
        for (int i = blocks - 1; i > 0; i--) {
            int j = rnd.nextInt(i + 1);
            if (VdiBlockMap.isAllocated(map[i]) && VdiBlockMap.isAllocated(map[j])) {
                int t = map[i];
                map[i] = map[j];
                map[j] = t;
            }
        }
        byte[] data = VdiTestSupport.random(rnd, blocks * 4096);
        return VdiTestSupport.handMade(4096, 0, map, allocated, data, blocks * 4096L - 1000, VdiHeader.TYPE_NORMAL,
                VdiHeader.nullUuid());
    }

    @Override
    public int mutationCases() {
        return 3800;
    }
}
