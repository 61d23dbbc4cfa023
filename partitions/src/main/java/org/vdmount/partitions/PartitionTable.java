package org.vdmount.partitions;

import java.io.IOException;
import java.util.List;
import java.util.function.Consumer;

/**
 * The partitions found on a disk.
 *
 * @param scheme     the scheme found (NONE when there is no valid table)
 * @param sectorSize the sector size the table was read with (512 or 4096)
 * @param partitions valid partitions, ordered by number
 */
public record PartitionTable(Scheme scheme, int sectorSize, List<Partition> partitions) {

    public PartitionTable {
        partitions = List.copyOf(partitions);
    }

    /**
     * Reads the partition table of a disk. Never throws for bad tables: garbage yields
     * {@link Scheme#NONE} and problems go to {@code warnings}; only I/O errors of the source throw.
     *
     * @param logicalSectorSize the disk's sector size if the container knows it, 0 to probe
     */
    public static PartitionTable read(BlockSource disk, int logicalSectorSize, Consumer<String> warnings)
            throws IOException {
        return new PartitionTable(Scheme.NONE, logicalSectorSize == 0 ? 512 : logicalSectorSize, List.of());
    }
}
