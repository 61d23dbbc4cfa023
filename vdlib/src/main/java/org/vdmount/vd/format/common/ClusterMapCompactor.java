package org.vdmount.vd.format.common;

import java.io.IOException;
import java.util.function.LongConsumer;
import org.vdmount.vd.Disk;
import org.vdmount.vd.Image;
import org.vdmount.vd.compact.CompactResult;
import org.vdmount.vd.compact.ImageCompactor;

/**
 * {@code vd compact} of the two-level cluster-map formats (QED, QCOW version 1): one compaction,
 * {@link ClusterMapImage#compactClusters}, whose format hooks say what differs (QED's zero entry
 * and need-check bit, QCOW's compressed clusters at byte offsets).
 */
public final class ClusterMapCompactor implements ImageCompactor {

    @Override
    public CompactResult compact(Image image, Disk parent, LongConsumer progress) throws IOException {
        ClusterMapImage img = (ClusterMapImage) image;
        long[] counts = img.compactClusters(parent, progress);
        return CompactResult.counts(img.blockSize(), counts[0], counts[1], counts[2]);
    }
}
