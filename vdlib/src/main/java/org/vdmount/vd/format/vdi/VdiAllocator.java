package org.vdmount.vd.format.vdi;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.util.UUID;
import java.util.concurrent.locks.ReentrantLock;
import java.util.concurrent.locks.StampedLock;
import org.vdmount.vd.Bytes;
import org.vdmount.vd.storage.Storage;

/**
 * Every change to a VDI file's metadata: block allocation, discard, the header's allocated count
 * and modification UUID, flush. Serialised by {@link #allocLock}; slot moves also hold the write
 * side of {@link #slotLock}, whose read side guards in-place writes and validates optimistic reads.
 *
 * <h2>Ordering</h2>
 * Allocation appends a slot: data first, then the header's allocated count, then the map entry
 * (VirtualBox's order). A discard of a dynamic block frees its entry, forces, copies the last slot
 * into the hole (VirtualBox's vdiDiscardBlock approach, so the file can shrink), forces again and
 * only then points the moved block at the hole. The shrunken count and the file truncation are
 * written by the next {@link #flush} after a force, and a given-up slot is never reused before a
 * force: a crash leaves at worst a leaked slot, never two blocks sharing one.
 */
final class VdiAllocator {
    static final int ZERO_CHUNK = 1 << 20;
    private static final long PACK_BATCH_BYTES = 64L << 20;
    static final ByteBuffer ZEROS = ByteBuffer.allocateDirect(ZERO_CHUNK).asReadOnlyBuffer();

    private final Storage storage;
    private VdiHeader opened; // guarded by allocLock once open
    private final VdiBlockMap map;
    private final long blockSize;
    private final long extraBytes;
    private final long strideBytes;
    private final long dataOffset;
    private final long mapOffset;
    private final boolean fixed;
    private final boolean differencing;

    private final ReentrantLock allocLock = new ReentrantLock();
    final StampedLock slotLock = new StampedLock();

    // guarded by allocLock
    private int allocatedSlots;
    private boolean syncPending;
    private boolean headerDirty;
    private boolean truncatePending;

    private volatile UUID modifyUuid;
    private volatile boolean modified;
    private volatile boolean dirty;
    private volatile int referencedBlocks;

    VdiAllocator(Storage storage, VdiHeader h, VdiBlockMap map) {
        this.storage = storage;
        this.opened = h;
        this.map = map;
        this.blockSize = h.blockSizeBytes();
        this.extraBytes = h.blockExtraBytes();
        this.strideBytes = h.strideBytes();
        this.dataOffset = h.dataOffsetBytes();
        this.mapOffset = h.blockMapOffsetBytes();
        this.fixed = h.imageType() == VdiHeader.TYPE_FIXED;
        this.differencing = h.imageType() == VdiHeader.TYPE_DIFF;
        this.allocatedSlots = (int) h.allocatedBlocks();
        this.modifyUuid = h.uuidModify();
        this.referencedBlocks = map.allocatedCount();
    }

    UUID modificationUuid() {
        return modifyUuid;
    }

    int referencedBlocks() {
        return referencedBlocks;
    }

    /** File position of the data of {@code slot}. */
    long dataPos(int slot) {
        return dataOffset + Integer.toUnsignedLong(slot) * strideBytes + extraBytes;
    }

    /** Writes a whole block the image does not hold: appends a slot (or records zeros). */
    void allocate(int block, ByteBuffer src) throws IOException {
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
                storage.writeZeros(pos - extraBytes, extraBytes);
            }
            storage.write(src, pos);
            if (n < blockSize) {
                storage.writeZeros(pos + n, blockSize - n); // last block of a disk that is not a multiple of it
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

    /** After a change completed: the next flush must force (set after, so a flush racing it cannot miss it). */
    void markDirty() {
        if (!dirty) {
            dirty = true;
        }
    }

    /**
     * Differencing: the ZERO marker (its slot is given up). Dynamic: FREE, and the last slot moves
     * into the hole. Fixed: the slot's bytes are punched out (or zeroed) and stay allocated.
     */
    void discardBlock(int block) throws IOException {
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
                storage.zeroRange(pos, blockSize);
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

    private void putEntry(int block, int entry) throws IOException {
        ByteBuffer b = ByteBuffer.allocate(4);
        Bytes.of(b).put32le(0, Integer.toUnsignedLong(entry));
        storage.write(b, mapOffset + 4L * block);
        map.set(block, entry);
    }

    private void writeHeader() throws IOException {
        writeHeader(storage, opened.withState(allocatedSlots, modifyUuid));
    }

    /**
     * Flushes, then rewrites the header with {@code change} applied (metadata after the data it
     * describes) and forces it.
     */
    void rewriteHeader(java.util.function.UnaryOperator<VdiHeader> change) throws IOException {
        flush();
        allocLock.lock();
        try {
            opened = change.apply(opened);
            writeHeader();
            storage.force();
        } finally {
            allocLock.unlock();
        }
    }

    /** Writes the header of {@code h} (not the pre-header) in place. */
    static void writeHeader(Storage storage, VdiHeader h) throws IOException {
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

    /**
     * Repair on a writable open: slots the header counts but no block uses (a crash between the
     * header's count and the map entry of an allocation, or inside a discard's slot move) are
     * given back the way a discard gives them back — the last slot moves into each hole — and the
     * count and file end are written. Afterwards count == blocks referenced, as qemu-img check and
     * VirtualBox expect. Returns the number of slots reclaimed.
     */
    int reclaimLeakedSlots() throws IOException {
        if (fixed || allocatedSlots == referencedBlocks) {
            return 0;
        }
        allocLock.lock();
        long stamp = slotLock.writeLock();
        try {
            int before = allocatedSlots;
            modifyUuid = UUID.randomUUID();
            modified = true;
            trimUnusedTail();
            for (int hole = map.unusedSlot(allocatedSlots); hole >= 0; hole = map.unusedSlot(allocatedSlots)) {
                int last = allocatedSlots - 1;
                int mover = map.owner(last);
                copySlot(last, hole);
                storage.force(); // the moved data is durable before the map points at it
                putEntry(mover, hole);
                map.release(last);
                trimUnusedTail();
            }
            storage.force(); // no map entry points past the new count before the count shrinks
            writeHeader();
            long end = dataOffset + (long) allocatedSlots * strideBytes;
            if (storage.size() > end) {
                storage.truncate(end);
            }
            storage.force();
            return before - allocatedSlots;
        } finally {
            slotLock.unlockWrite(stamp);
            allocLock.unlock();
        }
    }

    /**
     * Compaction, step 1: {@code block} gives its slot up ({@code target} is FREE or ZERO). Only the
     * entry is written; the slot is not reused before {@link #packSlots} forces the entry.
     */
    void freeBlock(int block, int target) throws IOException {
        allocLock.lock();
        long stamp = slotLock.writeLock();
        try {
            int slot = map.get(block);
            if (!VdiBlockMap.isAllocated(slot)) {
                return;
            }
            putEntry(block, target);
            map.release(slot);
            referencedBlocks--;
            syncPending = true;
            headerDirty = true;
            truncatePending = true;
        } finally {
            slotLock.unlockWrite(stamp);
            allocLock.unlock();
        }
    }

    /**
     * Compaction, step 2 (VirtualBox's vdiCompact): the highest used slots move into the lowest
     * unused ones, a batch at a time: the freed entries are forced, the batch's data is copied and
     * forced, and only then are the moved blocks' entries written. A vacated slot lies above every
     * later hole, so it is never written again; the count and the cut come with the next
     * {@link #flush}, which forces the entries first. Returns the number of slots moved.
     */
    int packSlots() throws IOException {
        allocLock.lock();
        long stamp = slotLock.writeLock();
        try {
            storage.force(); // every freed entry is durable before its slot is overwritten
            syncPending = false;
            int batch = (int) Math.max(1, Math.min(1024, PACK_BATCH_BYTES / strideBytes));
            int[] from = new int[batch];
            int[] to = new int[batch];
            int moved = 0;
            org.vdmount.vd.compact.SlotPairing pairing = new org.vdmount.vd.compact.SlotPairing(allocatedSlots,
                    s -> map.owner(s) >= 0);
            while (true) {
                int n = pairing.next(from, to);
                if (n == 0) {
                    break;
                }
                for (int i = 0; i < n; i++) {
                    copySlot(from[i], to[i]);
                }
                storage.force(); // the copies are durable before any entry points at them
                for (int i = 0; i < n; i++) {
                    putEntry(map.owner(from[i]), to[i]);
                    map.release(from[i]);
                }
                moved += n;
            }
            trimUnusedTail();
            syncPending = true;
            headerDirty = true;
            truncatePending = true;
            return moved;
        } finally {
            slotLock.unlockWrite(stamp);
            allocLock.unlock();
        }
    }

    /** VirtualBox gives every writing session a new uuidModify, written before the first change. */
    void beginModification() throws IOException {
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


    static boolean isZero(ByteBuffer src) {
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

    /** Forces data, then writes the header (allocated count) and cuts slots given up by discards. */
    void flush() throws IOException {
        if (!dirty) {
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
}
