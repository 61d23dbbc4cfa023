package org.vdmount.vd.format.vmdk;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.util.HashMap;
import java.util.Map;
import java.util.TreeSet;
import java.util.concurrent.locks.ReentrantLock;
import java.util.function.Consumer;
import org.vdmount.vd.Bytes;
import org.vdmount.vd.ReadOnlyException;
import org.vdmount.vd.UnsupportedFeatureException;
import org.vdmount.vd.VdException;
import org.vdmount.vd.WriteResult;
import org.vdmount.vd.storage.Storage;
import org.vdmount.vd.table.TableCache;
import org.vdmount.vd.table.Tables;

/**
 * A hosted sparse extent, "KDMV" versions 1-3 (VMware "Virtual Disk Format 5.0", "Hosted Sparse
 * Extents"): a grain directory of 32-bit sector numbers of grain tables, each table holding 32-bit
 * sector numbers of grains; 0 = unallocated, 1 = zeroed grain (with {@link SparseHeader#FLAG_ZERO_GRAIN}).
 * A redundant directory with its own tables backs up the primary; it is used when a primary table
 * is damaged (warning) and kept in step on writes. Stream-optimized extents (compressed grains with
 * markers, directory found through the footer) are read-only.
 *
 * <p>Writes: new grains are appended (data written before anything points at it); changed tables
 * stay dirty in memory until {@link #flush}, which forces the data, then writes both table copies
 * and any new directory entries, then forces again.
 */
final class SparseExtent extends GrainMapExtent {
    /** A table entry that failed validation (points past the end of the file). */
    private static final int BAD = -1;
    static final long MAX_GT_ENTRIES = 1 << 16;
    private static final int MAX_DIRTY_TABLES = 4096;
    private static final long MAX_SECTOR = 0xFFFF_FFFEL;
    private static final int MAX_WARNINGS = 5;

    final SparseHeader header;
    private final int gtEntries;
    private final int gtBytes;
    private final int[] gd;
    private final int[] rgd;
    private final long gdPos;
    private final long rgdPos;
    private final int[] emptyTable;
    private final ReentrantLock lock = new ReentrantLock();
    private final TableCache<int[]> cache;
    private final Map<Integer, int[]> dirty = new HashMap<>();
    private final TreeSet<Integer> gdDirty = new TreeSet<>();
    private final boolean zeroGrain;
    private final CompressedGrains compressed;
    private final Consumer<String> warn;
    private final String notWritable;
    private int warnings;
    private long allocEnd;

    private SparseExtent(Storage storage, long sizeBytes, SparseHeader h, int[] gd, int[] rgd,
                         Consumer<String> warn, String notWritable) throws IOException {
        super(storage, sizeBytes, h.grainSectors() * 512);
        this.header = h;
        this.gtEntries = (int) h.gtEntries();
        this.gtBytes = gtEntries * 4;
        this.gd = gd;
        this.rgd = rgd;
        this.gdPos = h.gdOffset() * 512;
        this.rgdPos = h.rgdOffset() * 512;
        this.emptyTable = new int[gtEntries];
        this.zeroGrain = h.zeroGrainEntries();
        this.compressed = h.compressed() ? new CompressedGrains(storage, grainBytes, h.has(SparseHeader.FLAG_MARKERS)) : null;
        this.warn = warn;
        this.notWritable = notWritable;
        this.cache = new TableCache<>(cachedTables(gd.length, gtBytes + 16L), lock, this::loadTable);
        long end = (storage.size() + 511) & ~511L;
        this.allocEnd = Math.max(end, h.overheadSectors() * 512);
    }

    /**
     * Opens the sparse extent in {@code storage}. {@code sizeBytes} is the extent size the
     * descriptor gives, or -1 to use the header's capacity.
     */
    static SparseExtent open(Storage storage, long sizeBytes, Consumer<String> warn) throws IOException {
        long fileSize = storage.size();
        SparseHeader h = SparseHeader.read(storage, fileSize);
        long capacityBytes = h.capacitySectors() * 512;
        long size = sizeBytes < 0 ? capacityBytes : sizeBytes;
        long coverage = h.gtEntries() * h.grainSectors();
        int gdCount = (int) ((h.capacitySectors() + coverage - 1) / coverage);
        String notWritable = null;
        int[] gd = loadDirectory(storage, h.gdOffset(), gdCount, h, fileSize, "grain directory");
        int[] rgd = null;
        if (h.has(SparseHeader.FLAG_RGD) && h.rgdOffset() != 0) {
            if (!sectorInside(h.rgdOffset(), fileSize) || h.rgdOffset() * 512 + gdCount * 4L > fileSize) {
                warn.accept("vmdk: redundant grain directory of " + storage.path() + " lies past the end of the file; ignored");
            } else {
                rgd = loadDirectory(storage, h.rgdOffset(), gdCount, h, fileSize, "redundant grain directory");
            }
        }
        for (int i = 0; i < gdCount; i++) {
            if (gd[i] == BAD || rgd != null && rgd[i] == BAD) {
                notWritable = "vmdk: grain directory of " + storage.path() + " is damaged; open it read-only";
                break;
            }
        }
        if (sizeBytes >= 0 && sizeBytes != capacityBytes) {
            boolean more = sizeBytes > capacityBytes;
            warn.accept("vmdk: the descriptor gives extent " + storage.path() + " " + sizeBytes / 512
                    + " sectors, its sparse header's capacity at 0x0C is " + h.capacitySectors() + " sectors; "
                    + (more ? "the sectors past the capacity read as zeros and cannot be written"
                    : "the data past " + sizeBytes / 512 + " sectors is not part of the disk"));
            if (more && notWritable == null) {
                notWritable = "vmdk: extent " + storage.path() + " is smaller (" + h.capacitySectors()
                        + " sectors) than its descriptor says (" + sizeBytes / 512 + "); open it read-only";
            }
        }
        if (h.compressed()) {
            notWritable = "vmdk: " + storage.path() + " is stream-optimized (compressed); it can only be read."
                    + " Open it read-only or convert it";
        } else if (h.compressAlgorithm() != SparseHeader.COMPRESSION_NONE) {
            throw new UnsupportedFeatureException("vmdk: compression algorithm " + h.compressAlgorithm() + " in "
                    + storage.path());
        }
        return new SparseExtent(storage, size, h, gd, rgd, warn, notWritable);
    }

    /** Reads a directory; entries pointing past the end of the file become {@link #BAD}. */
    private static int[] loadDirectory(Storage st, long offsetSectors, int count, SparseHeader h, long fileSize,
                                       String what) throws IOException {
        int[] out = readU32s(st, offsetSectors * 512, count, what);
        long gtBytes = h.gtEntries() * 4;
        for (int i = 0; i < count; i++) {
            long s = Integer.toUnsignedLong(out[i]);
            out[i] = s != 0 && (s * 512 + gtBytes > fileSize || s == 0xFFFF_FFFFL) ? BAD : (int) s;
        }
        return out;
    }

    // ---- lookup -------------------------------------------------------------------------------

    @Override
    long lookup(long grain) throws IOException {
        long gi = grain / gtEntries;
        if (gi >= gd.length) {
            return UNALLOCATED; // the descriptor claims more than the header's capacity
        }
        int[] t = cache.get((int) gi);
        int idx = (int) (grain - gi * gtEntries);
        int e = Tables.get(t, idx);
        if (e == 0) {
            return UNALLOCATED;
        }
        if (e == 1 && zeroGrain) {
            return ZERO;
        }
        if (e == BAD) {
            throw corrupt("grain table " + gi, (long) gd[(int) gi] * 512 + idx * 4L,
                    "entry for grain " + grain + " points past the end of the file");
        }
        return Integer.toUnsignedLong(e) << 9;
    }

    /** Loads table {@code i} (under the lock): dirty copy, primary, or redundant if the primary is damaged. */
    private int[] loadTable(long key) throws IOException {
        int i = (int) key;
        int[] d = dirty.get(i);
        if (d != null) {
            return d;
        }
        int p = gd[i];
        int r = rgd != null ? rgd[i] : 0;
        if (p == 0 && (r == 0 || r == BAD)) {
            return emptyTable;
        }
        long fileSize = storage.zeroTail() ? Long.MAX_VALUE : storage.size(); // cut file: grains past it read zeros
        int[] primary = null;
        String why;
        if (p != 0 && p != BAD) {
            primary = readU32s(storage, Integer.toUnsignedLong(p) * 512, gtEntries, "grain table " + i);
            why = checkTable(primary, fileSize);
            if (why == null) {
                return primary;
            }
        } else {
            why = p == 0 ? "its directory entry is empty but the redundant one is not"
                    : "its directory entry points past the end of the file";
        }
        if (r != 0 && r != BAD) {
            int[] red = readU32s(storage, Integer.toUnsignedLong(r) * 512, gtEntries, "redundant grain table " + i);
            if (checkTable(red, fileSize) == null) {
                warnLimited("vmdk: primary grain table " + i + " of " + path() + " is damaged (" + why
                        + "); using the redundant copy");
                if (!storage.readOnly() && notWritable == null && p != 0 && p != BAD) {
                    dirty.put(i, red); // a writable session repairs the primary at the next flush
                }
                return red;
            }
        }
        if (primary == null) {
            throw corrupt("grain directory", gdPos + i * 4L, "entry " + i + ": " + why);
        }
        warnLimited("vmdk: grain table " + i + " of " + path() + " is damaged (" + why + ") and has no usable copy");
        for (int k = 0; k < primary.length; k++) {
            if (!entryValid(primary[k], fileSize)) {
                primary[k] = BAD;
            }
        }
        return primary;
    }

    private String checkTable(int[] t, long fileSize) {
        for (int k = 0; k < t.length; k++) {
            if (!entryValid(t[k], fileSize)) {
                return "entry " + k + " = 0x" + Integer.toHexString(t[k]) + " points past the end of the file";
            }
        }
        return null;
    }

    private boolean entryValid(int e, long fileSize) {
        if (e == 0 || e == 1 && zeroGrain) {
            return true;
        }
        long pos = Integer.toUnsignedLong(e) * 512;
        return e != BAD && pos + (compressed != null ? Marker.GRAIN_HEADER : 1) <= fileSize;
    }

    private void warnLimited(String msg) {
        if (warnings < MAX_WARNINGS) {
            warn.accept(msg);
        } else if (warnings == MAX_WARNINGS) {
            warn.accept("vmdk: further grain table warnings for " + path() + " suppressed");
        }
        warnings++;
    }

    @Override
    public long hostOffset(long offset) throws IOException {
        return compressed != null ? -1 : super.hostOffset(offset);
    }

    @Override
    protected boolean contiguousGrains() {
        return compressed == null;
    }

    @Override
    protected void readGrain(long where, long grain, long inGrain, ByteBuffer dst) throws IOException {
        if (compressed != null) {
            compressed.read(where, grain, inGrain, dst);
        } else {
            super.readGrain(where, grain, inGrain, dst);
        }
    }

    // ---- write --------------------------------------------------------------------------------

    @Override
    public String whyNotWritable() {
        return notWritable;
    }

    @Override
    public String kind() {
        return compressed != null ? "SPARSE (stream-optimized)" : "SPARSE";
    }

    private long grainLength(long grain) {
        return Math.min(grainBytes, sizeBytes - grain * grainBytes);
    }

    @Override
    public WriteResult write(long offset, ByteBuffer src) throws IOException {
        checkWritable();
        long grain = offset >>> grainShift;
        long in = offset & (grainBytes - 1);
        long where = lookup(grain);
        if (where > ZERO) {
            writeInPlace(where, grain, in, src);
            return WriteResult.DONE;
        }
        if (in != 0 || src.remaining() < grainLength(grain)) {
            return WriteResult.NEEDS_FILL;
        }
        lock.lock();
        try {
            where = lookup(grain);
            if (where <= ZERO) {
                long pos = allocateGrain();
                int n = src.remaining();
                storage.write(src, pos);
                if (n < grainBytes) {
                    storage.write(ByteBuffer.allocate((int) (grainBytes - n)), pos + n);
                }
                setEntry(grain, (int) (pos >>> 9));
                return WriteResult.DONE;
            }
        } finally {
            lock.unlock();
        }
        writeInPlace(where, grain, in, src);
        return WriteResult.DONE;
    }

    private void writeInPlace(long where, long grain, long in, ByteBuffer src) throws IOException {
        if (where < header.overheadSectors() * 512) {
            throw corrupt("grain table", where, "grain " + grain + " lies inside the metadata; refusing to write");
        }
        storage.write(src, where + in);
    }

    @Override
    public void discard(long offset, long length, boolean hideParent) throws IOException {
        checkWritable();
        for (long g = offset >>> grainShift; g << grainShift < offset + length; g++) {
            long freed;
            lock.lock();
            try {
                long where = lookup(g);
                if (zeroGrain) {
                    if (where != ZERO) {
                        setEntry(g, 1);
                    }
                    freed = where > ZERO ? where : -1;
                } else if (where > ZERO) {
                    freed = where;
                } else {
                    if (hideParent && where == UNALLOCATED) {
                        long pos = allocateGrain();
                        storage.write(ByteBuffer.allocate((int) grainBytes), pos);
                        setEntry(g, (int) (pos >>> 9));
                    }
                    freed = -1;
                }
            } finally {
                lock.unlock();
            }
            if (freed > 0 && freed >= header.overheadSectors() * 512) {
                zeroGrainData(freed);
            }
        }
    }

    private void zeroGrainData(long pos) throws IOException {
        storage.zeroRange(pos, grainBytes);
    }

    private void checkWritable() throws VdException {
        if (notWritable != null) {
            throw new UnsupportedFeatureException(notWritable);
        }
        if (storage.readOnly()) {
            throw new ReadOnlyException("vmdk: " + path() + " is opened read-only");
        }
    }

    /**
     * Changes the capacity in the sparse header to {@code sectors} (the extent must be flushed).
     * The grain directory needs one entry per grain table of the new capacity: where the sectors
     * it already occupies hold them (their spare entries all zero, "no table yet"), it stays;
     * otherwise the directory and its redundant copy are written anew at the end of the file,
     * forced, and only then does the header, in one sector write, name them and the new capacity
     * (VMware "Virtual Disk Format 5.0", "Hosted Sparse Extent Header", "Grain Directory").
     * Afterwards this object is spent: the caller closes the image and reopens the file.
     */
    void resizeCapacity(long sectors) throws IOException {
        lock.lock();
        try {
            if (!dirty.isEmpty() || !gdDirty.isEmpty()) {
                throw new IllegalStateException("vmdk: resize of an extent with unwritten metadata");
            }
            long coverage = header.gtEntries() * header.grainSectors();
            long count = (sectors + coverage - 1) / coverage;
            if (count > Integer.MAX_VALUE / 4) {
                throw new UnsupportedFeatureException("vmdk: " + path() + ": " + sectors + " sectors need a grain "
                        + "directory of " + count + " entries; too large");
            }
            long gdAt = header.gdOffset();
            long rgdAt = header.rgdOffset();
            if (count > gd.length && !(spareEntriesFree(gdPos, gd.length, (int) count)
                    && (rgd == null || spareEntriesFree(rgdPos, rgd.length, (int) count)))) {
                if (rgd != null) {
                    rgdAt = writeDirectory(rgd, (int) count) >>> 9;
                }
                gdAt = writeDirectory(gd, (int) count) >>> 9;
                storage.force();
            }
            Bytes h = Bytes.allocate(SparseHeader.SIZE);
            header.resized(sectors, gdAt, rgdAt).write(h);
            storage.write(h.buffer(), 0);
            storage.force();
        } finally {
            lock.unlock();
        }
    }

    /**
     * Whether the sectors holding a directory of {@code used} entries at {@code pos} have room for
     * {@code wanted} entries, and the room past the used entries holds only zeros.
     */
    private boolean spareEntriesFree(long pos, int used, int wanted) throws IOException {
        long room = ((used * 4L + 511) & ~511L) / 4;
        if (wanted > room) {
            return false;
        }
        int[] spare = readU32s(storage, pos + used * 4L, wanted - used, "grain directory");
        for (int v : spare) {
            if (v != 0) {
                return false;
            }
        }
        return true;
    }

    /** Writes {@code entries} followed by zeros up to {@code count} entries at the end of the file. */
    private long writeDirectory(int[] entries, int count) throws IOException {
        long pos = allocateMetadata(count * 4L);
        ByteBuffer b = ByteBuffer.allocate((int) ((count * 4L + 511) & ~511L));
        Bytes out = Bytes.of(b.array());
        for (int i = 0; i < entries.length; i++) {
            out.put32le(i * 4, entries[i] == BAD ? 0 : entries[i]);
        }
        storage.write(b, pos);
        return pos;
    }

    /** Space for a new grain at the end of the file (caller holds the lock). */
    private long allocateGrain() throws VdException {
        long pos = (allocEnd + grainBytes - 1) & -grainBytes;
        checkSector(pos + grainBytes);
        allocEnd = pos + grainBytes;
        return pos;
    }

    private long allocateMetadata(long bytes) throws VdException {
        long pos = (allocEnd + 511) & ~511L;
        long len = (bytes + 511) & ~511L;
        checkSector(pos + len);
        allocEnd = pos + len;
        return pos;
    }

    private void checkSector(long endBytes) throws VdException {
        if ((endBytes >>> 9) > MAX_SECTOR) {
            throw new VdException("vmdk: " + path() + " is full: 32-bit grain offsets end at 2 TiB");
        }
    }

    /** Points grain {@code grain} at sector {@code value} (1 = zeroed); caller holds the lock. */
    private void setEntry(long grain, int value) throws IOException {
        int gi = (int) (grain / gtEntries);
        if (gi >= gd.length) {
            throw corrupt("grain directory", gdPos, "grain " + grain + " lies beyond the directory's "
                    + gd.length + " entries");
        }
        int[] t = dirty.get(gi);
        if (t == null) {
            t = cache.get(gi);
            if (t == emptyTable) {
                t = new int[gtEntries];
                cache.put(gi, t);
            }
            ensureTableLocations(gi);
            dirty.put(gi, t);
        }
        Tables.set(t, (int) (grain - (long) gi * gtEntries), value);
        if (dirty.size() > MAX_DIRTY_TABLES) {
            writeMetadata();
        }
    }

    /** Gives table {@code gi} (and its redundant twin) a place in the file if it has none yet. */
    private void ensureTableLocations(int gi) throws IOException {
        if (gd[gi] == 0 || gd[gi] == BAD) {
            gd[gi] = (int) (allocateZeroedTable() >>> 9);
            gdDirty.add(gi);
        }
        if (rgd != null && (rgd[gi] == 0 || rgd[gi] == BAD)) {
            rgd[gi] = (int) (allocateZeroedTable() >>> 9);
            gdDirty.add(gi);
        }
    }

    private long allocateZeroedTable() throws IOException {
        long pos = allocateMetadata(gtBytes);
        storage.write(ByteBuffer.allocate((int) ((gtBytes + 511) & ~511L)), pos);
        return pos;
    }

    @Override
    public void flush() throws IOException {
        if (!storage.readOnly()) {
            writeMetadata();
        }
    }

    // ---- compaction ({@link SparseCompaction}) ------------------------------------------------

    /** Whether table entry 1 means "zeroed grain" here ({@link SparseHeader#FLAG_ZERO_GRAIN}). */
    boolean zeroGrainEntries() {
        return zeroGrain;
    }

    /** Grain tables in the directory, and entries per table. */
    int tableCount() {
        return gd.length;
    }

    int tableEntries() {
        return gtEntries;
    }

    /**
     * Every metadata range of the file as {start, end} byte pairs: the header's overhead (header,
     * embedded descriptor and, as QEMU and VMware lay them out, both directories and their tables),
     * both directories and every grain table and redundant table wherever they lie.
     */
    java.util.List<long[]> metadataRanges() {
        java.util.List<long[]> out = new java.util.ArrayList<>();
        out.add(new long[] {0, header.overheadSectors() * 512});
        if (header.descriptorOffset() > 0) {
            out.add(new long[] {header.descriptorOffset() * 512,
                    (header.descriptorOffset() + header.descriptorSectors()) * 512});
        }
        long gdBytes = (gd.length * 4L + 511) & ~511L;
        out.add(new long[] {gdPos, gdPos + gdBytes});
        if (rgd != null) {
            out.add(new long[] {rgdPos, rgdPos + gdBytes});
        }
        long tableBytes = (gtBytes + 511L) & ~511L;
        for (int i = 0; i < gd.length; i++) {
            for (int s : rgd == null ? new int[] {gd[i]} : new int[] {gd[i], rgd[i]}) {
                if (s != 0 && s != BAD) {
                    long at = Integer.toUnsignedLong(s) * 512;
                    out.add(new long[] {at, at + tableBytes});
                }
            }
        }
        return out;
    }

    /**
     * Gives every redundant grain table that differs from its primary (a kill between the two
     * writes of a table) the primary's entries at the next {@link #writeMetadata}; returns how many.
     */
    int healRedundantTables() throws IOException {
        if (rgd == null) {
            return 0;
        }
        lock.lock();
        try {
            int healed = 0;
            for (int i = 0; i < gd.length; i++) {
                if (gd[i] == 0 || gd[i] == BAD || rgd[i] == 0 || rgd[i] == BAD || dirty.containsKey(i)) {
                    continue;
                }
                int[] t = cache.get(i);
                int[] red = readU32s(storage, Integer.toUnsignedLong(rgd[i]) * 512, gtEntries,
                        "redundant grain table " + i);
                for (int k = 0; k < gtEntries; k++) {
                    if (red[k] != Tables.get(t, k)) {
                        dirty.put(i, t);
                        healed++;
                        break;
                    }
                }
                if (dirty.size() > MAX_DIRTY_TABLES) {
                    writeMetadata();
                }
            }
            return healed;
        } finally {
            lock.unlock();
        }
    }

    /**
     * Points grain {@code grain} at {@code value}: 0 (unallocated), 1 (zeroed grain) or the sector
     * of a copy of its bytes that has been forced; written, both copies, at the next {@link #writeMetadata}.
     */
    void remap(long grain, long value) throws IOException {
        checkWritable();
        lock.lock();
        try {
            setEntry(grain, (int) value);
        } finally {
            lock.unlock();
        }
    }

    /**
     * Cuts the file at {@code endBytes} (nothing points at or past it, and that is on disk) and
     * forces; new grains are appended from there.
     */
    void cut(long endBytes) throws IOException {
        checkWritable();
        lock.lock();
        try {
            if (!dirty.isEmpty() || !gdDirty.isEmpty()) {
                throw new IllegalStateException("vmdk: cutting " + path() + " with unwritten metadata");
            }
            storage.truncate(endBytes);
            storage.force();
            allocEnd = Math.max((endBytes + 511) & ~511L, header.overheadSectors() * 512);
        } finally {
            lock.unlock();
        }
    }

    /**
     * Data first, then both copies of every changed table and directory entry. Takes the lock
     * (writers call it with the lock held when too many tables are dirty).
     */
    void writeMetadata() throws IOException {
        lock.lock();
        try {
            storage.force();
            if (dirty.isEmpty() && gdDirty.isEmpty()) {
                return;
            }
            ByteBuffer buf = ByteBuffer.allocate(gtBytes);
            Bytes b = Bytes.of(buf.array());
            for (Map.Entry<Integer, int[]> e : dirty.entrySet()) {
                int[] t = e.getValue();
                for (int k = 0; k < t.length; k++) {
                    b.put32le(k * 4, Tables.get(t, k));
                }
                int gi = e.getKey();
                storage.write(buf.clear(), Integer.toUnsignedLong(gd[gi]) * 512);
                if (rgd != null && rgd[gi] != 0 && rgd[gi] != BAD) {
                    storage.write(buf.clear(), Integer.toUnsignedLong(rgd[gi]) * 512);
                }
            }
            ByteBuffer entry = ByteBuffer.allocate(4);
            for (int gi : gdDirty) {
                Bytes.of(entry.array()).put32le(0, gd[gi]);
                storage.write(entry.clear(), gdPos + gi * 4L);
                if (rgd != null) {
                    Bytes.of(entry.array()).put32le(0, rgd[gi]);
                    storage.write(entry.clear(), rgdPos + gi * 4L);
                }
            }
            storage.force();
            dirty.clear();
            gdDirty.clear();
        } finally {
            lock.unlock();
        }
    }
}
