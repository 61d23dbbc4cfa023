package org.vdmount.vd.format.qcow;

import static org.vdmount.vd.Capability.*;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.List;
import org.vdmount.vd.Bytes;
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
 * QEMU copy-on-write version 1 images (the original "qcow"): read and write with backing files
 * (probed: version 1 records no backing format), compressed clusters; AES-encrypted images are
 * refused. Created like qemu-img does: 4 KiB clusters, 512-entry L2 tables. Compacted in place by
 * {@link org.vdmount.vd.format.common.ClusterMapCompactor}.
 */
public final class QcowFormat extends DeclaredFormat {
    static final int CREATE_CLUSTER_BITS = 12;
    static final int CREATE_L2_BITS = 9;

    public QcowFormat() {
        super("qcow", List.of("qcow"),
                reads(WRITE, CREATE, DIFFERENCING, DISCARD),
                List.of());
    }

    @Override
    public int probe(ProbeInput in) {
        return !in.directory() && QcowHeader.isVersion1(in.head()) ? 100 : 0;
    }

    @Override
    public Image open(Path path, OpenOptions options) throws IOException {
        return StorageScope.open(path, options, storage -> {
            long fileSize = storage.size();
            Bytes head = storage.readPrefix(QcowHeader.SIZE);
            if (head.size() < QcowHeader.SIZE && QcowHeader.isVersion1(head)) {
                throw new TruncatedImageException("qcow", path, "header", 0, QcowHeader.SIZE, fileSize);
            }
            QcowHeader h = QcowHeader.parse(head, path);
            h.validate(path, fileSize);
            ParentReference parent = null;
            if (h.backingFileOffset() != 0) {
                parent = new ParentReference(null, List.of(storage.readUtf8(h.backingFileOffset(),
                        (int) h.backingFileSize(), "qcow", "backing file name")), null);
            }
            long[] l1 = QcowImage.readTable(storage, h.l1TableOffset(), (int) h.l1Entries());
            int maxTables = TableCache.sizeFor(l1.length, Math.max(16, (32L << 20) >>> (h.l2Bits() + 3)));
            return new QcowImage(this, storage, h, l1, parent, options.readOnly(), maxTables);
        });
    }

    /**
     * {@code vd compact} (QEMU block/qcow.c; there is no written spec): data and compressed clusters
     * of zeros (base) or equal to the backing file get L2 entry 0; zeros over backing data stay, as
     * version 1 has no zero entry. Data clusters and L2 tables from the end move into cluster-aligned
     * holes, compressed clusters into byte gaps (QEMU writes them unaligned); the L1 table stays
     * right after the header; the file is cut. No refcounts: a crash leaves at worst unreferenced
     * bytes, which the next compaction drops.
     */
    @Override
    public java.util.Optional<org.vdmount.vd.compact.ImageCompactor> compactor() {
        return java.util.Optional.of(new org.vdmount.vd.format.common.ClusterMapCompactor());
    }

    /** No options (like qemu-img: 4 KiB clusters); a backing file via the parent. */
    @Override
    public Image createImage(Path path, CreateOptions options) throws IOException {
        long size = options.virtualSize();
        byte[] name = new byte[0];
        if (options.parent() != null) {
            if (options.parentPath() == null) {
                throw new UnsupportedFeatureException("qcow: a backing file needs its path");
            }
            name = options.parentPath().toString().getBytes(StandardCharsets.UTF_8);
            if (size == 0) {
                size = options.parent().size();
            }
        }
        if (name.length > 1023) {
            throw new UnsupportedFeatureException("qcow: backing file name longer than 1023 bytes");
        }
        size = (size + 511) & ~511L;
        long l1At = (QcowHeader.SIZE + name.length + 7) & ~7L;
        QcowHeader h = new QcowHeader(name.length == 0 ? 0 : QcowHeader.SIZE, name.length, 0, size,
                CREATE_CLUSTER_BITS, CREATE_L2_BITS, 0, l1At);
        long l1Bytes = h.l1Entries() * 8;
        if (size > 1L << 56 || l1Bytes > QcowHeader.MAX_L1_BYTES) {
            throw new UnsupportedFeatureException("qcow: virtual size " + size + " is too large for version 1");
        }
        byte[] backingName = name;
        StorageScope.write(path, fs -> {
            Bytes head = Bytes.allocate((int) l1At);
            h.write(head);
            head.putBytes(QcowHeader.SIZE, backingName);
            fs.write(head.buffer().duplicate().clear(), 0);
            fs.truncate(l1At + ((l1Bytes + 511) & ~511L));
        });
        return open(path, OpenOptions.defaultReadWrite());
    }
}
