package org.vdmount.vd.format.qed;

import static org.vdmount.vd.Capability.*;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.List;
import org.vdmount.vd.Bytes;
import org.vdmount.vd.CreateOption;
import org.vdmount.vd.CreateOptions;
import org.vdmount.vd.DeclaredFormat;
import org.vdmount.vd.Image;
import org.vdmount.vd.OpenOptions;
import org.vdmount.vd.ParentReference;
import org.vdmount.vd.ProbeInput;
import org.vdmount.vd.TruncatedImageException;
import org.vdmount.vd.UnsupportedFeatureException;
import org.vdmount.vd.storage.StorageScope;
import org.vdmount.vd.table.TableCache;

/**
 * QEMU Enhanced Disk images (docs/interop/qed_spec.rst): two-level tables, zero clusters, a
 * backing file (probed, or raw with the no-probe bit), the need-check bit honoured (read-only
 * opens warn; writable opens check and repair first).
 */
public final class QedFormat extends DeclaredFormat {
    /** System property: how many L2 tables to keep loaded (default: enough for 64 MiB). */
    static final String CACHE_PROPERTY = "vdmount.qed.table-cache-size";

    /** Cluster size: a power of two from 4K to 64M (QED spec: cluster_size). */
    static final CreateOption CLUSTER_SIZE = CreateOption.size("cluster_size", "64K",
            "cluster size, a power of two from 4K to 64M");
    /** Table size in clusters: a power of two from 1 to 16 (QED spec: table_size). */
    static final CreateOption TABLE_SIZE = CreateOption.number("table_size", "4",
            "L1/L2 table size in clusters, a power of two from 1 to 16");

    public QedFormat() {
        super("qed", List.of("qed"),
                reads(WRITE, CREATE, DIFFERENCING, DISCARD, ZERO_BLOCKS, REPAIR_ON_OPEN, RESIZE),
                List.of(CLUSTER_SIZE, TABLE_SIZE));
    }

    @Override
    public int probe(ProbeInput in) {
        return !in.directory() && QedHeader.hasMagic(in.head()) ? 100 : 0;
    }

    /** The header's image size, within the fixed L1 table's reach; see {@link QedResize}. */
    @Override
    public void resize(Image image, long newSize) throws IOException {
        QedResize.resize(image.storage(), newSize);
    }

    /**
     * {@code vd compact} (qed_spec.rst "Tables", "Cluster allocation"): data clusters of zeros
     * (base) or equal to the backing chain get L2 entry 0, zeros over backing data the zero entry 1;
     * clusters and L2 tables from the end move into the holes and the file is cut. QED has no
     * refcounts; the need-check bit is set for the whole run, so a crash leaves an image QEMU checks
     * on open (at worst with leaked clusters).
     */
    @Override
    public java.util.Optional<org.vdmount.vd.compact.ImageCompactor> compactor() {
        return java.util.Optional.of(new org.vdmount.vd.format.common.ClusterMapCompactor());
    }

    @Override
    public java.util.Optional<org.vdmount.vd.check.ImageChecker> checker() {
        return java.util.Optional.of(new QedChecker());
    }

    @Override
    public Image open(Path path, OpenOptions options) throws IOException {
        return StorageScope.open(path, options, storage -> {
            long fileSize = storage.size();
            Bytes head = storage.readPrefix(QedHeader.SIZE);
            if (head.size() < QedHeader.SIZE && QedHeader.hasMagic(head)) {
                throw new TruncatedImageException("qed", path, "header", 0, QedHeader.SIZE, fileSize);
            }
            QedHeader h = QedHeader.parse(head, path);
            h.validate(path, fileSize);
            ParentReference parent = null;
            if (h.hasBacking()) {
                String name = storage.readUtf8(h.backingNameOffset(), (int) h.backingNameSize(), "qed",
                        "backing file name");
                String hint = (h.features() & QedHeader.F_BACKING_NO_PROBE) != 0 ? "raw" : null;
                parent = new ParentReference(null, List.of(name), hint);
            }
            long[] l1 = QedImage.readTable(storage, h.l1TableOffset(), h.tableEntries());
            if ((h.features() & QedHeader.F_NEED_CHECK) != 0) {
                if (options.readOnly()) {
                    options.warn("qed: " + path + " was not closed cleanly (need-check bit set); reading it "
                            + "unchecked");
                } else {
                    int fixed = QedCheck.repair(storage, h, l1);
                    storage.force();
                    QedCheck.writeFeatures(storage, h.features() & ~QedHeader.F_NEED_CHECK);
                    h = new QedHeader(h.clusterSizeBytes(), h.tableSizeClusters(), h.headerSizeClusters(),
                            h.features() & ~QedHeader.F_NEED_CHECK, h.compatFeatures(), h.autoclearFeatures(),
                            h.l1TableOffset(), h.imageSizeBytes(), h.backingNameOffset(), h.backingNameSize());
                    if (fixed > 0) {
                        options.warn("qed: " + path + ": consistency check cleared " + fixed + " invalid entries");
                    }
                }
            }
            if (!options.readOnly() && h.autoclearFeatures() != 0) {
                ByteBuffer z = ByteBuffer.allocate(8);
                storage.write(z, 0x20); // unknown autoclear bits are cleared before writing
            }
            String prop = System.getProperty(CACHE_PROPERTY);
            int maxTables = TableCache.sizeFor(l1.length, prop != null ? Integer.parseInt(prop)
                    : Math.max(4, (64L << 20) / h.tableBytes()));
            return new QedImage(this, storage, h, l1, parent, options.readOnly(), maxTables);
        });
    }

    @Override
    public Image createImage(Path path, CreateOptions options) throws IOException {
        long cs = options.size(CLUSTER_SIZE);
        long ts = options.number(TABLE_SIZE);
        long size = options.virtualSize();
        String backing = null;
        long features = 0;
        if (options.parent() != null) {
            if (options.parentPath() == null) {
                throw new UnsupportedFeatureException("qed: a backing file needs its path");
            }
            backing = options.parentPath().toString();
            features |= QedHeader.F_BACKING_FILE;
            if ("raw".equals(options.parent().top().format().name())) {
                features |= QedHeader.F_BACKING_NO_PROBE;
            }
            if (size == 0) {
                size = options.parent().size();
            }
        }
        size = (size + 511) & ~511L;
        byte[] name = backing == null ? new byte[0] : backing.getBytes(StandardCharsets.UTF_8);
        QedHeader h = new QedHeader(cs, ts, 1, features, 0, 0, cs, size, backing == null ? 0 : QedHeader.SIZE,
                name.length);
        if (Long.bitCount(cs) != 1 || cs < 4096 || cs > 64L << 20 || Long.bitCount(ts) != 1 || ts > 16) {
            throw new UnsupportedFeatureException("qed: cluster_size must be a power of two from 4K to 64M and "
                    + "table_size a power of two from 1 to 16");
        }
        if (name.length > 1023 || QedHeader.SIZE + name.length > cs) {
            throw new UnsupportedFeatureException("qed: backing file name too long");
        }
        try {
            h.validate(path, cs + h.tableBytes());
        } catch (IOException e) {
            throw new UnsupportedFeatureException("qed: cannot create " + size + " bytes with these options: "
                    + e.getMessage());
        }
        StorageScope.write(path, fs -> {
            Bytes first = Bytes.allocate((int) cs);
            h.write(first);
            first.putBytes(QedHeader.SIZE, name);
            fs.write(first.buffer().duplicate().clear(), 0);
            fs.truncate(cs + h.tableBytes());
        });
        return open(path, OpenOptions.defaultReadWrite());
    }
}
