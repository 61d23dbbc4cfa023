package org.vdmount.vd.format.vmdk;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.file.Path;
import java.util.function.Predicate;
import org.vdmount.vd.Bytes;
import org.vdmount.vd.CorruptImageException;
import org.vdmount.vd.NotThisFormatException;
import org.vdmount.vd.Run;
import org.vdmount.vd.TruncatedImageException;
import org.vdmount.vd.UnsupportedFeatureException;
import org.vdmount.vd.WriteResult;
import org.vdmount.vd.storage.Storage;
import org.vdmount.vd.table.TableCache;
import org.vdmount.vd.table.Tables;

/**
 * Common read path of the grain-directory/grain-table extents (hosted sparse, COWD, seSparse): a
 * {@link #lookup} per grain says "unallocated", "zero" or where the grain's bytes are.
 */
abstract class GrainMapExtent extends ExtentBase {
    /** {@link #lookup} answers: the grain is not in this extent. */
    static final long UNALLOCATED = 0;
    /** {@link #lookup} answers: the grain reads as zeros (hides the parent). */
    static final long ZERO = 1;
    /** Largest grain accepted (VMware uses 64 KiB for hosted sparse, 4 KiB for seSparse). */
    static final long MAX_GRAIN_BYTES = 16L << 20;
    /** Largest grain directory accepted (64 TiB of 16 MiB tables = 4M entries). */
    static final long MAX_GD_ENTRIES = 1L << 22;
    /** Memory allowed for cached grain tables of one extent. */
    static final long TABLE_BUDGET_BYTES = 16L << 20;
    /** Grains one {@link #map} answer spans at most (aligned): 32 MiB of 64 KiB grains. */
    static final long RUN_GRAINS = 512;

    protected final int grainShift;

    GrainMapExtent(Storage storage, long sizeBytes, long grainBytes) {
        super(storage, sizeBytes, grainBytes);
        this.grainShift = Long.numberOfTrailingZeros(grainBytes);
    }

    /** UNALLOCATED, ZERO, or the byte offset (≥ 512) of the grain in the file. */
    abstract long lookup(long grain) throws IOException;

    /**
     * The run at {@code offset}, extended over the following grains while they answer the same:
     * unallocated or zero grains of their kind, stored grains while they follow one another in the
     * file (so {@link #read} serves the whole run with one read) and {@link #contiguousGrains}
     * allows it. A run stops at a multiple of {@link #RUN_GRAINS} grains, which bounds the lookups
     * one call makes.
     */
    @Override
    public long map(long offset, long maxLength) throws IOException {
        long in = offset & (grainBytes - 1);
        long len = Math.min(maxLength, grainBytes - in);
        long grain = offset >>> grainShift;
        long where = lookup(grain);
        boolean stored = where != UNALLOCATED && where != ZERO;
        if (!stored || contiguousGrains()) {
            long last = Math.min((grain | (RUN_GRAINS - 1)) + 1, (sizeBytes() + grainBytes - 1) >>> grainShift);
            for (long g = grain + 1; g < last && len < maxLength; g++) {
                long next;
                try {
                    next = lookup(g);
                } catch (CorruptImageException e) {
                    break; // a damaged entry further on is reported when that grain itself is read
                }
                if (stored ? next != where + ((g - grain) << grainShift) : next != where) {
                    break;
                }
                len = Math.min(maxLength, len + grainBytes);
            }
        }
        if (where == UNALLOCATED) {
            return Run.unallocated(len);
        }
        return where == ZERO ? Run.zero(len) : Run.data(len);
    }

    /** Whether stored grains lie whole and uncompressed at their offsets (false: a run is one grain). */
    protected boolean contiguousGrains() {
        return true;
    }

    @Override
    public void read(long offset, ByteBuffer dst) throws IOException {
        long grain = offset >>> grainShift;
        long where = lookup(grain);
        if (where == UNALLOCATED || where == ZERO) {
            throw new CorruptImageException("vmdk: grain " + grain + " of " + path() + " changed under a read");
        }
        readGrain(where, grain, offset & (grainBytes - 1), dst);
    }

    @Override
    public long hostOffset(long offset) throws IOException {
        long where = lookup(offset >>> grainShift);
        return where == UNALLOCATED || where == ZERO ? -1 : where + (offset & (grainBytes - 1));
    }

    /** Reads from grain {@code grain} stored at {@code where}, starting {@code inGrain} bytes in. */
    protected void readGrain(long where, long grain, long inGrain, ByteBuffer dst) throws IOException {
        int want = dst.remaining();
        long pos = where + inGrain;
        int n = storage.read(dst, pos);
        if (n < want) {
            throw new TruncatedImageException("vmdk", path(), "grain " + grain, pos, want, storage.size());
        }
    }

    @Override
    public WriteResult write(long offset, ByteBuffer src) throws IOException {
        throw new UnsupportedFeatureException("vmdk: writing " + kind() + " extents is not supported (" + path() + ")");
    }

    @Override
    public void discard(long offset, long length, boolean hideParent) throws IOException {
        write(offset, ByteBuffer.allocate(0));
    }

    @Override
    public String whyNotWritable() {
        return "vmdk: " + kind() + " extents are read-only here (" + path() + "); open read-only or convert";
    }

    protected Path path() {
        return storage.path();
    }

    protected CorruptImageException corrupt(String structure, long offset, String detail) {
        return new CorruptImageException("vmdk", path(), structure, offset, detail);
    }

    /** Whether a sector number (an unsigned on-disk field) lies inside a file of {@code fileSize} bytes. */
    static boolean sectorInside(long sector, long fileSize) {
        return sector >= 0 && sector < (fileSize + 511) / 512;
    }

    static boolean powerOfTwo(long v) {
        return v > 0 && (v & (v - 1)) == 0;
    }

    /**
     * How many grain tables to ask the cache for, for a directory of {@code gdEntries}: all of them
     * where {@link #TABLE_BUDGET_BYTES} holds them (at least 16), else half that
     * ({@link TableCache#sizeFor}: the cache may hold twice what it is asked for).
     */
    static int cachedTables(int gdEntries, long tableBytes) {
        return TableCache.sizeFor(gdEntries, Math.max(16, TABLE_BUDGET_BYTES / Math.max(1, tableBytes)));
    }

    /** Reads {@code count} little-endian 32-bit entries at {@code pos} (bounded by the caller). */
    static int[] readU32s(Storage storage, long pos, int count, String structure) throws IOException {
        return Tables.readU32les(storage, pos, count, "vmdk", structure);
    }

    /** Reads {@code count} little-endian 64-bit entries at {@code pos} (bounded by the caller). */
    static long[] readU64s(Storage storage, long pos, int count, String structure) throws IOException {
        return Tables.readU64s(storage, pos, count, ByteOrder.LITTLE_ENDIAN, "vmdk", structure);
    }

    /**
     * The first {@code size} bytes of an extent file; a file without the magic of {@code kind} is
     * "not this format".
     */
    static Bytes readHeader(Storage storage, int size, String kind, Predicate<Bytes> hasMagic) throws IOException {
        ByteBuffer hb = ByteBuffer.allocate(size);
        storage.readFully(hb, 0, "vmdk", kind + " header");
        Bytes b = Bytes.of(hb.array());
        if (!hasMagic.test(b)) {
            throw new NotThisFormatException("vmdk: " + storage.path() + " is no " + kind + " extent");
        }
        return b;
    }
}
