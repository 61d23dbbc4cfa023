package org.vdmount.vd.inspect;

import java.io.IOException;
import org.vdmount.vd.Disk;

/**
 * The space a conversion needs, as {@code qemu-img measure} computes it: "required" for the data a
 * chain holds, "fully allocated" for every byte. qcow2 follows QEMU's worst-case metadata sizing
 * (qcow2.txt: one header cluster, L2 tables covering the whole disk, the L1 table, and refcount
 * blocks and table covering all of it, themselves included); raw needs the virtual size.
 */
public final class Measure {
    private static final int L1_ENTRY = 8;
    private static final int REFTABLE_ENTRY = 8;

    /** Both answers, in bytes. */
    public record Sizes(long required, long fullyAllocated) {
    }

    private Measure() {
    }

    /** raw: every byte of the disk, allocated or not. */
    public static Sizes raw(long virtualSize) {
        return new Sizes(virtualSize, virtualSize);
    }

    /**
     * qcow2 with the given geometry over {@code disk} (null: an empty disk of {@code virtualSize}):
     * the data clusters the chain's data runs touch (runs that read as zeros need none) plus the
     * metadata of a fully allocated image.
     */
    public static Sizes qcow2(Disk disk, long virtualSize, long clusterSize, int refcountOrder, boolean extendedL2)
            throws IOException {
        long size = disk == null ? virtualSize : disk.size();
        long[] data = {0};
        if (disk != null) {
            long[] lastCluster = {-1};
            ChainMap.walk(disk, e -> {
                if (!e.data()) {
                    return;
                }
                long first = Math.max(e.start() / clusterSize, lastCluster[0] + 1);
                long last = (e.start() + e.length() - 1) / clusterSize;
                if (last >= first) {
                    data[0] += (last - first + 1) * clusterSize;
                    lastCluster[0] = last;
                }
            });
        }
        long aligned = roundUp(size, clusterSize);
        long full = qcow2Prealloc(aligned, clusterSize, refcountOrder, extendedL2);
        return new Sizes(full - aligned + data[0], full);
    }

    /** Header, L2 tables, L1 table, refcount structure and data of a fully allocated qcow2. */
    static long qcow2Prealloc(long alignedSize, long clusterSize, int refcountOrder, boolean extendedL2) {
        int l2Entry = extendedL2 ? 16 : 8;
        long meta = clusterSize;
        long l2Entries = roundUp(alignedSize / clusterSize, clusterSize / l2Entry);
        meta += l2Entries * l2Entry;
        long l1Entries = roundUp(l2Entries * l2Entry / clusterSize, clusterSize / L1_ENTRY);
        meta += l1Entries * L1_ENTRY;
        meta += refcountMetadata((meta + alignedSize) / clusterSize, clusterSize, refcountOrder);
        return meta + alignedSize;
    }

    /** Refcount blocks and table clusters covering {@code clusters} clusters and themselves. */
    static long refcountMetadata(long clusters, long clusterSize, int refcountOrder) {
        long perBlock = clusterSize * 8 / (1L << refcountOrder);
        long perTableCluster = clusterSize / REFTABLE_ENTRY;
        long table = 0;
        long blocks = 0;
        long n = 0;
        long last;
        do {
            last = n;
            blocks = divRoundUp(clusters + table + blocks, perBlock);
            table = divRoundUp(blocks, perTableCluster);
            n = clusters + blocks + table;
        } while (n != last);
        return (blocks + table) * clusterSize;
    }

    private static long roundUp(long v, long unit) {
        return divRoundUp(v, unit) * unit;
    }

    private static long divRoundUp(long v, long unit) {
        return (v + unit - 1) / unit;
    }
}
