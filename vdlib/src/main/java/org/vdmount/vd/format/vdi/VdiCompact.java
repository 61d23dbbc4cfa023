package org.vdmount.vd.format.vdi;

import java.io.IOException;
import java.util.function.LongConsumer;
import org.vdmount.vd.Disk;
import org.vdmount.vd.Image;
import org.vdmount.vd.compact.CompactResult;
import org.vdmount.vd.compact.ImageCompactor;

/**
 * {@code vd compact} of a VDI (VirtualBox's vdiCompact): every block map entry whose block is all
 * zeros (base) or equals the parent (differencing) becomes VDI_IMAGE_BLOCK_FREE, a differencing
 * block of zeros over a non-zero parent VDI_IMAGE_BLOCK_ZERO; the last slots move into the holes
 * ({@link VdiAllocator#packSlots}), the header's cBlocksAllocated drops to the blocks left and the
 * file is cut after the last slot. Fixed images are refused (their slots are the disk).
 */
final class VdiCompact implements ImageCompactor {

    @Override
    public CompactResult compact(Image image, Disk parent, LongConsumer progress) throws IOException {
        return ((VdiImage) image).compact(parent, progress);
    }
}
