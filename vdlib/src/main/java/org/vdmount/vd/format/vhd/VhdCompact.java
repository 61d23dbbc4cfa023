package org.vdmount.vd.format.vhd;

import java.io.IOException;
import java.util.function.LongConsumer;
import org.vdmount.vd.Disk;
import org.vdmount.vd.Image;
import org.vdmount.vd.UnsupportedFeatureException;
import org.vdmount.vd.compact.CompactResult;
import org.vdmount.vd.compact.ImageCompactor;

/**
 * {@code vd compact} of a dynamic or differencing VHD (VHD spec "Block Allocation Table"): every
 * block that is all zeros (dynamic) or reads as its parent (differencing) gets BAT entry
 * 0xFFFFFFFF; the last blocks (sector bitmap and data) move into the freed slots; the footer is
 * written at the new end and the file cut after it. The footer copy at offset 0 is not changed.
 * VHD has no zero state, so a differencing block of zeros over parent data stays. Fixed images
 * are refused.
 */
final class VhdCompact implements ImageCompactor {

    @Override
    public CompactResult compact(Image image, Disk parent, LongConsumer progress) throws IOException {
        if (!(image instanceof DynamicVhdImage dynamic)) {
            throw new UnsupportedFeatureException(VhdLayout.FMT + ": " + image.storage().path() + " is a fixed image;"
                    + " compact frees blocks of dynamic and differencing images only");
        }
        return dynamic.compact(parent, progress);
    }
}
