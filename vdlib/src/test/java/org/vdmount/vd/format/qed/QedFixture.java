package org.vdmount.vd.format.qed;

import java.io.IOException;
import java.nio.ByteOrder;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import org.vdmount.vd.Bytes;
import org.vdmount.vd.conformance.FixtureBase;
import org.vdmount.vd.conformance.Oracle;
import org.vdmount.vd.conformance.Region;
import org.vdmount.vd.conformance.Regions;
import org.vdmount.vd.conformance.Variant;
import org.vdmount.vd.format.qcow2.QemuTools;

/** QED for the conformance kit: the default 64 KiB clusters, and 4 KiB clusters with 2-cluster tables. */
public class QedFixture extends FixtureBase {
    public QedFixture() {
        super("qed", ByteOrder.LITTLE_ENDIAN, true);
    }

    @Override
    public List<Variant> variants() {
        return List.of(Variant.of("64k", ""), Variant.of("4k-table2", "cluster_size=4k,table_size=2"));
    }

    /** The header, the backing file name, the L1 table and the first L2 tables. */
    @Override
    public List<Region> regions(Path file, byte[] b) {
        Regions r = new Regions(b.length);
        r.add("header", 0, QedHeader.SIZE);
        if (b.length < QedHeader.SIZE) {
            return r.list();
        }
        Bytes h = Bytes.of(b);
        r.add("backing file name", h.u32le(0x38), Math.max(1, h.u32le(0x3C)));
        long l1 = h.u64le(0x28);
        r.add("L1 table", l1, 128);
        int tables = 0;
        for (int i = 0; i < 512 && tables < 3 && l1 + 8L * i + 8 <= b.length; i++) {
            long l2 = h.u64le((int) (l1 + 8L * i));
            if (l2 > 0 && l2 < b.length) {
                r.add("L2 table " + i, l2, 8192);
                tables++;
            }
        }
        return r.list();
    }

    @Override
    public Oracle oracle(Variant variant, int layers) {
        return Oracle.qemu("qed");
    }

    /** A QEMU-made image with 4 KiB clusters, 2-cluster tables and zero clusters. */
    @Override
    public List<Path> extraMutationImages(Path dir) throws IOException {
        if (!QemuTools.available()) {
            return List.of();
        }
        Path d = Files.createDirectories(dir.resolve("qemu"));
        QemuTools.img(d, "create", "-f", "qed", "-o", "cluster_size=4k,table_size=2", "s.qed", "2M");
        QemuTools.io(d, "qed", "s.qed", "write -P 0x11 1000 300000", "write -z 600000 100000",
                "write -P 0x12 1500000 9000");
        return List.of(d.resolve("s.qed"));
    }

    @Override
    public int mutationCases() {
        return 1000;
    }
}
