package org.vdmount.vd.format.vdi;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.UUID;
import java.util.concurrent.locks.ReentrantLock;
import java.util.concurrent.locks.StampedLock;
import org.vdmount.vd.Bytes;
import org.vdmount.vd.Image;
import org.vdmount.vd.ImageFormat;
import org.vdmount.vd.NotThisFormatException;
import org.vdmount.vd.OpenOptions;
import org.vdmount.vd.ParentReference;
import org.vdmount.vd.ReadOnlyException;
import org.vdmount.vd.Run;
import org.vdmount.vd.TruncatedImageException;
import org.vdmount.vd.UnsupportedFeatureException;
import org.vdmount.vd.WriteResult;
import org.vdmount.vd.storage.Storage;

/**
 * One VDI layer: fixed, dynamic ("normal") or differencing. Block i of the disk lives in data slot
 * {@code map[i]} at {@code offData + slot * (cbBlockExtra + cbBlock) + cbBlockExtra}.
 *
 * <h2>Concurrency</h2>
 * {@link #map} reads the cached block map without a lock. Slots only move when a discard of a
 * dynamic image moves the last slot into the hole (VirtualBox's vdiDiscardBlock approach); that
 * runs under the write side of {@link #slotLock}. In-place writes hold its read side while they
 * look up and write a slot; reads are optimistic and retry under the read side if a move
 * intervened. Allocation, discard and header updates are serialised by {@link #allocLock}.
 *
 * <h2>Ordering</h2>
 * Allocation appends a slot: data first, then the header's allocated count, then the map entry.
 * A discard that moves a block forces the file before overwriting the hole and again before the
 * moved block's entry points at it; the shrunken count and the file truncation are written by the
 * next {@link #flush}, and a slot given up is never reused before a force.
 */
final class VdiImage implements Image {
    private static final int ZERO_CHUNK = 1 << 20;
    private static final ByteBuffer ZEROS = ByteBuffer.allocateDirect(ZERO_CHUNK).asReadOnlyBuffer();

    private final ImageFormat format;
    private final Storage storage;
    private final boolean readOnly;
    private final VdiHeader opened;
    private final VdiBlockMap map;
    private final ParentReference parent;
    private final long virtualSize;
    private final long blockSize;
    private final int blockShift;
    private final long extraBytes;
    private final long strideBytes;
    private final long dataOffset;
    private final long mapOffset;
    private final boolean fixed;
    private final boolean differencing;

    private final ReentrantLock allocLock = new ReentrantLock();
    private final StampedLock slotLock = new StampedLock();

    // guarded by allocLock
    private int allocatedSlots;
    private boolean syncPending;
    private boolean headerDirty;
    private boolean truncatePending;

    private volatile UUID modifyUuid;
    private volatile boolean modified;
    private volatile boolean dirty;
    private volatile int referencedBlocks;

    private VdiImage(ImageFormat format, Storage storage, VdiHeader h, VdiBlockMap map, boolean readOnly) {
        this.format = format;
        this.storage = storage;
        this.readOnly = readOnly;
        this.opened = h;
        this.map = map;
        this.virtualSize = h.virtualSizeBytes();
        this.blockSize = h.blockSizeBytes();
        this.blockShift = Long.numberOfTrailingZeros(blockSize);
        this.extraBytes = h.blockExtraBytes();
        this.strideBytes = h.strideBytes();
        this.dataOffset = h.dataOffsetBytes();
        this.mapOffset = h.blockMapOffsetBytes();
        this.fixed = h.imageType() == VdiHeader.TYPE_FIXED;
        this.differencing = h.imageType() == VdiHeader.TYPE_DIFF;
        this.parent = differencing ? new ParentReference(h.uuidLinkage(), List.of(), "vdi") : null;
        this.allocatedSlots = (int) h.allocatedBlocks();
        this.modifyUuid = h.uuidModify();
        this.referencedBlocks = map.allocatedCount();
    }

    /** Reads, validates and caches the header and the block map of an opened file. */
    static VdiImage open(ImageFormat format, Storage storage, OpenOptions options) throws IOException {
        Path file = storage.path();
        long fileSize = storage.size();
        if (fileSize < VdiHeader.PRE_HEADER_SIZE) {
            throw new NotThisFormatException("vdi: " + file + " is too small for a VDI image (" + fileSize + " bytes)");
        }
        ByteBuffer buf = ByteBuffer.allocate((int) Math.min(fileSize, VdiHeader.SIZE));
        storage.readFully(buf, 0, "vdi", "header");
        Bytes b = Bytes.of(buf.array());
        if (b.u32le(0x40) != VdiHeader.SIGNATURE) {
            throw new NotThisFormatException("vdi: " + file + " has no VDI signature at 0x40");
        }
        long version = b.u32le(0x44);
        if (version != VdiHeader.VERSION_0 && version >>> 16 != 1) {
            throw new UnsupportedFeatureException("vdi: " + file + " has unsupported version " + (version >>> 16)
                    + "." + (version & 0xFFFF) + " in the pre-header at 0x44");
        }
        long cbHeader = version == VdiHeader.VERSION_0 || buf.capacity() < 0x4C ? 0 : b.u32le(0x48);
        int need = VdiHeader.requiredSize(version, cbHeader);
        if (buf.capacity() < need) {
            throw new TruncatedImageException("vdi", file, "header", 0, need, fileSize);
        }
        VdiHeader h = VdiHeader.parse(b);
        h.validate(file, fileSize);
        if (h.isV0() && !options.readOnly()) {
            throw new UnsupportedFeatureException("vdi: " + file + " has a v0 header (VirtualBox before 1.4);"
                    + " it can be opened read-only only");
        }
        return new VdiImage(format, storage, h, VdiBlockMap.load(storage, h, options), options.readOnly());
    }

    /** Wraps a file {@link VdiFormat#create} has just written. */
    static VdiImage created(ImageFormat format, Storage storage, VdiHeader h, VdiBlockMap map) {
        return new VdiImage(format, storage, h, map, false);
    }

    // ---- facts ----------------------------------------------------------------------------------

    @Override
    public ImageFormat format() {
        return format;
    }

    @Override
    public String variant() {
        return fixed ? "fixed" : differencing ? "differencing" : "dynamic";
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
        return opened.uuidCreate();
    }

    /** uuidModify: changes on the first write of every writable session. */
    UUID modificationUuid() {
        return modifyUuid;
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
        return blockSize;
    }

    @Override
    public long fillUnit() {
        return blockSize;
    }

    @Override
    public long allocatedBytes() {
        return Math.min((long) referencedBlocks * blockSize, virtualSize);
    }

    @Override
    public Map<String, Object> details() {
        Map<String, Object> d = new LinkedHashMap<>();
        d.put("version", (opened.version() >>> 16) + "." + (opened.version() & 0xFFFF));
        d.put("block_size", blockSize);
        d.put("blocks", opened.blockCount());
        d.put("allocated_blocks", referencedBlocks);
        if (extraBytes != 0) {
            d.put("block_extra", extraBytes);
        }
        d.put("data_offset", dataOffset);
        d.put("uuid_modify", modifyUuid);
        if (differencing) {
            d.put("uuid_parent_modify", opened.uuidParentModify());
        }
        String comment = opened.commentText();
        if (!comment.isEmpty()) {
            d.put("comment", comment);
        }
        return d;
    }

    // ---- read -----------------------------------------------------------------------------------

    private int blockOf(long offset) {
        return (int) (offset >>> blockShift);
    }

    private long dataPos(int slot) {
        return dataOffset + Integer.toUnsignedLong(slot) * strideBytes + extraBytes;
    }

    @Override
    public long map(long offset, long maxLength) {
        long len = Math.min(maxLength, blockSize - (offset & (blockSize - 1)));
        int entry = map.get(blockOf(offset));
        if (VdiBlockMap.isAllocated(entry)) {
            return Run.data(len);
        }
        return entry == VdiBlockMap.ZERO ? Run.zero(len) : Run.unallocated(len);
    }

    @Override
    public void readData(long offset, ByteBuffer dst) throws IOException {
        int start = dst.position();
        long stamp = slotLock.tryOptimisticRead();
        if (stamp != 0) {
            long failedAt = readOnce(offset, dst);
            if (slotLock.validate(stamp)) {
                if (failedAt >= 0) {
                    throw truncated(offset, failedAt, dst.limit() - start);
                }
                return;
            }
            dst.position(start); // a slot moved meanwhile: read again under the lock
        }
        stamp = slotLock.readLock();
        try {
            long failedAt = readOnce(offset, dst);
            if (failedAt >= 0) {
                throw truncated(offset, failedAt, dst.limit() - start);
            }
        } finally {
            slotLock.unlockRead(stamp);
        }
    }

    /** Reads the block's bytes; returns -1, or the file position of a read the file ended. */
    private long readOnce(long offset, ByteBuffer dst) throws IOException {
        int entry = map.get(blockOf(offset));
        if (!VdiBlockMap.isAllocated(entry)) {
            zeroFill(dst); // discarded concurrently with this read
            return -1;
        }
        long pos = dataPos(entry) + (offset & (blockSize - 1));
        int want = dst.remaining();
        return storage.read(dst, pos) == want ? -1 : pos;
    }

    private TruncatedImageException truncated(long offset, long pos, int length) throws IOException {
        return new TruncatedImageException("vdi", storage.path(), "data of block " + blockOf(offset), pos, length,
                storage.size());
    }

    private static void zeroFill(ByteBuffer dst) {
        while (dst.hasRemaining()) {
            dst.put(ZEROS.duplicate().limit(Math.min(dst.remaining(), ZERO_CHUNK)));
        }
    }

    // ---- write ----------------------------------------------------------------------------------

    @Override
    public WriteResult write(long offset, ByteBuffer src) throws IOException {
        checkWritable();
        beginModification();
        int block = blockOf(offset);
        long within = offset & (blockSize - 1);
        long stamp = slotLock.readLock();
        try {
            int entry = map.get(block);
            if (VdiBlockMap.isAllocated(entry)) {
                storage.write(src, dataPos(entry) + within);
                markDirty();
                return WriteResult.DONE;
            }
        } finally {
            slotLock.unlockRead(stamp);
        }
        int n = src.remaining();
        boolean whole = within == 0 && (n == blockSize || offset + n == virtualSize);
        if (!whole) {
            return WriteResult.NEEDS_FILL;
        }
        allocate(block, src);
        markDirty();
        return WriteResult.DONE;
    }

    /** Writes a whole block the image does not hold: appends a slot (or records zeros). */
    private void allocate(int block, ByteBuffer src) throws IOException {
        allocLock.lock();
        try {
            int entry = map.get(block);
            if (VdiBlockMap.isAllocated(entry)) { // allocated meanwhile; slots cannot move under allocLock
                storage.write(src, dataPos(entry));
                return;
            }
            if (isZero(src)) {
                // A base image reads FREE as zeros; a differencing one needs the marker to hide its parent.
                if (differencing && entry != VdiBlockMap.ZERO) {
                    putEntry(block, VdiBlockMap.ZERO);
                }
                src.position(src.limit());
                return;
            }
            syncIfPending();
            int slot = allocatedSlots;
            if (slot >= map.length()) { // every slot counted: reuse one no block uses
                slot = map.unusedSlot(allocatedSlots);
                if (slot < 0) {
                    throw new IllegalStateException("vdi: no free slot although block " + block + " is free");
                }
            }
            long pos = dataPos(slot);
            int n = src.remaining();
            if (extraBytes > 0) {
                writeZeros(pos - extraBytes, extraBytes);
            }
            storage.write(src, pos);
            if (n < blockSize) {
                writeZeros(pos + n, blockSize - n); // last block of a disk that is not a multiple of it
            }
            if (slot == allocatedSlots) {
                allocatedSlots++;
                writeHeader();
            }
            putEntry(block, slot);
            referencedBlocks++;
        } finally {
            allocLock.unlock();
        }
    }

    // ---- discard --------------------------------------------------------------------------------

    /**
     * Whole blocks. Differencing: the ZERO marker (its slot is given up). Dynamic: FREE, and the
     * last slot moves into the hole so the file can shrink. Fixed: the slot's bytes are punched
     * out (or zeroed) and stay allocated.
     */
    @Override
    public void discard(long offset, long length) throws IOException {
        checkWritable();
        if (length <= 0) {
            return;
        }
        beginModification();
        for (int b = blockOf(offset); b <= blockOf(offset + length - 1); b++) {
            discardBlock(b);
        }
        markDirty();
    }

    /** After a change completed: the next flush must force (set after, so a flush racing it cannot miss it). */
    private void markDirty() {
        if (!dirty) {
            dirty = true;
        }
    }

    private void discardBlock(int block) throws IOException {
        allocLock.lock();
        try {
            int entry = map.get(block);
            int target = differencing ? VdiBlockMap.ZERO : VdiBlockMap.FREE;
            if (!VdiBlockMap.isAllocated(entry)) {
                if (differencing && entry != VdiBlockMap.ZERO) {
                    putEntry(block, VdiBlockMap.ZERO);
                }
                return;
            }
            if (fixed) {
                long pos = dataPos(entry);
                if (!storage.punchHole(pos, blockSize)) {
                    writeZeros(pos, blockSize);
                }
                return;
            }
            long stamp = slotLock.writeLock();
            try {
                releaseSlot(block, entry, target);
            } finally {
                slotLock.unlockWrite(stamp);
            }
        } finally {
            allocLock.unlock();
        }
    }

    /** Under both locks: the block stops using {@code hole}; the last slot moves into it. */
    private void releaseSlot(int block, int hole, int target) throws IOException {
        putEntry(block, target);
        map.release(hole);
        referencedBlocks--;
        trimUnusedTail();
        if (hole < allocatedSlots) {
            int last = allocatedSlots - 1;
            int mover = map.owner(last);
            storage.force(); // the block's release is durable before its slot is overwritten
            copySlot(last, hole);
            storage.force(); // the moved data is durable before the map points at it
            putEntry(mover, hole);
            map.release(last);
            trimUnusedTail();
        }
        syncPending = true;
        headerDirty = true;
        truncatePending = true;
    }

    private void trimUnusedTail() {
        while (allocatedSlots > 0 && map.owner(allocatedSlots - 1) < 0) {
            allocatedSlots--;
        }
    }

    private void copySlot(int from, int to) throws IOException {
        ByteBuffer buf = ByteBuffer.allocate((int) Math.min(strideBytes, ZERO_CHUNK));
        long src = dataPos(from) - extraBytes;
        long dst = dataPos(to) - extraBytes;
        for (long done = 0; done < strideBytes; done += buf.capacity()) {
            buf.clear().limit((int) Math.min(buf.capacity(), strideBytes - done));
            storage.read(buf, src + done);
            while (buf.hasRemaining()) {
                buf.put((byte) 0); // the source slot ended early (truncated file): zeros
            }
            buf.flip();
            storage.write(buf, dst + done);
        }
    }

    // ---- metadata -------------------------------------------------------------------------------

    private void putEntry(int block, int entry) throws IOException {
        ByteBuffer b = ByteBuffer.allocate(4);
        Bytes.of(b).put32le(0, Integer.toUnsignedLong(entry));
        storage.write(b, mapOffset + 4L * block);
        map.set(block, entry);
    }

    private void writeHeader() throws IOException {
        VdiHeader h = opened.withState(allocatedSlots, modifyUuid);
        Bytes b = Bytes.allocate(VdiHeader.SIZE);
        h.write(b);
        storage.write(b.slice(VdiHeader.PRE_HEADER_SIZE, h.writtenSize()), VdiHeader.PRE_HEADER_SIZE);
    }

    private void syncIfPending() throws IOException {
        if (syncPending) {
            storage.force();
            syncPending = false;
        }
    }

    /** VirtualBox gives every writing session a new uuidModify, written before the first change. */
    private void beginModification() throws IOException {
        if (modified) {
            return;
        }
        allocLock.lock();
        try {
            if (!modified) {
                modifyUuid = UUID.randomUUID();
                syncIfPending();
                writeHeader();
                modified = true;
            }
        } finally {
            allocLock.unlock();
        }
    }

    private void writeZeros(long pos, long length) throws IOException {
        for (long done = 0; done < length; done += ZERO_CHUNK) {
            storage.write(ZEROS.duplicate().limit((int) Math.min(ZERO_CHUNK, length - done)), pos + done);
        }
    }

    private static boolean isZero(ByteBuffer src) {
        for (int p = src.position(); p < src.limit(); p += ZERO_CHUNK) {
            int n = Math.min(ZERO_CHUNK, src.limit() - p);
            ByteBuffer part = src.duplicate();
            part.limit(p + n).position(p);
            if (part.mismatch(ZEROS.duplicate().limit(n)) >= 0) {
                return false;
            }
        }
        return true;
    }

    private void checkWritable() throws ReadOnlyException {
        if (readOnly) {
            throw new ReadOnlyException("vdi: " + storage.path() + " is opened read-only");
        }
    }

    // ---- flush, close ---------------------------------------------------------------------------

    /** Forces data, then writes the header (allocated count) and cuts slots given up by discards. */
    @Override
    public void flush() throws IOException {
        if (readOnly || !dirty) {
            return;
        }
        allocLock.lock();
        try {
            dirty = false;
            storage.force();
            syncPending = false;
            boolean wrote = false;
            if (headerDirty) {
                writeHeader();
                headerDirty = false;
                wrote = true;
            }
            if (truncatePending) {
                long end = dataOffset + (long) allocatedSlots * strideBytes;
                if (storage.size() > end) {
                    storage.truncate(end);
                    wrote = true;
                }
                truncatePending = false;
            }
            if (wrote) {
                storage.force();
            }
        } finally {
            allocLock.unlock();
        }
    }

    @Override
    public void close() throws IOException {
        try {
            flush();
        } finally {
            storage.close();
        }
    }
}
