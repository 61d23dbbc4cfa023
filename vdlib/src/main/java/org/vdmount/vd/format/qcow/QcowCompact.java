package org.vdmount.vd.format.qcow;

import java.io.IOException;
import java.util.function.LongConsumer;
import org.vdmount.vd.Disk;
import org.vdmount.vd.Image;
import org.vdmount.vd.compact.CompactResult;
import org.vdmount.vd.compact.ImageCompactor;

/**
 * {@code vd compact} of a QCOW version 1 image (QEMU block/qcow.c; there is no written spec): data
 * clusters and compressed clusters of zeros (base) or equal to the backing file get L2 entry 0;
 * zeros over backing data stay as they are, version 1 having no zero entry. Data clusters and L2
 * tables from the end move into cluster-aligned holes, compressed clusters into byte gaps (QEMU
 * writes them unaligned), the L1 table stays right after the header, and the file is cut
 * ({@code ClusterMapImage#compactClusters}). No refcounts: freeing is rewriting the entry, and a
 * crash leaves at worst unreferenced bytes, which the next compaction drops.
 */
final class QcowCompact implements ImageCompactor {

    @Override
    public CompactResult compact(Image image, Disk parent, LongConsumer progress) throws IOException {
        QcowImage img = (QcowImage) image;
        long[] counts = img.compact(parent, progress);
        return CompactResult.counts(img.blockSize(), counts[0], counts[1], counts[2]);
    }
}
