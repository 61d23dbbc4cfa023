package org.vdmount.vd.format.parallels;

import java.io.IOException;
import java.util.ArrayList;
import java.util.List;
import java.util.function.LongConsumer;
import org.vdmount.vd.Disk;
import org.vdmount.vd.Image;
import org.vdmount.vd.UnsupportedFeatureException;
import org.vdmount.vd.compact.CompactResult;
import org.vdmount.vd.compact.ImageCompactor;

/**
 * {@code vd compact} of a Parallels expanding image file (parallels.txt "BAT"): every cluster that
 * is all zeros (a base image) or reads as the layers below (a bundle snapshot) gets BAT entry 0;
 * the format has no zero marker, so zeros over parent data stay. The last clusters move into the
 * holes and the file is cut after the last one, never below data_off. The in-use field stays set
 * for the run, as for every writable open (a kill leaves it set: the next writable open repairs
 * what the kill left, as after any unclean close), and the clean close restores it.
 *
 * <p>A bundle's snapshot ({@code x.hdd}, prl-xml.txt) is compacted one Storage range at a time:
 * each range's expanding image file against the snapshots below it at the range's place in the
 * disk. A plain (raw) image file is refused before anything is written: it is the disk itself,
 * with no table to free clusters from.
 */
final class ParallelsCompact implements ImageCompactor {

    @Override
    public CompactResult compact(Image image, Disk parent, LongConsumer progress) throws IOException {
        if (image instanceof ParallelsImage file) {
            return file.compact(parent, 0, file.virtualSize(), progress);
        }
        BundleLayer layer = (BundleLayer) image;
        List<ParallelsImage> files = new ArrayList<>();
        for (BundleLayer.Part p : layer.parts()) {
            if (!(p.image() instanceof ParallelsImage file)) {
                throw new UnsupportedFeatureException("parallels: " + p.image().storage().path() + " (of "
                        + layer.descriptorPath() + ") is a plain image file; compact frees clusters of expanding"
                        + " image files only");
            }
            files.add(file);
        }
        long freed = 0;
        long moved = 0;
        for (int i = 0; i < files.size(); i++) {
            BundleLayer.Part p = layer.parts().get(i);
            CompactResult r = files.get(i).compact(parent, p.start(), p.end() - p.start(), progress);
            freed += r.blocksFreed();
            moved += r.blocksMoved();
        }
        return CompactResult.counts(files.get(0).clusterBytes(), freed, 0, moved);
    }
}
