package org.vdmount.vd.format.qcow;

import java.io.IOException;
import java.nio.ByteOrder;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.Random;
import org.vdmount.vd.Bytes;
import org.vdmount.vd.conformance.FixtureBase;
import org.vdmount.vd.conformance.Oracle;
import org.vdmount.vd.conformance.Region;
import org.vdmount.vd.conformance.Regions;
import org.vdmount.vd.conformance.Variant;
import org.vdmount.vd.format.qcow2.QemuTools;

/** QCOW version 1 for the conformance kit: one variant (create takes no options). */
public class QcowFixture extends FixtureBase {
    public QcowFixture() {
        super("qcow", ByteOrder.BIG_ENDIAN, true);
    }

    @Override
    public List<Variant> variants() {
        return List.of(Variant.of("default", ""));
    }

    /** The header, the backing file name, the L1 table and the first L2 table. */
    @Override
    public List<Region> regions(Path file, byte[] b) {
        Regions r = new Regions(b.length);
        r.add("header", 0, QcowHeader.SIZE);
        if (b.length < QcowHeader.SIZE) {
            return r.list();
        }
        Bytes h = Bytes.of(b);
        r.add("backing file name", h.u64be(0x08), Math.max(1, h.u32be(0x10)));
        long l1 = h.u64be(0x28);
        r.add("L1 table", l1, 16);
        for (int i = 0; i < 64 && l1 + 8L * i + 8 <= b.length; i++) {
            long l2 = h.u64be((int) (l1 + 8L * i));
            if (l2 > 0 && l2 < b.length) {
                r.add("L2 table " + i, l2, 4096);
                break;
            }
        }
        r.add("whole file", 0, b.length);
        return r.list();
    }

    /** qemu-img check has no qcow (v1) support: qemu reading the image back is the oracle. */
    @Override
    public Oracle oracle(Variant variant, int layers) {
        return Oracle.qemuCompareOnly("qcow", "qemu-img check has no qcow (v1) support");
    }

    /** A QEMU-made image of compressed clusters and plain writes. */
    @Override
    public List<Path> extraMutationImages(Path dir) throws IOException {
        if (!QemuTools.available()) {
            return List.of();
        }
        Path d = Files.createDirectories(dir.resolve("qemu"));
        QemuTools.img(d, "create", "-f", "qcow", "s.qcow", "2M");
        QemuTools.io(d, "qcow", "s.qcow", compressedWrites(2 << 20, 100, 8));
        QemuTools.io(d, "qcow", "s.qcow", "write -P 0x11 1000 300000");
        return List.of(d.resolve("s.qcow"));
    }

    /**
     * qemu-io commands writing {@code n} compressed 4 KiB clusters into the first quarter of a disk
     * of {@code size} bytes, each cluster once (qemu-img convert -c -O qcow fails in qemu 7.2, and
     * qemu's own reads fail on clusters it compressed twice).
     */
    static String[] compressedWrites(long size, int n, long seed) {
        Random rnd = new Random(seed);
        List<Integer> clusters = new ArrayList<>();
        for (int i = 0; i < size / 4096 / 4; i++) {
            clusters.add(i);
        }
        Collections.shuffle(clusters, rnd);
        String[] cmds = new String[n];
        for (int i = 0; i < n; i++) {
            cmds[i] = "write -c -P 0x" + Integer.toHexString(1 + rnd.nextInt(255)) + " " + 4096L * clusters.get(i)
                    + " 4096";
        }
        return cmds;
    }

    @Override
    public int mutationCases() {
        return 1000;
    }
}
