package org.vdmount.vd.format.qcow2;

import java.io.IOException;
import java.nio.ByteBuffer;
import org.vdmount.vd.Bytes;
import org.vdmount.vd.check.CheckReport;
import org.vdmount.vd.storage.Storage;

/**
 * The refcounts on disk against the references counted from the metadata ({@link ClusterCensus})
 * plus the refcount table and blocks themselves (qcow2.txt "Host cluster management"), for
 * {@link Qcow2Check}. Findings use qemu-img check's words: {@code ERROR cluster N refcount=A
 * reference=B} when the count is too low, {@code Leaked cluster N ...} when it is too high.
 */
final class RefcountComparison {
    /** Bits 9-63 of a refcount table entry hold the block's offset (qcow2.txt). */
    private static final long REFT_OFFSET_MASK = 0xffff_ffff_ffff_fe00L;

    private final Storage storage;
    private final Qcow2Header h;
    private final ClusterCensus census;
    private final CheckReport report;
    private final int clusterBits;
    private final long clusterSize;
    private final int blockShift;

    RefcountComparison(Storage storage, Qcow2Header h, ClusterCensus census, CheckReport report) {
        this.storage = storage;
        this.h = h;
        this.census = census;
        this.report = report;
        this.clusterBits = h.clusterBits();
        this.clusterSize = h.clusterSize();
        this.blockShift = clusterBits + 3 - h.refcountOrder();
    }

    /** Compares every cluster of the file; returns the image end offset (past the last referenced cluster). */
    long run() throws IOException {
        long fileSize = storage.size();
        long clusters = census.clusters();
        int[] structure = new int[(int) clusters];   // references from the refcount structure itself
        long tableOff = h.refcountTableOffset();
        long tableBytes = h.refcountTableClusters() * clusterSize;
        for (long c = tableOff >>> clusterBits; c < (tableOff + tableBytes + clusterSize - 1) >>> clusterBits; c++) {
            if (c < clusters) {
                structure[(int) c]++;
            }
        }
        ByteBuffer tableBuf = ByteBuffer.allocate((int) tableBytes);
        storage.readFully(tableBuf, tableOff, "qcow2", "refcount table");
        Bytes table = Bytes.of(tableBuf.array());
        long entries = tableBytes / 8;
        long[] blockAt = new long[(int) Math.min(entries, ((clusters - 1) >>> blockShift) + 1)];
        for (int bi = 0; bi < entries; bi++) {
            long off = table.u64be(bi * 8) & REFT_OFFSET_MASK;
            if (off == 0) {
                continue;
            }
            long at = tableOff + bi * 8L;
            if ((off & (clusterSize - 1)) != 0) {
                report.corruption("refcount", at, "ERROR refcount block " + bi + " is not cluster aligned (0x"
                        + Long.toHexString(off) + "); refcount table entry corrupted");
            } else if (off > fileSize - clusterSize) {
                report.corruption("refcount", at, "ERROR refcount block " + bi + " at 0x" + Long.toHexString(off)
                        + " is outside the image (" + fileSize + " bytes)");
            } else {
                structure[(int) (off >>> clusterBits)]++;
                if (bi < blockAt.length) {
                    blockAt[bi] = off;
                }
            }
        }
        int order = h.refcountOrder();
        byte[] block = new byte[(int) clusterSize];
        long perBlock = 1L << blockShift;
        long lastUsed = -1;
        for (int bi = 0; (long) bi * perBlock < clusters; bi++) {
            boolean readable = bi < blockAt.length && blockAt[bi] != 0;
            if (readable) {
                storage.readFully(ByteBuffer.wrap(block), blockAt[bi], "qcow2", "refcount block");
            }
            long first = bi * perBlock;
            for (long c = first; c < Math.min(clusters, first + perBlock); c++) {
                long was = readable ? Refcounts.entry(block, order, (int) (c - first)) : 0;
                long expected = census.count(c) + structure[(int) c];
                if (expected > 0) {
                    lastUsed = c;
                }
                if (was == expected) {
                    continue;
                }
                long where = readable ? blockAt[bi] + ((c - first) << order >>> 3) : -1;
                if (was < expected) {
                    report.corruption("refcount", where, "ERROR cluster " + c + " refcount=" + was + " reference="
                            + expected);
                } else {
                    report.leak("refcount", where, "Leaked cluster " + c + " refcount=" + was + " reference=" + expected);
                }
            }
        }
        return (lastUsed + 1) << clusterBits;
    }
}
