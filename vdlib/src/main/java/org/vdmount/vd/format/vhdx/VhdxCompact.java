package org.vdmount.vd.format.vhdx;

import java.io.IOException;
import java.util.function.LongConsumer;
import org.vdmount.vd.Disk;
import org.vdmount.vd.Image;
import org.vdmount.vd.compact.CompactResult;
import org.vdmount.vd.compact.ImageCompactor;

/**
 * {@code vd compact} of a dynamic or differencing VHDX (MS-VHDX 2.5 "BAT"): a payload block of
 * zeros becomes PAYLOAD_BLOCK_ZERO (base), one that reads as the parent PAYLOAD_BLOCK_NOT_PRESENT
 * and one of zeros over parent data PAYLOAD_BLOCK_ZERO (differencing); the last payload blocks
 * move into the freed space; every BAT change goes through the log (MS-VHDX 2.3); the file is cut
 * after the log is ended. Sector bitmap blocks, the log and the regions stay where they are. Fixed
 * images are refused.
 */
final class VhdxCompact implements ImageCompactor {

    @Override
    public CompactResult compact(Image image, Disk parent, LongConsumer progress) throws IOException {
        return ((VhdxImage) image).compact(parent, progress);
    }
}
