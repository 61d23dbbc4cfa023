package org.vdmount.vd.format.qcow2;

import static org.vdmount.vd.format.qcow2.QemuTools.img;
import static org.vdmount.vd.format.qcow2.QemuTools.io;

import java.io.IOException;
import java.nio.ByteOrder;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import org.vdmount.vd.Bytes;
import org.vdmount.vd.Image;
import org.vdmount.vd.conformance.ExternalTools;
import org.vdmount.vd.conformance.FixtureBase;
import org.vdmount.vd.conformance.Oracle;
import org.vdmount.vd.conformance.Region;
import org.vdmount.vd.conformance.Regions;
import org.vdmount.vd.conformance.Variant;

/**
 * qcow2 for the conformance kit: v3 with 64 KiB clusters under children of extended L2 entries,
 * 4 KiB clusters with 4-bit refcounts under 2 MiB-cluster children, and v2 under 512-byte
 * clusters; internal snapshots taken by qemu-img.
 */
public class Qcow2Fixture extends FixtureBase {
    public Qcow2Fixture() {
        super("qcow2", ByteOrder.BIG_ENDIAN, true);
    }

    @Override
    public List<Variant> variants() {
        return List.of(Variant.of("64k", "cluster_size=64k").children("extended_l2=on,cluster_size=32k"),
                Variant.of("4k-refcount4", "cluster_size=4k,refcount_bits=4").children("cluster_size=2M"),
                Variant.of("v2", "compat=0.10").children("cluster_size=512"));
    }

    /**
     * The header and its extensions, the L1 table, the first L2 tables, the refcount table and its
     * first block, the snapshot table.
     */
    @Override
    public List<Region> regions(Path file, byte[] b) {
        return structures(b);
    }

    static List<Region> structures(byte[] b) {
        Regions r = new Regions(b.length);
        r.add("header", 0, 104);
        if (b.length < 104) {
            return r.list();
        }
        Bytes h = Bytes.of(b);
        long cluster = 1L << Math.max(9, Math.min(21, h.s32be(20)));
        int headerLength = h.s32be(4) >= 3 ? h.s32be(100) : 72;
        r.add("header extensions", Math.max(72, headerLength), 512);
        long l1 = h.u64be(40);
        long l1Entries = h.u32be(36);
        r.add("L1 table", l1, 8 * Math.min(l1Entries, 64));
        int tables = 0;
        for (long i = 0; i < Math.min(l1Entries, 4096) && tables < 4; i++) {
            long at = l1 + 8 * i;
            if (at < 0 || at + 8 > b.length) {
                break;
            }
            long l2 = h.u64be((int) at) & 0x00ff_ffff_ffff_fe00L;
            if (l2 > 0 && l2 + cluster <= b.length) {
                r.add("L2 table " + i, l2, cluster);
                tables++;
            }
        }
        long refcountTable = h.u64be(48);
        r.add("refcount table", refcountTable, 32);
        if (refcountTable > 0 && refcountTable + 8 <= b.length) {
            r.add("refcount block", h.u64be((int) refcountTable), Math.min(cluster, 1024));
        }
        if (h.u32be(60) > 0) {
            r.add("snapshot table", h.u64be(64), 512);
        }
        return r.list();
    }

    @Override
    public Oracle oracle(Variant variant, int layers) {
        return Oracle.qemu("qcow2");
    }

    /**
     * What QEMU makes and our create does not: 512-byte clusters with zero clusters, compressed
     * clusters, zstd with extended L2 entries over a raw backing file, v2 with two snapshots.
     */
    @Override
    public List<Path> extraMutationImages(Path dir) throws IOException {
        List<Path> out = new ArrayList<>();
        if (!QemuTools.available()) {
            return out;
        }
        Path d = Files.createDirectories(dir.resolve("small-clusters"));
        img(d, "create", "-f", "qcow2", "-o", "cluster_size=512", "s.qcow2", "2M");
        io(d, "qcow2", "s.qcow2", "write -P 0x11 1000 300000", "write -z 600000 100000", "write -P 0x12 1500000 200000");
        out.add(d.resolve("s.qcow2"));

        d = Files.createDirectories(dir.resolve("compressed"));
        QemuTools.randomRaw(d.resolve("c.raw"), 1 << 20, 1);
        img(d, "convert", "-c", "-O", "qcow2", "-o", "cluster_size=4k", "c.raw", "s.qcow2");
        out.add(d.resolve("s.qcow2"));

        d = Files.createDirectories(dir.resolve("zstd-extl2-backing"));
        img(d, "create", "-f", "raw", "base.raw", "1M");
        io(d, "raw", "base.raw", "write -P 0x22 0 1M");
        QemuTools.randomRaw(d.resolve("c.raw"), 1 << 20, 2);
        img(d, "convert", "-c", "-O", "qcow2", "-o", "cluster_size=16k,extended_l2=on,compression_type=zstd", "c.raw",
                "s.qcow2");
        img(d, "rebase", "-u", "-b", "base.raw", "-F", "raw", "s.qcow2");
        io(d, "qcow2", "s.qcow2", "write -z 70000 20000", "discard 200000 40000", "write -P 0x23 300001 5000");
        out.add(d.resolve("s.qcow2"));

        d = Files.createDirectories(dir.resolve("v2-snapshots"));
        img(d, "create", "-f", "qcow2", "-o", "compat=0.10,cluster_size=1k", "s.qcow2", "1M");
        io(d, "qcow2", "s.qcow2", "write -P 0x31 0 300000");
        img(d, "snapshot", "-c", "a", "s.qcow2");
        io(d, "qcow2", "s.qcow2", "write -P 0x32 100000 300000");
        img(d, "snapshot", "-c", "b", "s.qcow2");
        out.add(d.resolve("s.qcow2"));
        return out;
    }

    @Override
    public int mutationCases() {
        return 3000;
    }

    @Override
    public void takeSnapshot(Path image, String name) throws IOException {
        ExternalTools.assume("qemu-img");
        ExternalTools.run(image.getParent(), "qemu-img", "snapshot", "-c", name, image.toString());
    }

    @Override
    public List<String> snapshotNames(Image image) {
        @SuppressWarnings("unchecked")
        List<Map<String, Object>> snaps = (List<Map<String, Object>>) image.details().get("snapshots");
        return snaps.stream().map(m -> String.valueOf(m.get("name"))).toList();
    }
}
