package org.vdmount.mount;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.util.function.Consumer;
import org.vdmount.partitions.BlockSource;
import org.vdmount.partitions.PartitionTable;
import org.vdmount.vd.Disk;

/** The partition table of an opened disk, as both vdmount and {@code vd info} read it. */
public final class DiskPartitions {
    private DiskPartitions() {
    }

    /**
     * Reads the table through the chain. A container sector size of 512 may be a format's
     * default rather than a recorded fact, so the parser probes 512 and 4096 then; any other size
     * was recorded by the format and is used first.
     */
    public static PartitionTable read(Disk disk, Consumer<String> warnings) throws IOException {
        BlockSource source = new BlockSource() {
            @Override
            public long size() {
                return disk.size();
            }

            @Override
            public void read(long offset, ByteBuffer dst) throws IOException {
                disk.read(offset, dst);
            }
        };
        int sector = disk.logicalSectorSize();
        return PartitionTable.read(source, sector == 512 ? 0 : sector, warnings);
    }
}
