package org.vdmount.vd.format.qed;

import java.io.IOException;
import java.util.function.LongConsumer;
import org.vdmount.vd.Disk;
import org.vdmount.vd.Image;
import org.vdmount.vd.compact.CompactResult;
import org.vdmount.vd.compact.ImageCompactor;

/**
 * {@code vd compact} of a QED image (qed_spec.rst "Tables", "Cluster allocation"): data clusters
 * of zeros (base) or equal to the backing chain get L2 entry 0, zeros over backing data the zero
 * entry 1; data clusters and L2 tables from the end move into the holes and the file is cut
 * ({@code ClusterMapImage#compactClusters}). QED has no refcounts, so nothing else changes; the
 * need-check bit is set for the whole run, so a crash leaves an image QEMU checks on open (at worst
 * with leaked clusters).
 */
final class QedCompact implements ImageCompactor {

    @Override
    public CompactResult compact(Image image, Disk parent, LongConsumer progress) throws IOException {
        QedImage img = (QedImage) image;
        long[] counts = img.compact(parent, progress);
        return CompactResult.counts(img.blockSize(), counts[0], counts[1], counts[2]);
    }
}
