package org.vdmount.partitions;

import java.io.IOException;
import java.util.ArrayList;
import java.util.List;
import java.util.function.Consumer;

/**
 * Apple Partition Map (libvsapm; Linux block/partitions/mac.c): the driver descriptor ("ER") in block
 * 0 gives the block size (512 when it is not a power of two in [512, 4096]); map entries ("PM") follow,
 * one per block from block 1, their count taken from the first entry. Partitions keep their map index
 * as number (Linux numbering). Listed are the entries {@code mmls -a} lists: the map's own entry
 * (Apple_partition_map, number 1 as in Linux) is a partition, free space (Apple_Free) is not. The map is read up to
 * {@value #MAX_ENTRIES} entries and never past the disk or the first block without "PM".
 */
final class ApmReader {
    static final int MAX_ENTRIES = 1024;

    private ApmReader() {
    }

    /** The APM of {@code disk}, or null when block 0 is no driver descriptor followed by a map. */
    static PartitionTable read(DiskReader disk, Consumer<String> warn) throws IOException {
        byte[] block0 = disk.read(0, ApmDriverDescriptor.SIZE);
        ApmDriverDescriptor ddr = block0 == null ? null : ApmDriverDescriptor.parse(block0);
        if (ddr == null) {
            return null;
        }
        int blockSize = ddr.blockSizeBytes();
        if (blockSize < 512 || blockSize > 4096 || Integer.bitCount(blockSize) != 1) {
            warn.accept("apm: driver descriptor block size " + blockSize + " invalid; using 512");
            blockSize = 512;
        }
        ApmEntry first = entry(disk, blockSize, 1);
        if (first == null && blockSize != 512 && entry(disk, 512, 1) != null) {
            warn.accept("apm: no map entry at block 1 of " + blockSize + " bytes, but one at 512 bytes; using 512");
            blockSize = 512;
            first = entry(disk, blockSize, 1);
        }
        if (first == null) {
            return null; // "ER" alone is two bytes of boot code as often as it is a descriptor
        }
        long count = first.mapEntries();
        long fit = disk.sizeBytes() / blockSize - 1;
        long limit = Math.min(Math.min(count, MAX_ENTRIES), fit);
        if (limit < count) {
            warn.accept("apm: map claims " + count + " entries; reading at most " + limit);
        }
        List<ApmEntry> map = new ArrayList<>();
        map.add(first);
        for (int i = 2; i <= limit; i++) {
            ApmEntry e = entry(disk, blockSize, i);
            if (e == null) {
                warn.accept("apm: map entry " + i + " has no \"PM\" signature; map ends there");
                break;
            }
            map.add(e);
        }
        long diskBlocks = disk.sizeBytes() / blockSize;
        List<Partition> partitions = new ArrayList<>();
        for (int i = 1; i <= map.size(); i++) {
            ApmEntry e = map.get(i - 1);
            if (e.isFree() || e.blockCount() == 0) {
                continue;
            }
            long end = e.startBlock() + e.blockCount();
            // blocks [1, map.size()] hold the map; only the map's own entry may cover them
            boolean overlapsMap = e.isMap() ? e.startBlock() != 1 : e.startBlock() <= map.size();
            if (overlapsMap || end > diskBlocks) {
                warn.accept("apm: entry " + i + " (" + e.type() + ") [" + e.startBlock() + ", " + end
                        + ") overlaps the descriptor or map, or passes the disk's " + diskBlocks + " blocks; dropped");
                continue;
            }
            partitions.add(new Partition(i, e.startBlock() * blockSize, e.blockCount() * blockSize, Scheme.APM,
                    e.type(), TypeNames.apm(e.type()), e.name(), "", (e.statusFlags() & ApmEntry.STATUS_BOOTABLE) != 0));
        }
        return new PartitionTable(Scheme.APM, blockSize, partitions);
    }

    private static ApmEntry entry(DiskReader disk, int blockSize, long index) throws IOException {
        byte[] block = disk.read(index * blockSize, ApmEntry.SIZE);
        return block == null ? null : ApmEntry.parse(block);
    }
}
