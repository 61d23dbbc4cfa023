package org.vdmount.vd.compact;

/**
 * What a compaction did: blocks freed (now read from the parent, or zeros in a base image), blocks
 * turned into the zero marker (differencing images: zeros that hide a non-zero parent), blocks
 * moved into holes, the file sizes before and after, and the host space the files occupy before
 * and after (st_blocks; a raw file keeps its size and gives back only space), all files of the image.
 */
public record CompactResult(long blockSizeBytes, long blocksFreed, long blocksZeroed, long blocksMoved,
                            long fileBytesBefore, long fileBytesAfter, long hostBytesBefore, long hostBytesAfter) {

    /** The counts of a format's compactor, before the file sizes are known. */
    public static CompactResult counts(long blockSizeBytes, long freed, long zeroed, long moved) {
        return new CompactResult(blockSizeBytes, freed, zeroed, moved, -1, -1, -1, -1);
    }

    CompactResult withSizes(long before, long after, long hostBefore, long hostAfter) {
        return new CompactResult(blockSizeBytes, blocksFreed, blocksZeroed, blocksMoved, before, after,
                hostBefore, hostAfter);
    }
}
