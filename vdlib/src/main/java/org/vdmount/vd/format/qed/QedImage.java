package org.vdmount.vd.format.qed;

import java.io.IOException;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.Set;
import org.vdmount.vd.Bytes;
import org.vdmount.vd.CorruptImageException;
import org.vdmount.vd.ImageFormat;
import org.vdmount.vd.MetadataEdit;
import org.vdmount.vd.MetadataField;
import org.vdmount.vd.ParentReference;
import org.vdmount.vd.TruncatedImageException;
import org.vdmount.vd.UnsupportedFeatureException;
import org.vdmount.vd.format.common.ClusterMapImage;
import org.vdmount.vd.storage.Storage;
import org.vdmount.vd.table.Tables;

/**
 * One opened QED layer: L1 → L2 → clusters ({@link ClusterMapImage}), little-endian tables, entry 1
 * = zero cluster. The need-check bit is set in the header before the first metadata change and
 * cleared by {@link #flush} once everything is forced (qed_spec.rst "Consistency checking").
 */
final class QedImage extends ClusterMapImage {
    static final long ZERO_CLUSTER = 1;

    private volatile QedHeader header;  // replaced by a backing file change (under alloc)
    private boolean needCheckSet;       // we set the need-check bit and have not cleared it (under alloc)

    QedImage(ImageFormat format, Storage storage, QedHeader header, long[] l1, ParentReference parent,
             boolean readOnly, int maxTables) throws IOException {
        super(format, storage, readOnly, layout(header), l1, parent, maxTables);
        this.header = header;
    }

    /** Little-endian tables, entry 1 = zero cluster, data clusters cluster-aligned after the header. */
    private static Layout layout(QedHeader h) {
        long cs = h.clusterSizeBytes();
        return new Layout(h.imageSizeBytes(), Long.numberOfTrailingZeros(cs),
                Integer.numberOfTrailingZeros(h.tableEntries()), h.l1TableOffset(), ByteOrder.LITTLE_ENDIAN,
                ZERO_CLUSTER, h.headerSizeClusters() * cs, cs);
    }

    static long[] readTable(Storage storage, long offset, int entries) throws IOException {
        return Tables.readU64s(storage, offset, entries, ByteOrder.LITTLE_ENDIAN, "qed", "table");
    }

    @Override
    protected void checkTableOffset(long off, long at, long size) throws IOException {
        if ((off & (clusterSize - 1)) != 0 || off < header.headerSizeClusters() * clusterSize) {
            throw new CorruptImageException("qed", storage.path(), "L1 table", at, "table offset 0x"
                    + Long.toHexString(off) + " is not a cluster-aligned position after the header");
        }
        if (off > size - header.tableBytes()) {
            throw new TruncatedImageException("qed", storage.path(), "L2 table", off, header.tableBytes(), size);
        }
    }

    @Override
    protected void beforeMetadataChange() throws IOException {
        if (!needCheckSet) {
            QedCheck.writeFeatures(storage, header.features() | QedHeader.F_NEED_CHECK);
            needCheckSet = true;
        }
    }

    @Override
    protected void flushWritable() throws IOException {
        alloc.lock();
        try {
            storage.force();
            if (needCheckSet) {
                QedCheck.writeFeatures(storage, header.features() & ~QedHeader.F_NEED_CHECK);
                needCheckSet = false;
            }
        } finally {
            alloc.unlock();
        }
    }

    /** QED records no identity; only the backing file (qed_spec.rst "Header": name, features). */
    @Override
    public Set<MetadataField> editableFields() {
        return Set.of(MetadataField.BACKING);
    }

    @Override
    public void checkEdit(MetadataEdit edit) throws IOException {
        edit.checkSupported(this);
        changed(edit.backing());
    }

    /**
     * Flushes, then writes the fixed header and the backing file name behind it in one write,
     * forced: the backing file bit (and the no-probe bit for a raw backing file, as QEMU sets it),
     * the name's offset (just after the header, 0x40) and size.
     */
    @Override
    public void edit(MetadataEdit edit) throws IOException {
        checkEdit(edit);
        flush();
        alloc.lock();
        try {
            QedHeader h = changed(edit.backing());
            byte[] name = edit.backing().recorded().getBytes(StandardCharsets.UTF_8);
            int end = (int) Math.max(QedHeader.SIZE + name.length, header.backingNameOffset() == QedHeader.SIZE
                    ? QedHeader.SIZE + header.backingNameSize() : QedHeader.SIZE);
            Bytes b = Bytes.allocate(end);
            h.write(b);
            b.putBytes(QedHeader.SIZE, name);
            storage.write(b.buffer(), 0);
            storage.force();
            header = h;
        } finally {
            alloc.unlock();
        }
    }

    private QedHeader changed(MetadataEdit.Backing backing) throws UnsupportedFeatureException {
        byte[] name = backing.recorded().getBytes(StandardCharsets.UTF_8);
        long room = header.headerSizeClusters() * clusterSize - QedHeader.SIZE;
        if (name.length > Math.min(1023, room)) {
            throw new UnsupportedFeatureException("qed: " + storage.path() + ": backing file name of " + name.length
                    + " bytes does not fit the header (" + Math.min(1023, room) + " bytes)");
        }
        long features = header.features() & ~(QedHeader.F_BACKING_FILE | QedHeader.F_BACKING_NO_PROBE);
        if (!backing.none()) {
            features |= QedHeader.F_BACKING_FILE;
            if ("raw".equals(backing.formatName())) {
                features |= QedHeader.F_BACKING_NO_PROBE;
            }
        }
        QedHeader h = header;
        return new QedHeader(h.clusterSizeBytes(), h.tableSizeClusters(), h.headerSizeClusters(), features,
                h.compatFeatures(), h.autoclearFeatures(), h.l1TableOffset(), h.imageSizeBytes(),
                backing.none() ? 0 : QedHeader.SIZE, name.length);
    }

    @Override
    public Map<String, Object> details() {
        Map<String, Object> m = new LinkedHashMap<>();
        m.put("cluster_size", clusterSize);
        m.put("table_size", header.tableSizeClusters());
        m.put("need_check", (header.features() & QedHeader.F_NEED_CHECK) != 0);
        if (parent != null) {
            m.put("backing_file", parent.locators().get(0));
            if (parent.formatHint() != null) {
                m.put("backing_format", parent.formatHint());
            }
        }
        return m;
    }
}
