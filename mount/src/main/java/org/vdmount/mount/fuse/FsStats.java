package org.vdmount.mount.fuse;

/**
 * A binding-neutral statfs(2) answer.
 *
 * @param blockSizeBytes   f_bsize and f_frsize
 * @param totalBlocks      f_blocks, in blockSizeBytes units
 * @param freeBlocks       f_bfree and f_bavail
 * @param files            f_files
 * @param nameMax          f_namemax
 * @param readOnly         ST_RDONLY
 */
public record FsStats(long blockSizeBytes, long totalBlocks, long freeBlocks, long files, long nameMax,
                      boolean readOnly) {
}
