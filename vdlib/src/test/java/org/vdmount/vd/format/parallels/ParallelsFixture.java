package org.vdmount.vd.format.parallels;

import java.io.IOException;
import java.nio.ByteOrder;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import org.vdmount.vd.Bytes;
import org.vdmount.vd.Disk;
import org.vdmount.vd.OpenOptions;
import org.vdmount.vd.conformance.FixtureBase;
import org.vdmount.vd.conformance.Oracle;
import org.vdmount.vd.conformance.Region;
import org.vdmount.vd.conformance.Regions;
import org.vdmount.vd.conformance.Variant;
import org.vdmount.vd.format.qcow2.QemuTools;

/** Parallels for the conformance kit: bundles whose image files have QEMU's default 1 MiB clusters, or 4 KiB ones. */
public class ParallelsFixture extends FixtureBase {
    public ParallelsFixture() {
        super("parallels", ByteOrder.LITTLE_ENDIAN, false);
    }

    /**
     * Every variant is a bundle, so that children are snapshots added to it: the base is opened by
     * its image file (the descriptor would open the newest snapshot), children are new image files
     * in the bundle.
     */
    @Override
    public List<Variant> variants() {
        return List.of(Variant.of("1m", ""), Variant.of("4k", "cluster_size=4k"));
    }

    @Override
    public Path createBase(Path dir, String stem, Variant variant, long virtualSize) throws IOException {
        Path bundle = dir.resolve(stem + ".hdd");
        format().create(bundle, variant.baseOptions(virtualSize)).close();
        return bundle.resolve(stem + ".hdd.0." + DiskDescriptor.braced(DiskDescriptor.DEFAULT_TOP) + ".hds");
    }

    @Override
    public Path createChild(Path dir, String stem, Path parent, Variant variant) throws IOException {
        Path path = parent.getParent().resolve(stem + ".hds");
        try (Disk p = Disk.open(parent, OpenOptions.defaultReadOnly())) {
            format().create(path, variant.childCreateOptions().withParent(p, parent)).close();
        }
        return path;
    }

    /** The descriptor lists every snapshot: adding one rewrites it. */
    @Override
    public boolean rewrittenByChildren(Path file) {
        return file.getFileName().toString().equals(DiskDescriptor.FILE_NAME);
    }

    /** The header and the first BAT entries. */
    @Override
    public List<Region> regions(Path file, byte[] b) {
        Regions r = new Regions(b.length);
        if (file.getFileName().toString().equals(DiskDescriptor.FILE_NAME)) {
            return r.add("descriptor", 0, b.length).list();
        }
        r.add("header", 0, ParallelsHeader.SIZE);
        if (b.length >= ParallelsHeader.SIZE) {
            long entries = Bytes.of(b).u32le(0x20);
            r.add("BAT", ParallelsHeader.SIZE, Math.max(4, Math.min(4 * entries, 1024)));
        }
        return r.list();
    }

    @Override
    public Oracle oracle(Variant variant, int layers) {
        if (layers > 1) {
            return Oracle.none("qemu-img reads a bundle's image files one by one, not its snapshot chain"
                    + " (ParallelsBundleTest checks the chain against qemu-img's reads of each file)");
        }
        return Oracle.qemu("parallels"); // the base's image file alone
    }

    /** A QEMU-made image with 64 KiB clusters, partly written. */
    @Override
    public List<Path> extraMutationImages(Path dir) throws IOException {
        if (!QemuTools.available()) {
            return List.of();
        }
        Path d = Files.createDirectories(dir.resolve("qemu"));
        QemuTools.img(d, "create", "-f", "parallels", "-o", "cluster_size=64k", "s.hds", "2M");
        QemuTools.io(d, "parallels", "s.hds", "write -P 0x11 1000 300000", "write -P 0x12 1500000 9000");
        return List.of(d.resolve("s.hds"));
    }

    @Override
    public int mutationCases() {
        return 1000;
    }
}
