package org.vdmount.vd.format.parallels;

import static org.vdmount.vd.Capability.*;

import java.io.IOException;
import java.nio.file.Path;
import java.util.List;
import org.vdmount.vd.Bytes;
import org.vdmount.vd.CreateOption;
import org.vdmount.vd.CreateOptions;
import org.vdmount.vd.DeclaredFormat;
import org.vdmount.vd.Image;
import org.vdmount.vd.OpenOptions;
import org.vdmount.vd.ProbeInput;
import org.vdmount.vd.UnsupportedFeatureException;
import org.vdmount.vd.storage.StorageScope;

/**
 * Parallels expanding image files ({@code .hds}; qemu docs/interop/parallels.txt, libphdi's
 * "Parallels Hard Disk image format"): both header magics, BAT in sectors or clusters, the in-use
 * flag as a dirty bit, the Format Extension read far enough not to break it; and bundles
 * ({@code x.hdd/} with {@code DiskDescriptor.xml}, qemu docs/interop/prl-xml.txt), opened by the
 * directory, the descriptor or one of their image files: each snapshot is a layer whose parent is
 * its ParentGUID ({@link Bundle}, {@link BundleLayer}).
 *
 * <p>Create options: {@code cluster_size} (default 1M, as Parallels Desktop and QEMU) and
 * {@code subformat=expanding|plain} (plain: bundles only). A path ending in {@code .hdd} is created
 * as a bundle, anything else as a bare image file; the image file's layout is QEMU's: "WithouFreSpacExt" header, BAT right after
 * it, data area from the next cluster boundary, geometry 16 heads by 32 sectors.
 */
public final class ParallelsFormat extends DeclaredFormat {
    static final long MIN_CLUSTER = 4096;

    static final CreateOption CLUSTER_SIZE = CreateOption.size("cluster_size", "1M",
            "cluster size, a power of two from 4K to 64M");
    static final CreateOption SUBFORMAT = CreateOption.choice("subformat", "expanding",
            "expanding: clusters allocated on first write; plain: a raw data file (bundles, IMG.hdd, only)",
            "expanding",
            "plain");

    public ParallelsFormat() {
        super("parallels", List.of("hds"), reads(WRITE, CREATE, DIFFERENCING, DISCARD, REPAIR_ON_OPEN, MULTI_FILE),
                List.of(CLUSTER_SIZE, SUBFORMAT));
    }

    @Override
    public int probe(ProbeInput in) {
        if (Bundle.descriptorOf(in.path()) != null && (in.directory() || DiskDescriptor.looksLikeDescriptor(
                in.head().bytes(0, in.head().size())))) {
            return 100;
        }
        if (in.directory() || in.head().size() < ParallelsHeader.SIZE || ParallelsHeader.magicKind(in.head()) == null) {
            return 0;
        }
        return in.head().u32le(0x10) == ParallelsHeader.VERSION ? 100 : 60;
    }

    /** BAT entries against the file and each other, the in-use flag, leaked tail clusters; see {@link ParallelsCheck}. */
    @Override
    public java.util.Optional<org.vdmount.vd.check.ImageChecker> checker() {
        return java.util.Optional.of(new ParallelsCheck(this));
    }

    /** Frees clusters of zeros or equal to the snapshots below, moves the last ones down; see {@link ParallelsCompact}. */
    @Override
    public java.util.Optional<org.vdmount.vd.compact.ImageCompactor> compactor() {
        return java.util.Optional.of(new ParallelsCompact());
    }

    @Override
    public Image open(Path path, OpenOptions options) throws IOException {
        Path descriptor = Bundle.descriptorOf(path);
        if (descriptor != null) {
            return Bundle.openTop(this, descriptor, options);
        }
        Path sibling = Bundle.siblingDescriptor(path);
        if (sibling != null) {
            Image layer = Bundle.openByFile(this, sibling, path, options);
            if (layer != null) {
                return layer; // the descriptor decides identity and parent of a bundle's image file
            }
        }
        return StorageScope.open(path, options, storage -> ParallelsImage.open(this, storage, options));
    }

    /**
     * A path ending in {@code .hdd} becomes a bundle (directory, descriptor, one image file; see
     * {@link Bundle#create}); any other path a bare expanding image file.
     */
    @Override
    public Image createImage(Path path, CreateOptions options) throws IOException {
        boolean plain = options.get(SUBFORMAT).equals("plain");
        if (options.parent() != null) {
            if (plain || options.has(CLUSTER_SIZE)) {
                throw new UnsupportedFeatureException("parallels: a snapshot is expanding, with its bundle's cluster"
                        + " size: subformat and cluster_size cannot be given with a backing bundle");
            }
            return Bundle.addSnapshot(this, path, options.parent(), options.virtualSize());
        }
        long cluster = clusterSize(options);
        if (Bundle.isBundleName(path)) {
            return Bundle.create(this, path, options.virtualSize(), cluster, plain);
        }
        if (plain) {
            throw new UnsupportedFeatureException("parallels: subformat=plain is a raw data file that only a bundle's"
                    + " descriptor describes: name the image IMG.hdd to create a bundle (or use -f raw)");
        }
        return createFile(path, options.virtualSize(), cluster);
    }

    private static long clusterSize(CreateOptions options) throws UnsupportedFeatureException {
        long cluster = options.size(CLUSTER_SIZE);
        if (Long.bitCount(cluster) != 1 || cluster < MIN_CLUSTER || cluster > ParallelsHeader.MAX_CLUSTER_BYTES) {
            throw new UnsupportedFeatureException("parallels: cluster_size " + cluster + " must be a power of two from "
                    + MIN_CLUSTER + " to " + ParallelsHeader.MAX_CLUSTER_BYTES);
        }
        return cluster;
    }

    /** Creates a bare expanding image file laid out as QEMU lays it out, opened writable. */
    ParallelsImage createFile(Path path, long size, long cluster) throws IOException {
        if (size <= 0) {
            throw new UnsupportedFeatureException("parallels: virtual size " + size + " must be positive");
        }
        long sectors = (size + ParallelsHeader.SECTOR - 1) / ParallelsHeader.SECTOR;
        long clusterSectors = cluster / ParallelsHeader.SECTOR;
        long batEntries = (sectors + clusterSectors - 1) / clusterSectors;
        if (batEntries > Integer.MAX_VALUE / 4) {
            throw new UnsupportedFeatureException("parallels: " + batEntries + " clusters of " + cluster
                    + " bytes exceed the BAT limit of " + Integer.MAX_VALUE / 4 + "; use a larger cluster_size");
        }
        long dataOff = (ParallelsHeader.SIZE + 4 * batEntries + cluster - 1) / cluster * cluster;
        ParallelsHeader h = new ParallelsHeader(true, ParallelsHeader.VERSION, 16, sectors / (16 * 32), clusterSectors,
                batEntries, sectors, 0, dataOff / ParallelsHeader.SECTOR, 0, 0);
        return StorageScope.create(path, fs -> {
            fs.truncate(dataOff); // BAT of zeros: nothing allocated
            Bytes hb = h.bytes();
            fs.write(hb.buffer(), 0);
            fs.force();
            return ParallelsImage.created(this, fs, h);
        });
    }
}
