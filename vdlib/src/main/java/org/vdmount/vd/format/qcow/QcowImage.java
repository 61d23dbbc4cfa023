package org.vdmount.vd.format.qcow;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.UUID;
import java.util.concurrent.locks.ReentrantLock;
import java.util.zip.DataFormatException;
import java.util.zip.Inflater;
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
 * One opened QCOW version 1 layer: L1 → L2 → clusters, compressed clusters (bit 63, exact byte
 * size in the next {@code cluster_bits} bits, raw deflate), no refcounts, no zero clusters. Reads
 * take no lock; allocation appends clusters and L2 tables at the end of the file under one lock,
 * data first, then the L2 entry, then the L1 entry (a crash leaves unreferenced space at worst).
 * Clusters are never freed, so in-place writes need no lock either.
 */
final class QcowImage implements Image {
    private static final long COMPRESSED = 1L << 63;

    private final ImageFormat format;
    private final Storage storage;
    private boolean closed;
    private final QcowHeader header;
    private final int clusterBits;
    private final long clusterSize;
    private final int l2Bits;
    private final long l2Bytes;
    private final long virtualSize;
    private final long[] l1;
    private final TableSlots tables;
    private final ParentReference parent;
    private final boolean readOnly;
    private final ReentrantLock alloc = new ReentrantLock();
    private final ThreadLocal<Decompressed> decompressed;
    private long fileEnd;             // writers, under alloc
    private volatile long knownEnd;

    /** Per-thread inflater and the last cluster it produced. */
    private static final class Decompressed {
        final Inflater inflater = new Inflater(true);
        final byte[] input;
        final byte[] output;
        long entry = -1;

        Decompressed(int clusterSize) {
            input = new byte[clusterSize];
            output = new byte[clusterSize];
        }
    }

    QcowImage(ImageFormat format, Storage storage, QcowHeader header, long[] l1, ParentReference parent,
              boolean readOnly, int maxTables) throws IOException {
        this.format = format;
        this.storage = storage;
        this.header = header;
        this.clusterBits = header.clusterBits();
        this.clusterSize = 1L << clusterBits;
        this.l2Bits = header.l2Bits();
        this.l2Bytes = 8L << l2Bits;
        this.virtualSize = header.virtualSizeBytes();
        this.l1 = l1;
        this.parent = parent;
        this.readOnly = readOnly;
        this.knownEnd = storage.size();
        this.fileEnd = knownEnd;
        int cs = (int) clusterSize;
        this.decompressed = ThreadLocal.withInitial(() -> new Decompressed(cs));
        this.tables = new TableSlots(l1.length, maxTables, alloc, this::loadTable);
    }

    // ---- tables -------------------------------------------------------------------------------

    private long[] loadTable(int l1Index) throws IOException {
        long off = TableSlots.entry(l1, l1Index);
        long size = Math.max(knownEnd, storage.size());
        if (off < QcowHeader.SIZE || off > size - l2Bytes) {
            throw new CorruptImageException("qcow", storage.path(), "L1 table", header.l1TableOffset() + l1Index * 8L,
                    "L2 table offset 0x" + Long.toHexString(off) + " lies outside the file of " + size + " bytes");
        }
        return readTable(storage, off, 1 << l2Bits);
    }

    static long[] readTable(Storage storage, long offset, int entries) throws IOException {
        ByteBuffer raw = ByteBuffer.allocate(entries * 8);
        storage.readFully(raw, offset, "qcow", "table");
        Bytes b = Bytes.of(raw.array());
        long[] t = new long[entries];
        for (int i = 0; i < entries; i++) {
            t[i] = b.u64be(i * 8);
        }
        return t;
    }

    private int l1Index(long offset) {
        return (int) (offset >>> (clusterBits + l2Bits));
    }

    private int l2Index(long offset) {
        return (int) ((offset >>> clusterBits) & ((1L << l2Bits) - 1));
    }

    private long entry(long offset) throws IOException {
        int l1i = l1Index(offset);
        if (TableSlots.entry(l1, l1i) == 0) {
            return 0;
        }
        return TableSlots.entry(tables.get(l1i), l2Index(offset));
    }

    private long checkedCluster(long e, long offset) throws CorruptImageException {
        if (e < QcowHeader.SIZE || (e & 511) != 0) {
            throw new CorruptImageException("qcow", storage.path(), "L2 table", offset >>> clusterBits,
                    "data cluster offset 0x" + Long.toHexString(e) + " for guest offset 0x" + Long.toHexString(offset)
                    + " is not a sector-aligned position after the header");
        }
        return e;
    }

    /** The decompressed cluster of a compressed entry, in this thread's buffer. */
    private byte[] decompress(long e) throws IOException {
        Decompressed d = decompressed.get();
        if (d.entry == e) {
            return d.output;
        }
        d.entry = -1;
        long off = e & ((1L << (63 - clusterBits)) - 1);
        int len = (int) ((e >>> (63 - clusterBits)) & (clusterSize - 1));
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
        return d.output;
    }

    // ---- read ---------------------------------------------------------------------------------

    @Override
    public long map(long offset, long maxLength) throws IOException {
        long len = Math.min(maxLength, clusterSize - (offset & (clusterSize - 1)));
        return entry(offset) == 0 ? Run.unallocated(len) : Run.data(len);
    }

    @Override
    public void readData(long offset, ByteBuffer dst) throws IOException {
        long e = entry(offset);
        int in = (int) (offset & (clusterSize - 1));
        if (e == 0) {
            zeroFill(dst);
        } else if ((e & COMPRESSED) != 0) {
            dst.put(decompress(e), in, dst.remaining());
        } else {
            long pos = checkedCluster(e, offset) + in;
            int want = dst.remaining();
            int n = storage.read(dst, pos);
            if (n < want) {
                if (n == 0) {
                    throw new TruncatedImageException("qcow", storage.path(), "data cluster", pos, want, storage.size());
                }
                zeroFill(dst);
            }
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
        if (e != 0 && (e & COMPRESSED) == 0) {
            writeInPlace(e, offset, src);
            return WriteResult.DONE;
        }
        long clusterStart = offset & -clusterSize;
        int in = (int) (offset - clusterStart);
        boolean whole = in == 0 && src.remaining() >= Math.min(clusterSize, virtualSize - clusterStart);
        if (e == 0 && !whole) {
            return WriteResult.NEEDS_FILL;
        }
        alloc.lock();
        try {
            e = entry(offset);
            if (e != 0 && (e & COMPRESSED) == 0) {
                writeInPlace(e, offset, src);
                return WriteResult.DONE;
            }
            ByteBuffer full = ByteBuffer.allocate((int) clusterSize);
            if (e != 0) {
                full.put(decompress(e)).clear(); // copy the compressed cluster out, then overwrite
            } else if (!whole) {
                return WriteResult.NEEDS_FILL;
            }
            full.position(in);
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
            throw new CorruptImageException("qcow", storage.path(), "L2 table", offset >>> clusterBits,
                    "data cluster 0x" + Long.toHexString(host) + " lies past the end of the file; refusing to write");
        }
        storage.write(src, host + (offset & (clusterSize - 1)));
    }

    /** Appends a data cluster for guest {@code offset} and points the tables at it; under alloc. */
    private void allocateCluster(long offset, ByteBuffer content) throws IOException {
        long host = (fileEnd + clusterSize - 1) & -clusterSize;
        storage.write(content, host);
        fileEnd = host + clusterSize;
        noteEnd(fileEnd);
        setEntry(offset, host);
    }

    private void setEntry(long offset, long value) throws IOException {
        int l1i = l1Index(offset);
        int l2i = l2Index(offset);
        ByteBuffer eight = ByteBuffer.allocate(8);
        if (TableSlots.entry(l1, l1i) == 0) {
            long at = (fileEnd + clusterSize - 1) & -clusterSize;
            long[] t = new long[1 << l2Bits];
            t[l2i] = value;
            ByteBuffer raw = ByteBuffer.allocate((int) l2Bytes);
            Bytes.of(raw.array()).put64be(l2i * 8, value);
            storage.write(raw, at);
            fileEnd = at + l2Bytes;
            noteEnd(fileEnd);
            tables.put(l1i, t);
            Bytes.of(eight.array()).put64be(0, at);
            storage.write(eight, header.l1TableOffset() + l1i * 8L);
            TableSlots.setEntry(l1, l1i, at);
            return;
        }
        long[] t = tables.get(l1i);
        Bytes.of(eight.array()).put64be(0, value);
        storage.write(eight, TableSlots.entry(l1, l1i) + l2i * 8L);
        TableSlots.setEntry(t, l2i, value);
    }

    private void noteEnd(long end) {
        if (end > knownEnd) {
            knownEnd = end;
        }
    }

    /**
     * Whole clusters read as zeros afterwards: allocated ones are punched (they stay allocated);
     * without a backing file other clusters become unallocated; over a backing file they get a
     * cluster of zeros (version 1 has no zero marker).
     */
    @Override
    public void discard(long offset, long length) throws IOException {
        checkWritable();
        alloc.lock();
        try {
            for (long off = offset; off < offset + length; off += clusterSize) {
                long e = entry(off);
                long n = Math.min(clusterSize, virtualSize - off);
                if (e != 0 && (e & COMPRESSED) == 0) {
                    long host = checkedCluster(e, off);
                    if (host < knownEnd) {
                        storage.zeroRange(host, n);
                    }
                } else if (parent == null) {
                    if (e != 0) {
                        setEntry(off, 0);
                    }
                } else {
                    allocateCluster(off, ByteBuffer.allocate((int) clusterSize));
                }
            }
        } finally {
            alloc.unlock();
        }
    }

    @Override
    public void flush() throws IOException {
        if (!readOnly) {
            storage.force();
        }
    }

    private void checkWritable() throws ReadOnlyException {
        if (readOnly) {
            throw new ReadOnlyException("qcow: " + storage.path() + " is opened read-only");
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
        m.put("l2_entries", 1 << l2Bits);
        if (parent != null) {
            m.put("backing_file", parent.locators().get(0));
        }
        return m;
    }
}
