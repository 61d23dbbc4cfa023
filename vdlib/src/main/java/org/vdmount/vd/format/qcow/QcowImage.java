package org.vdmount.vd.format.qcow;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.zip.DataFormatException;
import java.util.zip.Inflater;
import org.vdmount.vd.CorruptImageException;
import org.vdmount.vd.ImageFormat;
import org.vdmount.vd.ParentReference;
import org.vdmount.vd.format.common.ClusterMapImage;
import org.vdmount.vd.storage.Storage;
import org.vdmount.vd.table.Tables;

/**
 * One opened QCOW version 1 layer: L1 → L2 → clusters ({@link ClusterMapImage}), big-endian
 * tables, compressed clusters (bit 63, exact byte size in the next {@code cluster_bits} bits, raw
 * deflate), no refcounts, no zero clusters.
 */
final class QcowImage extends ClusterMapImage {
    private static final long COMPRESSED = 1L << 63;

    private final QcowHeader header;
    private final ThreadLocal<Decompressed> decompressed;
    /** Moves of compressed clusters (compaction): an entry seen before may now name other bytes. */
    private final java.util.concurrent.atomic.AtomicLong epoch = new java.util.concurrent.atomic.AtomicLong();

    /** Per-thread inflater and the last cluster it produced. */
    private static final class Decompressed {
        final Inflater inflater = new Inflater(true);
        final byte[] input;
        final byte[] output;
        long entry = -1;
        long epoch;

        Decompressed(int clusterSize) {
            input = new byte[clusterSize];
            output = new byte[clusterSize];
        }
    }

    QcowImage(ImageFormat format, Storage storage, QcowHeader header, long[] l1, ParentReference parent,
              boolean readOnly, int maxTables) throws IOException {
        super(format, storage, readOnly, layout(header), l1, parent, maxTables);
        this.header = header;
        int cs = (int) clusterSize;
        this.decompressed = ThreadLocal.withInitial(() -> new Decompressed(cs));
    }

    /** Big-endian tables, no zero entry, data clusters sector-aligned after the header. */
    private static Layout layout(QcowHeader h) {
        return new Layout(h.virtualSizeBytes(), h.clusterBits(), h.l2Bits(), h.l1TableOffset(), ByteOrder.BIG_ENDIAN,
                0, QcowHeader.SIZE, 512);
    }

    static long[] readTable(Storage storage, long offset, int entries) throws IOException {
        return Tables.readU64s(storage, offset, entries, ByteOrder.BIG_ENDIAN, "qcow", "table");
    }

    @Override
    protected void checkTableOffset(long off, long at, long size) throws CorruptImageException {
        if (off < QcowHeader.SIZE || off > size - (8L << header.l2Bits())) {
            throw new CorruptImageException("qcow", storage.path(), "L1 table", at,
                    "L2 table offset 0x" + Long.toHexString(off) + " lies outside the file of " + size + " bytes");
        }
    }

    @Override
    protected boolean compressed(long e) {
        return (e & COMPRESSED) != 0;
    }

    /** Bits 0..62-cluster_bits of a compressed entry: the byte offset (block/qcow.c). */
    @Override
    protected long compressedOffset(long e) {
        return e & ((1L << (63 - header.clusterBits())) - 1);
    }

    /** The cluster_bits bits above the offset: the exact size in bytes (block/qcow.c). */
    @Override
    protected long compressedLength(long e) {
        return (e >>> (63 - header.clusterBits())) & (clusterSize - 1);
    }

    /** The same size and flag, the new offset; cached clusters decompressed before are dropped. */
    @Override
    protected long compressedAt(long e, long hostOffset) {
        long moved = (e & ~((1L << (63 - header.clusterBits())) - 1)) | hostOffset;
        if (compressedOffset(moved) != hostOffset) {
            throw new IllegalArgumentException("qcow: offset 0x" + Long.toHexString(hostOffset)
                    + " does not fit a compressed entry");
        }
        epoch.incrementAndGet();
        return moved;
    }

    /** The header and the backing file name QEMU writes right after it. */
    @Override
    protected long headerEnd() {
        return Math.max(QcowHeader.SIZE, header.backingFileOffset() + header.backingFileSize());
    }

    /** The decompressed cluster of a compressed entry, in this thread's buffer. */
    @Override
    protected byte[] decompress(long e) throws IOException {
        Decompressed d = decompressed.get();
        long now = epoch.get();
        if (d.entry == e && d.epoch == now) {
            return d.output;
        }
        d.entry = -1;
        long off = compressedOffset(e);
        int len = (int) compressedLength(e);
        long size = storage.size();
        if (off < QcowHeader.SIZE || off >= size || len == 0) {
            throw new CorruptImageException("qcow", storage.path(), "compressed cluster", off, "offset or size "
                    + len + " outside the file of " + size + " bytes");
        }
        int n = storage.read(ByteBuffer.wrap(d.input, 0, len), off);
        d.inflater.reset();
        d.inflater.setInput(d.input, 0, n);
        int got = 0;
        try {
            while (got < d.output.length) {
                int k = d.inflater.inflate(d.output, got, d.output.length - got);
                if (k == 0 && (d.inflater.finished() || d.inflater.needsInput() || d.inflater.needsDictionary())) {
                    break;
                }
                got += k;
            }
        } catch (DataFormatException ex) {
            got = -1;
        }
        if (got != d.output.length) {
            throw new CorruptImageException("qcow", storage.path(), "compressed cluster", off, "deflate data of "
                    + len + " bytes does not decompress to one cluster of " + clusterSize + " bytes");
        }
        d.entry = e;
        d.epoch = now;
        return d.output;
    }

    @Override
    public Map<String, Object> details() {
        Map<String, Object> m = new LinkedHashMap<>();
        m.put("cluster_size", clusterSize);
        m.put("l2_entries", 1 << header.l2Bits());
        if (parent != null) {
            m.put("backing_file", parent.locators().get(0));
        }
        return m;
    }
}
