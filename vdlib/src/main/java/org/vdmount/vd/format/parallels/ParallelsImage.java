package org.vdmount.vd.format.parallels;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.file.Path;
import java.util.BitSet;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.concurrent.locks.ReentrantLock;
import java.util.function.LongConsumer;
import org.vdmount.vd.Bytes;
import org.vdmount.vd.CorruptImageException;
import org.vdmount.vd.Disk;
import org.vdmount.vd.HostLocation;
import org.vdmount.vd.ImageFormat;
import org.vdmount.vd.OpenOptions;
import org.vdmount.vd.ParentReference;
import org.vdmount.vd.Run;
import org.vdmount.vd.TruncatedImageException;
import org.vdmount.vd.UnsupportedFeatureException;
import org.vdmount.vd.WriteResult;
import org.vdmount.vd.compact.CompactResult;
import org.vdmount.vd.compact.Verdict;
import org.vdmount.vd.format.common.ImageBase;
import org.vdmount.vd.storage.Storage;

/**
 * One Parallels expanding image file: header, BAT, data area (parallels.txt). A bare image file
 * records no parent; an unallocated cluster reads through to whatever lies below it (nothing for
 * a base image: zeros).
 *
 * <p>Reads take no lock. Allocation runs under one lock: a new cluster goes to the first data-area
 * cluster no entry references (a hole left by an earlier session's discard, else the end of the
 * file), data first, its BAT entry after. A cluster discarded in this session is not reused before
 * the next open, so a read or in-place write racing the discard cannot reach another block's data.
 *
 * <p>The in-use field is a dirty bit: a writable open sets it (and drops a dirty bitmap extension,
 * which our writes would make stale, as QEMU does), a clean close cuts the file after the last
 * referenced cluster and restores the value found at open; read-only opens never write.
 */
final class ParallelsImage extends ImageBase {
    private final ParallelsHeader opened;
    private final Bat bat;
    private final long clusterBytes;
    private final long inUseAtOpen;
    private final boolean uncleanAtOpen;
    private final boolean empty;
    private final ReentrantLock alloc = new ReentrantLock();
    /** Data-area clusters in use or freed this session (never reused before reopening); under alloc. */
    private final BitSet taken;
    /** Data-area clusters an entry references; under alloc. */
    private final BitSet referenced;
    private volatile long knownEnd;

    private ParallelsImage(ImageFormat format, Storage storage, ParallelsHeader h, Bat bat, boolean readOnly,
                           long inUseAtOpen, boolean uncleanAtOpen) throws IOException {
        super(format, storage, readOnly, h.virtualSizeBytes(), blockSizeOf(h.clusterBytes()));
        this.opened = h;
        this.bat = bat;
        this.clusterBytes = h.clusterBytes();
        this.inUseAtOpen = inUseAtOpen;
        this.uncleanAtOpen = uncleanAtOpen;
        this.empty = (h.flags() & ParallelsHeader.FLAG_EMPTY) != 0;
        this.referenced = readOnly ? null : bat.referenced();
        this.taken = readOnly ? null : (BitSet) referenced.clone();
        this.knownEnd = storage.size();
    }

    /** The largest power of two dividing the cluster size: runs never cross a cluster (63-sector clusters exist). */
    private static long blockSizeOf(long clusterBytes) {
        return Long.lowestOneBit(clusterBytes);
    }

    /**
     * Validates header, extension and BAT of an opened file and wraps it. A writable open refuses
     * what it cannot change safely, repairs what an unclean close left (BAT entries past the end of
     * the file, as {@code qemu-img check -r all} does) and then marks the file in use.
     */
    static ParallelsImage open(ImageFormat format, Storage storage, OpenOptions options) throws IOException {
        Path file = storage.path();
        long fileSize = storage.size();
        ParallelsHeader h = ParallelsHeader.parse(storage.readPrefix(ParallelsHeader.SIZE), file);
        if (fileSize < ParallelsHeader.SIZE) {
            throw new TruncatedImageException("parallels", file, "header", 0, ParallelsHeader.SIZE, fileSize);
        }
        h.validate(file, fileSize);
        boolean ro = options.readOnly();
        boolean unclean = h.inUseSet();
        if (!ro && Long.bitCount(h.clusterBytes()) != 1) {
            throw new UnsupportedFeatureException("parallels: " + file + ": clusters of " + h.clusterSectors()
                    + " sectors (not a power of two) can be opened read-only only");
        }
        if (!ro && (h.flags() & ParallelsHeader.FLAG_EMPTY) != 0) {
            throw new UnsupportedFeatureException("parallels: " + file + " has the empty-image flag set (header at "
                    + "0x34); it can be opened read-only only");
        }
        boolean dropExtension = false;
        if (h.extOffSectors() != 0) {
            dropExtension = checkExtension(storage, h, options);
        }
        Bat bat = Bat.read(storage, h);
        Bat.Problems p = bat.check(file, fileSize, storage.zeroTail());
        if (h.inUseSet() && ro) {
            options.warn("parallels: " + file + " was not closed cleanly (in-use flag at 0x2c); reading it as it is");
        }
        if (!p.shared().isEmpty()) {
            int i = p.shared().get(0);
            String what = "parallels: " + file + ": " + p.shared().size() + " BAT entries (first: entry " + i
                    + " at 0x" + Long.toHexString(h.batOffset() + 4L * i) + ") share a cluster with another entry";
            if (!ro) {
                throw new CorruptImageException(what + "; refused for writing (repair it with "
                        + "qemu-img check -r all)");
            }
            options.warn(what);
        }
        if (!p.pastEnd().isEmpty()) {
            int i = p.pastEnd().get(0);
            String what = "parallels: " + file + ": " + p.pastEnd().size() + " BAT entries (first: entry " + i
                    + " at 0x" + Long.toHexString(h.batOffset() + 4L * i) + ", cluster 0x"
                    + Long.toHexString(bat.host(i)) + ") point past the end of the file (" + fileSize + " bytes)";
            if (!ro && !h.inUseSet()) {
                throw new CorruptImageException(what + "; refused for writing");
            }
            if (ro) {
                options.warn(what + "; reading them fails");
            }
        }
        long inUseAtOpen = h.inUseSet() ? 0 : h.inUse();
        if (!ro) {
            ParallelsHeader marked = h.withInUse(ParallelsHeader.IN_USE);
            if (dropExtension) {
                marked = marked.withExtOff(0);
                options.warn("parallels: " + file + ": dirty bitmap extension dropped (it would go stale)");
            }
            storage.write(marked.bytes().buffer(), 0);
            storage.force();
            if (h.inUseSet() && !p.pastEnd().isEmpty()) {
                for (int i : p.pastEnd()) {
                    bat.store(storage, i, 0);
                }
                storage.force();
                options.warn("parallels: " + file + " was not closed cleanly: " + p.pastEnd().size()
                        + " BAT entries pointing past the end of the file cleared");
            }
            h = marked;
        }
        return new ParallelsImage(format, storage, h, bat, ro, inUseAtOpen, unclean);
    }

    /**
     * Reads the Format Extension: a read-only open only reports what it cannot read; a writable one
     * refuses an unreadable extension or an unknown NECESSARY feature. Returns whether a writable
     * open must drop the extension (it holds a dirty bitmap, or only droppable features).
     */
    private static boolean checkExtension(Storage storage, ParallelsHeader h, OpenOptions options) throws IOException {
        Path file = storage.path();
        FormatExtension ext;
        try {
            ext = FormatExtension.read(storage, h, file);
        } catch (IOException e) {
            if (!options.readOnly()) {
                throw e;
            }
            options.warn(e.getMessage() + " (ignored: read-only open)");
            return false;
        }
        if (!ext.checksumOk()) {
            options.warn("parallels: " + file + ": format extension at 0x"
                    + Long.toHexString(h.extOffSectors() * ParallelsHeader.SECTOR) + " fails its MD5 checksum");
        }
        FormatExtension.Feature unknown = ext.unknownNecessary();
        if (unknown != null && !options.readOnly()) {
            throw new UnsupportedFeatureException("parallels: " + file + " has an unknown feature 0x"
                    + Long.toHexString(unknown.magic()) + " flagged necessary in its format extension; it can be"
                    + " opened read-only only");
        }
        boolean transit = ext.features().stream()
                .anyMatch(f -> !f.known() && (f.flags() & FormatExtension.FLAG_TRANSIT) != 0);
        if (transit && !options.readOnly()) {
            throw new UnsupportedFeatureException("parallels: " + file + " has an unknown feature flagged transit in"
                    + " its format extension (to be kept as is); it can be opened read-only only");
        }
        return true;
    }

    /** Wraps a file {@link ParallelsFormat} has just created (header not in use, BAT all zero). */
    static ParallelsImage created(ImageFormat format, Storage storage, ParallelsHeader h) throws IOException {
        ParallelsHeader marked = h.withInUse(ParallelsHeader.IN_USE);
        storage.write(marked.bytes().buffer(), 0);
        return new ParallelsImage(format, storage, marked, Bat.empty(h), false, h.inUse(), false);
    }

    long clusterBytes() {
        return clusterBytes;
    }

    // ---- facts ----------------------------------------------------------------------------------

    @Override
    public String variant() {
        return "expanding";
    }

    @Override
    public ParentReference parent() {
        return null;
    }

    @Override
    public long fillUnit() {
        return clusterBytes;
    }

    @Override
    public long allocatedBytes() {
        return empty ? 0 : Math.min(bat.allocatedCount() * clusterBytes, virtualSize);
    }

    @Override
    public Map<String, Object> details() {
        Map<String, Object> d = new LinkedHashMap<>();
        d.put("magic", opened.extended() ? "WithouFreSpacExt" : "WithoutFreeSpace");
        d.put("cluster_size", clusterBytes);
        d.put("bat_entries", opened.batEntries());
        d.put("allocated_clusters", empty ? 0 : bat.allocatedCount());
        d.put("data_offset", opened.dataOffsetBytes());
        d.put("geometry", opened.cylinders() + "/" + opened.heads());
        d.put("unclean_at_open", uncleanAtOpen);
        if (empty) {
            d.put("empty_image_flag", true);
        }
        if (opened.extOffSectors() != 0) {
            d.put("format_extension", opened.extOffSectors() * ParallelsHeader.SECTOR);
        }
        return d;
    }

    // ---- read -----------------------------------------------------------------------------------

    private int clusterOf(long offset) {
        return (int) (offset / clusterBytes);
    }

    private long host(long offset) {
        return empty ? 0 : bat.host(clusterOf(offset));
    }

    @Override
    public long map(long offset, long maxLength) {
        long len = Math.min(maxLength, blockSize - (offset & (blockSize - 1)));
        return host(offset) != 0 ? Run.data(len) : Run.unallocated(len);
    }

    @Override
    public HostLocation hostLocation(long offset) {
        long h = host(offset);
        return h != 0 ? new HostLocation(storage, h + offset % clusterBytes) : null;
    }

    @Override
    public void readData(long offset, ByteBuffer dst) throws IOException {
        long h = host(offset);
        if (h == 0) {
            zeroFill(dst); // discarded since map()
            return;
        }
        long pos = h + offset % clusterBytes;
        if (h >= knownEnd && !storage.zeroTail()) {
            throw new TruncatedImageException("parallels", storage.path(), "data cluster " + clusterOf(offset), pos,
                    dst.remaining(), knownEnd);
        }
        storage.read(dst, pos);
        zeroFill(dst); // the part of a last cluster the file does not hold reads as zeros (as in QEMU)
    }

    private static void zeroFill(ByteBuffer dst) {
        if (dst.hasArray()) {
            java.util.Arrays.fill(dst.array(), dst.arrayOffset() + dst.position(), dst.arrayOffset() + dst.limit(),
                    (byte) 0);
            dst.position(dst.limit());
        }
        while (dst.hasRemaining()) {
            dst.put((byte) 0);
        }
    }

    // ---- write ----------------------------------------------------------------------------------

    @Override
    public WriteResult write(long offset, ByteBuffer src) throws IOException {
        checkWritable();
        int c = clusterOf(offset);
        long in = offset % clusterBytes;
        long h = bat.host(c);
        if (h != 0) {
            storage.write(src, h + in);
            return WriteResult.DONE;
        }
        long start = (long) c * clusterBytes;
        boolean whole = in == 0 && src.remaining() >= Math.min(clusterBytes, virtualSize - start);
        if (!whole) {
            return WriteResult.NEEDS_FILL;
        }
        alloc.lock();
        try {
            h = bat.host(c);
            if (h != 0) {
                storage.write(src, h);
                return WriteResult.DONE;
            }
            long k = taken.nextClearBit(0);
            long at = bat.clusterHost(k);
            if (!bat.representable(at)) {
                throw new UnsupportedFeatureException("parallels: " + storage.path() + ": a cluster at 0x"
                        + Long.toHexString(at) + " cannot be recorded in the BAT (file too large for this image)");
            }
            ByteBuffer full = src;
            if (src.remaining() < clusterBytes) { // the last cluster of a disk whose size is not a multiple
                full = ByteBuffer.allocate((int) clusterBytes);
                full.put(src).clear();
            }
            storage.write(full, at);              // data first ...
            knownEnd = Math.max(knownEnd, at + clusterBytes);
            taken.set((int) k);
            bat.store(storage, c, at);            // ... then the entry pointing to it
            referenced.set((int) k);
            return WriteResult.DONE;
        } finally {
            alloc.unlock();
        }
    }

    /**
     * Whole clusters: the entry is cleared (the cluster reads as zeros, or as the layer below in a
     * bundle's snapshot chain) and the cluster's host space punched, as QEMU's discard does.
     */
    @Override
    public void discard(long offset, long length) throws IOException {
        checkWritable();
        alloc.lock();
        try {
            for (long off = offset; off < offset + length; off += clusterBytes) {
                int c = clusterOf(off);
                long h = bat.host(c);
                if (h == 0) {
                    continue;
                }
                bat.store(storage, c, 0);         // the entry first: a crash leaves an unreferenced cluster
                referenced.clear((int) bat.clusterNumber(h));
                storage.zeroRange(h, clusterBytes);
            }
        } finally {
            alloc.unlock();
        }
    }

    // ---- compact --------------------------------------------------------------------------------

    /** Clusters moved per batch: their copies are forced together before their entries are written. */
    private static final long PACK_BATCH_BYTES = 64L << 20;

    /**
     * See {@link ParallelsCompact}. This file holds the virtual bytes from {@code start} of the disk
     * whose layers below are {@code parent} (null: a base image), its first {@code shown} bytes
     * (a bundle's Storage range may be shorter than its image file): clusters reaching past them
     * are kept. Step 1 clears the BAT entry of
     * every cluster that {@link Verdict#of} frees (the format has no zero marker, so zeros over
     * parent data stay) and forces the entries; step 2 moves the last referenced clusters into the
     * lowest unreferenced ones, a batch at a time: the copies forced, then their entries written;
     * step 3 forces the entries and only then cuts the file after the last referenced cluster
     * (never below data_off, parallels.txt "data_off"). A vacated cluster lies above every later
     * hole, so nothing is written where an entry that is not yet durable still points.
     */
    CompactResult compact(Disk parent, long start, long shown, LongConsumer progress) throws IOException {
        checkWritable();
        alloc.lock();
        try {
            ByteBuffer data = ByteBuffer.allocate((int) clusterBytes);
            ByteBuffer scratch = ByteBuffer.allocate((int) clusterBytes);
            long freed = 0;
            long clusters = (virtualSize + clusterBytes - 1) / clusterBytes;
            for (int c = 0; c < clusters; c++) {
                long offset = c * clusterBytes;
                long length = Math.min(clusterBytes, virtualSize - offset);
                long h = bat.host(c);
                if (h != 0 && offset + length <= shown) {
                    data.clear().limit((int) length);
                    readData(offset, data);
                    data.flip();
                    if (Verdict.of(data, start + offset, parent, scratch) == Verdict.UNALLOCATED) {
                        bat.store(storage, c, 0);
                        referenced.clear((int) bat.clusterNumber(h));
                        freed++;
                    }
                }
                progress.accept(start + Math.min(shown, offset + length));
            }
            storage.force(); // every cleared entry is durable before its cluster is overwritten
            long moved = pack(data);
            storage.force(); // every moved entry is durable before the file is cut under the old places
            long end = bat.clusterHost(referenced.length());
            if (storage.size() > end) {
                storage.truncate(end);
                storage.force();
            }
            knownEnd = storage.size();
            taken.clear();
            taken.or(referenced);
            return CompactResult.counts(clusterBytes, freed, 0, moved);
        } finally {
            alloc.unlock();
        }
    }

    /** Step 2 of {@link #compact}, under {@code alloc}: returns the number of clusters moved. */
    private long pack(ByteBuffer buffer) throws IOException {
        int[] owner = new int[referenced.length()]; // data-area cluster -> BAT entry, -1 = none
        java.util.Arrays.fill(owner, -1);
        for (int i = 0; i < bat.length(); i++) {
            long h = bat.host(i);
            if (h != 0) {
                owner[(int) bat.clusterNumber(h)] = i;
            }
        }
        int batch = (int) Math.max(1, Math.min(1024, PACK_BATCH_BYTES / clusterBytes));
        int[] from = new int[batch];
        int[] to = new int[batch];
        long moved = 0;
        org.vdmount.vd.compact.SlotPairing pairing = new org.vdmount.vd.compact.SlotPairing(owner.length,
                c -> owner[c] >= 0);
        while (true) {
            int n = pairing.next(from, to);
            if (n == 0) {
                return moved;
            }
            for (int j = 0; j < n; j++) {
                buffer.clear();
                storage.read(buffer, bat.clusterHost(from[j]));
                zeroFill(buffer); // a last cluster the file holds only in part
                storage.write(buffer.flip(), bat.clusterHost(to[j]));
            }
            storage.force(); // the copies are durable before any entry points at them
            for (int j = 0; j < n; j++) {
                int entry = owner[from[j]];
                bat.store(storage, entry, bat.clusterHost(to[j]));
                owner[to[j]] = entry;
                owner[from[j]] = -1;
                referenced.set(to[j]);
                referenced.clear(from[j]);
            }
            moved += n;
        }
    }

    // ---- flush / close --------------------------------------------------------------------------

    /**
     * A clean close: everything forced, the file cut after the last referenced cluster (no leaked
     * tail for {@code qemu-img check}), then the in-use field restored, forced.
     */
    @Override
    protected void closeImage() throws IOException {
        try {
            if (!readOnly) {
                alloc.lock();
                try {
                    storage.force();
                    long end = bat.clusterHost(referenced.length());
                    if (storage.size() > end) {
                        storage.truncate(end);
                    }
                    ByteBuffer field = Bytes.allocate(4).put32le(0, inUseAtOpen).buffer();
                    storage.write(field, ParallelsHeader.OFF_IN_USE);
                    storage.force();
                } finally {
                    alloc.unlock();
                }
            }
        } finally {
            storage.close();
        }
    }
}
