package org.vdmount.vd.format.qcow2;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.util.concurrent.locks.ReentrantLock;
import org.vdmount.vd.Bytes;
import org.vdmount.vd.UnsupportedFeatureException;

/**
 * A new virtual size for a qcow2 image (qcow2.txt "Header": size at 0x18, l1_size at 0x24,
 * l1_table_offset at 0x28; qemu's qcow2_co_truncate). The L1 table must reach the new size: when
 * its clusters already hold enough entries the new ones are zeroed in place; otherwise the table
 * moves to new clusters (refcounted first, written, then the header points at them, then the old
 * clusters are released). The three header fields change in one write of 24 bytes inside the
 * first sector, the commit point; with version 3 the dirty bit brackets the refcount changes so a
 * kill leaves at most leaked clusters that the next writable open reclaims. Shrinking keeps the
 * table (a larger l1_size is valid) and writes the size only; {@code ImageResize} has made sure no
 * data lies past the new end. Internal snapshots keep their own L1 tables and sizes.
 */
final class Qcow2Resize {
    private static final int OFF_SIZE = 0x18;
    private static final int SIZE_TO_L1_OFFSET_END = 0x30 - OFF_SIZE; // size, crypt_method, l1_size, l1_table_offset

    private Qcow2Resize() {
    }

    static void resize(Qcow2Image img, long newSize) throws IOException {
        Qcow2Header h = img.header;
        if (img.writer == null) {
            throw new org.vdmount.vd.ReadOnlyException("qcow2: " + img.path + " is opened read-only");
        }
        if (img.externalData) {
            throw new UnsupportedFeatureException("resize is not supported by qcow2 with an external data file: "
                    + img.path);
        }
        if (h.cryptMethod() != 0) {
            throw new UnsupportedFeatureException("resize is not supported by encrypted qcow2: " + img.path);
        }
        if (newSize > Qcow2Header.MAX_VIRTUAL_SIZE) {
            throw new UnsupportedFeatureException("qcow2: " + newSize + " bytes is larger than the "
                    + Qcow2Header.MAX_VIRTUAL_SIZE + " a qcow2 image can address: " + img.path);
        }
        if (newSize < h.virtualSizeBytes() && !img.snapshots.isEmpty()) {
            throw new UnsupportedFeatureException("qcow2: cannot shrink " + img.path + ": it has "
                    + img.snapshots.size() + " internal snapshot(s) (as qemu-img, which refuses it too)");
        }
        long need = Math.max(h.l1EntriesFor(newSize), img.l1.length);
        if (need * 8 > Qcow2Header.MAX_L1_BYTES) {
            throw new UnsupportedFeatureException("qcow2: " + newSize + " bytes needs an L1 table of " + need * 8
                    + " bytes, more than the " + Qcow2Header.MAX_L1_BYTES + " qemu accepts: " + img.path);
        }
        Qcow2Writer w = img.writer;
        ReentrantLock lock = w.allocLock();
        lock.lock();
        try {
            w.flush();
            w.prepare();
            long oldEntries = img.l1.length;
            long cs = img.clusterSize;
            long held = (oldEntries * 8 + cs - 1) / cs * cs; // bytes of the clusters the table occupies
            if (need == oldEntries) {
                writeHeader(img, newSize, need, img.l1Offset);
            } else if (oldEntries > 0 && need * 8 <= held) {
                img.storage().writeZeros(img.l1Offset + oldEntries * 8, (need - oldEntries) * 8);
                img.storage().force();
                writeHeader(img, newSize, need, img.l1Offset);
            } else {
                moveL1(img, w, newSize, need);
            }
        } finally {
            lock.unlock();
        }
    }

    /** The table in new clusters past the end, through {@link Qcow2Writer#switchL1}. */
    private static void moveL1(Qcow2Image img, Qcow2Writer w, long newSize, long need) throws IOException {
        long cs = img.clusterSize;
        int clusters = (int) ((need * 8 + cs - 1) / cs);
        w.markDirty(true);
        long start = w.refcounts().allocateRun(clusters);
        w.switchL1(start, clusters, newSize, need);
    }

    /** size, crypt_method (unchanged), l1_size and l1_table_offset in one write, then forced. */
    static void writeHeader(Qcow2Image img, long newSize, long l1Entries, long l1Offset) throws IOException {
        ByteBuffer buf = ByteBuffer.allocate(SIZE_TO_L1_OFFSET_END);
        Bytes b = Bytes.of(buf.array());
        b.put64be(0, newSize);
        b.put32be(8, (int) img.header.cryptMethod());
        b.put32be(12, (int) l1Entries);
        b.put64be(16, l1Offset);
        img.storage().write(buf, OFF_SIZE);
        img.storage().force();
    }
}
