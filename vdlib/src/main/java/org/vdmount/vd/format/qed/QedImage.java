package org.vdmount.vd.format.qed;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.UUID;
import java.util.concurrent.locks.ReentrantLock;
import org.vdmount.vd.Bytes;
import org.vdmount.vd.CorruptImageException;
import org.vdmount.vd.Image;
import org.vdmount.vd.ImageFormat;
import org.vdmount.vd.ParentReference;
import org.vdmount.vd.ReadOnlyException;
import org.vdmount.vd.Run;
import org.vdmount.vd.TruncatedImageException;
import org.vdmount.vd.WriteResult;
import org.vdmount.vd.storage.Storage;
import org.vdmount.vd.table.TableSlots;

/**
 * One opened QED layer. Reads take no lock. Writes into allocated clusters go straight to the file;
 * allocation (new clusters and L2 tables appended at the end of the file) runs under one lock, in
 * the order data → L2 entry → L1 entry, with the need-check bit set in the header before the first
 * allocation and cleared by {@link #flush} once everything is forced (qed_spec.rst "Consistency
 * checking"). Discard keeps clusters allocated and punches their space (QED has no refcounts, so
 * freeing would leak), or marks unallocated clusters zero (entry 1) over a backing file.
 */
final class QedImage implements Image {
    static final long ZERO_CLUSTER = 1;

    private final ImageFormat format;
    private final Storage storage;
    private boolean closed;
    private final QedHeader header;
    private final long clusterSize;
    private final int clusterBits;
    private final int tableBits;
    private final long tableBytes;
    private final long virtualSize;
    private final long[] l1;
    private final TableSlots tables;
    private final ParentReference parent;
    private final boolean readOnly;
    private final ReentrantLock alloc = new ReentrantLock();
    private long fileEnd;               // next free cluster (writers, under alloc)
    private volatile long knownEnd;     // bytes known to exist in the file
    private boolean needCheckSet;       // we set the need-check bit and have not cleared it

    QedImage(ImageFormat format, Storage storage, QedHeader header, long[] l1, ParentReference parent,
             boolean readOnly, int maxTables) throws IOException {
        this.format = format;
        this.storage = storage;
        this.header = header;
        this.clusterSize = header.clusterSizeBytes();
        this.clusterBits = Long.numberOfTrailingZeros(clusterSize);
        this.tableBits = Integer.numberOfTrailingZeros(header.tableEntries());
        this.tableBytes = header.tableBytes();
        this.virtualSize = header.imageSizeBytes();
        this.l1 = l1;
        this.parent = parent;
        this.readOnly = readOnly;
        long size = storage.size();
        this.knownEnd = size;
        this.fileEnd = (size + clusterSize - 1) & -clusterSize;
        this.tables = new TableSlots(l1.length, maxTables, alloc, this::loadTable);
    }

    // ---- tables -------------------------------------------------------------------------------

    private long[] loadTable(int l1Index) throws IOException {
        long off = TableSlots.entry(l1, l1Index);
        checkTableOffset(off, "L1 table", header.l1TableOffset() + l1Index * 8L);
        return readTable(storage, off, header.tableEntries());
    }

    static long[] readTable(Storage storage, long offset, int entries) throws IOException {
        ByteBuffer raw = ByteBuffer.allocate(entries * 8);
        storage.readFully(raw, offset, "qed", "table");
        Bytes b = Bytes.of(raw.array());
        long[] t = new long[entries];
        for (int i = 0; i < entries; i++) {
            t[i] = b.u64le(i * 8);
        }
        return t;
    }

    private void checkTableOffset(long off, String where, long at) throws IOException {
        if ((off & (clusterSize - 1)) != 0 || off < header.headerSizeClusters() * clusterSize) {
            throw new CorruptImageException("qed", storage.path(), where, at, "table offset 0x"
                    + Long.toHexString(off) + " is not a cluster-aligned position after the header");
        }
        long size = Math.max(knownEnd, storage.size());
        if (off > size - tableBytes) {
            throw new TruncatedImageException("qed", storage.path(), "L2 table", off, tableBytes, size);
        }
    }

    /** The L2 entry for {@code offset}, or 0 if no table is allocated. */
    private long entry(long offset) throws IOException {
        int l1i = (int) (offset >>> (clusterBits + tableBits));
        if (TableSlots.entry(l1, l1i) == 0) {
            return 0;
        }
        long[] t = tables.get(l1i);
        return TableSlots.entry(t, (int) ((offset >>> clusterBits) & ((1L << tableBits) - 1)));
    }

    private long checkedCluster(long e, long offset) throws CorruptImageException {
        if ((e & (clusterSize - 1)) != 0 || e < header.headerSizeClusters() * clusterSize) {
            throw new CorruptImageException("qed", storage.path(), "L2 table", offset >>> clusterBits,
                    "data cluster offset 0x" + Long.toHexString(e) + " for guest offset 0x" + Long.toHexString(offset)
                    + " is not a cluster-aligned position after the header");
        }
        return e;
    }

    // ---- read ---------------------------------------------------------------------------------

    @Override
    public long map(long offset, long maxLength) throws IOException {
        long len = Math.min(maxLength, clusterSize - (offset & (clusterSize - 1)));
        long e = entry(offset);
        return e == 0 ? Run.unallocated(len) : e == ZERO_CLUSTER ? Run.zero(len) : Run.data(len);
    }

    @Override
    public void readData(long offset, ByteBuffer dst) throws IOException {
        long e = entry(offset);
        if (e <= ZERO_CLUSTER) {
            zeroFill(dst);
            return;
        }
        long pos = checkedCluster(e, offset) + (offset & (clusterSize - 1));
        int want = dst.remaining();
        int n = storage.read(dst, pos);
        if (n < want) {
            if (n == 0) {
                throw new TruncatedImageException("qed", storage.path(), "data cluster", pos, want, storage.size());
            }
            zeroFill(dst);
        }
    }

    private static void zeroFill(ByteBuffer dst) {
        while (dst.hasRemaining()) {
            dst.put((byte) 0);
        }
    }

    // ---- write --------------------------------------------------------------------------------

    @Override
    public WriteResult write(long offset, ByteBuffer src) throws IOException {
        checkWritable();
        long e = entry(offset);
        if (e > ZERO_CLUSTER) {
            writeInPlace(e, offset, src);
            return WriteResult.DONE;
        }
        long clusterStart = offset & -clusterSize;
        boolean whole = offset == clusterStart && src.remaining() >= Math.min(clusterSize, virtualSize - clusterStart);
        if (!whole) {
            return WriteResult.NEEDS_FILL;
        }
        alloc.lock();
        try {
            e = entry(offset);
            if (e > ZERO_CLUSTER) {
                writeInPlace(e, offset, src);
                return WriteResult.DONE;
            }
            ByteBuffer full = ByteBuffer.allocate((int) clusterSize);
            full.put(src).clear();
            allocateCluster(offset, full);
            return WriteResult.DONE;
        } finally {
            alloc.unlock();
        }
    }

    private void writeInPlace(long e, long offset, ByteBuffer src) throws IOException {
        long host = checkedCluster(e, offset);
        if (host >= knownEnd) {
            throw new CorruptImageException("qed", storage.path(), "L2 table", offset >>> clusterBits,
                    "data cluster 0x" + Long.toHexString(host) + " lies past the end of the file; refusing to write");
        }
        storage.write(src, host + (offset & (clusterSize - 1)));
    }

    /** Appends a data cluster (and an L2 table if needed) for guest {@code offset}; under alloc. */
    private void allocateCluster(long offset, ByteBuffer content) throws IOException {
        setNeedCheck();
        long host = fileEnd;
        storage.write(content, host);
        fileEnd += clusterSize;
        noteEnd(fileEnd);
        setEntry(offset, host);
    }

    /** Sets the L2 entry of guest {@code offset}, creating the L2 table if needed; under alloc. */
    private void setEntry(long offset, long value) throws IOException {
        setNeedCheck();
        int l1i = (int) (offset >>> (clusterBits + tableBits));
        int l2i = (int) ((offset >>> clusterBits) & ((1L << tableBits) - 1));
        ByteBuffer eight = ByteBuffer.allocate(8);
        if (TableSlots.entry(l1, l1i) == 0) {
            long[] t = new long[header.tableEntries()];
            t[l2i] = value;
            long at = fileEnd;
            ByteBuffer raw = ByteBuffer.allocate((int) tableBytes);
            Bytes.of(raw.array()).put64le(l2i * 8, value);
            storage.write(raw, at);
            fileEnd += tableBytes;
            noteEnd(fileEnd);
            tables.put(l1i, t);
            Bytes.of(eight.array()).put64le(0, at);
            storage.write(eight, header.l1TableOffset() + l1i * 8L);
            TableSlots.setEntry(l1, l1i, at);
            return;
        }
        long[] t = tables.get(l1i);
        Bytes.of(eight.array()).put64le(0, value);
        storage.write(eight, TableSlots.entry(l1, l1i) + l2i * 8L);
        TableSlots.setEntry(t, l2i, value);
    }

    private void noteEnd(long end) {
        if (end > knownEnd) {
            knownEnd = end;
        }
    }

    private void setNeedCheck() throws IOException {
        if (!needCheckSet) {
            writeFeatures(header.features() | QedHeader.F_NEED_CHECK);
            needCheckSet = true;
        }
    }

    private void writeFeatures(long features) throws IOException {
        ByteBuffer b = ByteBuffer.allocate(8);
        Bytes.of(b.array()).put64le(0, features);
        storage.write(b, QedHeader.OFF_FEATURES);
        storage.force();
    }

    @Override
    public void discard(long offset, long length) throws IOException {
        checkWritable();
        alloc.lock();
        try {
            for (long off = offset; off < offset + length; off += clusterSize) {
                long e = entry(off);
                if (e > ZERO_CLUSTER) {
                    long host = checkedCluster(e, off);
                    long n = Math.min(clusterSize, virtualSize - off);
                    if (host < knownEnd) {
                        storage.zeroRange(host, n);
                    }
                } else if (e == 0 && parent != null) {
                    setEntry(off, ZERO_CLUSTER);
                }
            }
        } finally {
            alloc.unlock();
        }
    }

    @Override
    public void flush() throws IOException {
        if (readOnly) {
            return;
        }
        alloc.lock();
        try {
            storage.force();
            if (needCheckSet) {
                writeFeatures(header.features() & ~QedHeader.F_NEED_CHECK);
                needCheckSet = false;
            }
        } finally {
            alloc.unlock();
        }
    }

    private void checkWritable() throws ReadOnlyException {
        if (readOnly) {
            throw new ReadOnlyException("qed: " + storage.path() + " is opened read-only");
        }
    }

    @Override
    public synchronized void close() throws IOException {
        if (closed) {
            return; // Closeable: a second close does nothing
        }
        closed = true;
        try {
            flush();
        } finally {
            storage.close();
        }
    }

    // ---- facts --------------------------------------------------------------------------------

    @Override
    public ImageFormat format() {
        return format;
    }

    @Override
    public String variant() {
        return parent != null ? "differencing" : "dynamic";
    }

    @Override
    public Storage storage() {
        return storage;
    }

    @Override
    public long virtualSize() {
        return virtualSize;
    }

    @Override
    public UUID uuid() {
        return null;
    }

    @Override
    public ParentReference parent() {
        return parent;
    }

    @Override
    public boolean readOnly() {
        return readOnly;
    }

    @Override
    public long blockSize() {
        return clusterSize;
    }

    @Override
    public long fillUnit() {
        return clusterSize;
    }

    @Override
    public long allocatedBytes() throws IOException {
        return Math.min(storage.allocatedBytes(), virtualSize);
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
