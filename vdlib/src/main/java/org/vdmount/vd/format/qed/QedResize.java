package org.vdmount.vd.format.qed;

import java.io.IOException;
import java.nio.ByteBuffer;
import org.vdmount.vd.Bytes;
import org.vdmount.vd.UnsupportedFeatureException;
import org.vdmount.vd.storage.Storage;

/**
 * A new virtual size for a QED image (qed_spec.rst "Header": image_size at 0x30). The L1 table
 * has a fixed size ({@code table_size} clusters), so an image can reach at most
 * {@code (table entries)^2 * cluster_size} bytes: a size within that reach is one 8-byte write
 * of the header, a larger one is refused naming the limit. Shrinking writes the size only (tables
 * past the end stay, unused; the caller has checked that only zeros are cut).
 */
final class QedResize {
    private static final int OFF_IMAGE_SIZE = 0x30;

    private QedResize() {
    }

    static void resize(Storage storage, long newSize) throws IOException {
        QedHeader h = QedHeader.parse(storage.readPrefix(QedHeader.SIZE), storage.path());
        long entries = h.tableBytes() / 8;
        long reach = Math.multiplyHigh(entries * entries, h.clusterSizeBytes()) != 0 ? Long.MAX_VALUE
                : entries * entries * h.clusterSizeBytes();
        if (newSize > reach) {
            throw new UnsupportedFeatureException("qed: " + storage.path() + " cannot grow to " + newSize
                    + " bytes: its L1 table of " + entries + " entries reaches " + reach + " bytes ("
                    + h.tableSizeClusters() + " table clusters of " + h.clusterSizeBytes() + " bytes); "
                    + "convert it to a new image instead");
        }
        ByteBuffer b = ByteBuffer.allocate(8);
        Bytes.of(b.array()).put64le(0, newSize);
        storage.write(b, OFF_IMAGE_SIZE);
        storage.force();
    }
}
