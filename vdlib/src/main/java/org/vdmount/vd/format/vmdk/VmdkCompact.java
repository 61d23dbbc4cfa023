package org.vdmount.vd.format.vmdk;

import java.io.IOException;
import java.nio.file.Path;
import java.util.LinkedHashSet;
import java.util.Set;
import java.util.function.LongConsumer;
import org.vdmount.vd.Disk;
import org.vdmount.vd.Image;
import org.vdmount.vd.ImageFormat;
import org.vdmount.vd.OpenOptions;
import org.vdmount.vd.UnsupportedFeatureException;
import org.vdmount.vd.compact.CompactResult;
import org.vdmount.vd.compact.ImageCompactor;

/**
 * {@code vd compact} of a VMDK whose extents are hosted sparse files (monolithicSparse,
 * twoGbMaxExtentSparse and their differencing children): each sparse extent in turn, by {@link
 * SparseCompaction}; flat and zero extents in between are left as they are. Refused: stream-optimized
 * extents (compressed grains, read-only here), seSparse and COWD (vmfsSparse) extents, and images
 * with no sparse extent at all (nothing to compact: a flat extent stores every byte).
 */
final class VmdkCompact implements ImageCompactor {

    @Override
    public void checkSupported(ImageFormat format, Path path, OpenOptions readOnly) throws IOException {
        try (Image img = format.open(path, readOnly)) {
            refuse((VmdkImage) img, path);
        }
    }

    @Override
    public CompactResult compact(Image image, Disk parent, LongConsumer progress) throws IOException {
        VmdkImage img = (VmdkImage) image;
        Path path = img.files().get(0);
        refuse(img, path);
        long[] total = new long[3];
        long start = 0;
        for (Extent e : img.extents()) {
            if (e instanceof SparseExtent s) {
                long[] n = SparseCompaction.compact(s, start, parent, progress);
                for (int i = 0; i < 3; i++) {
                    total[i] += n[i];
                }
            }
            start += e.sizeBytes();
            progress.accept(start);
        }
        return CompactResult.counts(img.blockSize(), total[0], total[1], total[2]);
    }

    /** Throws the one-line refusal for what this class does not compact. */
    private static void refuse(VmdkImage img, Path path) throws UnsupportedFeatureException {
        String prefix = "compact is not supported by vmdk for " + path + ": ";
        Set<String> kinds = new LinkedHashSet<>();
        boolean sparse = false;
        for (Extent e : img.extents()) {
            if (e instanceof SparseExtent s && s.header.compressed() || e instanceof StreamWriterExtent) {
                throw new UnsupportedFeatureException(prefix + "it is streamOptimized (compressed grains cannot be "
                        + "moved in place); vd convert -O vmdk writes a smaller copy");
            }
            if (e instanceof SeSparseExtent) {
                throw new UnsupportedFeatureException(prefix + "its extents are seSparse (ESXi); not compacted here");
            }
            if (e instanceof CowdExtent) {
                throw new UnsupportedFeatureException(prefix + "its extents are COWD (ESX vmfsSparse); not compacted "
                        + "here");
            }
            sparse |= e instanceof SparseExtent;
            kinds.add(e.kind());
        }
        if (!sparse) {
            throw new UnsupportedFeatureException("vmdk: nothing to compact in " + path + ": its extents are "
                    + String.join(", ", kinds) + " (" + img.variant() + "), which store every byte of the disk;"
                    + " only sparse extents have grains to free");
        }
    }
}
