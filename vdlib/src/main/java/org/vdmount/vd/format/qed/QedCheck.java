package org.vdmount.vd.format.qed;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.file.Path;
import java.util.BitSet;
import org.vdmount.vd.Bytes;
import org.vdmount.vd.CorruptImageException;
import org.vdmount.vd.storage.Storage;

/**
 * The consistency check a QED image with the need-check bit gets before it is written
 * (qed_spec.rst "Consistency checking"): table and cluster offsets must be aligned, after the
 * header and inside the file (invalid ones are cleared, as QEMU's repair does: a crash between a
 * table update and the data reaching the disk leaves exactly such entries); a cluster referenced
 * twice is corruption and refused. Work and memory are bounded by the file size.
 */
final class QedCheck {
    private QedCheck() {
    }

    /** Checks and repairs in place ({@code l1} is updated); returns the number of entries cleared. */
    static int repair(Storage storage, QedHeader h, long[] l1) throws IOException {
        Path path = storage.path();
        long cs = h.clusterSizeBytes();
        long fileSize = storage.size();
        long headerEnd = h.headerSizeClusters() * cs;
        long tableBytes = h.tableBytes();
        BitSet used = new BitSet((int) Math.min(Integer.MAX_VALUE, fileSize / cs + 1));
        mark(used, 0, headerEnd, cs, path, 0);
        mark(used, h.l1TableOffset(), tableBytes, cs, path, h.l1TableOffset());
        int cleared = 0;
        ByteBuffer zero = ByteBuffer.allocate(8);
        for (int i = 0; i < l1.length; i++) {
            long t = l1[i];
            if (t == 0) {
                continue;
            }
            long at = h.l1TableOffset() + i * 8L;
            if ((t & (cs - 1)) != 0 || t < headerEnd || t > fileSize - tableBytes) {
                l1[i] = 0;
                storage.write(zero.clear(), at);
                cleared++;
                continue;
            }
            mark(used, t, tableBytes, cs, path, at);
            long[] table = QedImage.readTable(storage, t, h.tableEntries());
            for (int k = 0; k < table.length; k++) {
                long e = table[k];
                if (e <= QedImage.ZERO_CLUSTER) {
                    continue;
                }
                if ((e & (cs - 1)) != 0 || e < headerEnd || e >= fileSize) {
                    storage.write(zero.clear(), t + k * 8L);
                    cleared++;
                    continue;
                }
                mark(used, e, cs, cs, path, t + k * 8L);
            }
        }
        trimLeakedTail(storage, used, cs, fileSize);
        return cleared;
    }

    /**
     * Clusters are appended, data before the table entry that points to it: a crash in between
     * leaves clusters past the last referenced one, which QEMU's check reports as leaked. They are
     * cut off (the entries pointing there were cleared above).
     */
    private static void trimLeakedTail(Storage storage, BitSet used, long cs, long fileSize) throws IOException {
        long end = (long) used.length() * cs;
        if (end < fileSize) {
            storage.force(); // cleared entries reach the disk before the clusters they named go
            storage.truncate(end);
        }
    }

    private static void mark(BitSet used, long offset, long bytes, long cs, Path path, long at)
            throws CorruptImageException {
        for (long c = offset / cs; c < (offset + bytes + cs - 1) / cs; c++) {
            if (c < used.size() && used.get((int) c)) {
                throw new CorruptImageException("qed", path, "table", at, "cluster 0x" + Long.toHexString(c * cs)
                        + " is referenced twice; the image needs repair ('qemu-img check -r all')");
            }
            if (c < Integer.MAX_VALUE) {
                used.set((int) c);
            }
        }
    }

    static void writeFeatures(Storage storage, long features) throws IOException {
        ByteBuffer b = ByteBuffer.allocate(8);
        Bytes.of(b.array()).put64le(0, features);
        storage.write(b, QedHeader.OFF_FEATURES);
        storage.force();
    }
}
