package org.vdmount.vd.format.vdi;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.BitSet;
import java.util.concurrent.atomic.AtomicIntegerArray;
import org.vdmount.vd.Bytes;
import org.vdmount.vd.CorruptImageException;
import org.vdmount.vd.OpenOptions;
import org.vdmount.vd.storage.Storage;

/**
 * The cached block map (VDICore.h VDIIMAGEBLOCKPOINTER array): entry i is the slot in the data area
 * holding virtual block i, or {@link #FREE} / {@link #ZERO}. Readers use {@link #get} without a
 * lock; all changes happen under the image's allocation lock. Writable opens also keep the reverse
 * map (slot to block) that moving a block into a discarded hole needs.
 */
final class VdiBlockMap {
    /** VDI_IMAGE_BLOCK_FREE: not in this image (a differencing image shows its parent). */
    static final int FREE = 0xFFFF_FFFF;
    /** VDI_IMAGE_BLOCK_ZERO: reads as zeros, hides the parent. */
    static final int ZERO = 0xFFFF_FFFE;
    private static final int NO_OWNER = -1;
    private static final int LOAD_CHUNK_BYTES = 1 << 20;

    private final AtomicIntegerArray entries;
    /** Slot to block, or {@link #NO_OWNER}; null for read-only opens. */
    private final int[] owners;
    /** One past the highest slot a block used when the map was loaded (0 if none). */
    private final int slotsInUse;

    private VdiBlockMap(AtomicIntegerArray entries, int[] owners, int slotsInUse) {
        this.entries = entries;
        this.owners = owners;
        this.slotsInUse = slotsInUse;
    }

    static boolean isAllocated(int entry) {
        return Integer.compareUnsigned(entry, ZERO) < 0;
    }

    /** A fresh map: every block {@link #FREE}, or block i in slot i for fixed images. */
    static VdiBlockMap fresh(int blocks, boolean fixed) {
        AtomicIntegerArray e = new AtomicIntegerArray(blocks);
        int[] owners = new int[blocks];
        for (int i = 0; i < blocks; i++) {
            e.set(i, fixed ? i : FREE);
            owners[i] = fixed ? i : NO_OWNER;
        }
        return new VdiBlockMap(e, owners, fixed ? blocks : 0);
    }

    /**
     * Reads and validates the map of a header already validated (so the map lies inside the file
     * and its size is capped). Every allocated entry must be below the block count (no image has
     * more slots than blocks); whether the slots in use agree with the header's allocated count is
     * {@link VdiImage}'s business ({@link #slotsInUse}). Two blocks sharing a slot and data slots
     * past the end of the file are refused for writing (VirtualBox and we would write over live
     * data or into a hole) and reported for read-only opens.
     */
    static VdiBlockMap load(Storage storage, VdiHeader h, OpenOptions options) throws IOException {
        Path file = storage.path();
        int blocks = (int) h.blockCount();
        AtomicIntegerArray e = new AtomicIntegerArray(blocks);
        int[] owners = options.readOnly() ? null : new int[blocks];
        if (owners != null) {
            Arrays.fill(owners, NO_OWNER);
        }
        BitSet used = owners == null ? new BitSet(blocks) : null;
        int inUse = 0;
        int shared = 0;
        ByteBuffer buf = ByteBuffer.allocate((int) Math.min(LOAD_CHUNK_BYTES, 4L * blocks));
        for (int first = 0; first < blocks; first += buf.capacity() / 4) {
            int n = Math.min(buf.capacity() / 4, blocks - first);
            buf.clear().limit(4 * n);
            storage.readFully(buf, h.blockMapOffsetBytes() + 4L * first, "vdi", "block map");
            Bytes b = Bytes.of(buf.array());
            for (int i = 0; i < n; i++) {
                int block = first + i;
                int entry = b.s32le(4 * i);
                e.set(block, entry);
                if (!isAllocated(entry)) {
                    continue;
                }
                if (Integer.toUnsignedLong(entry) >= blocks) {
                    throw new CorruptImageException("vdi", file, "block map", h.blockMapOffsetBytes() + 4L * block,
                            "block " + block + " points to slot " + Integer.toUnsignedString(entry)
                                    + " >= block count " + blocks);
                }
                inUse = Math.max(inUse, entry + 1);
                if (owners != null) {
                    if (owners[entry] != NO_OWNER) {
                        throw new CorruptImageException("vdi", file, "block map", h.blockMapOffsetBytes() + 4L * block,
                                "blocks " + owners[entry] + " and " + block + " share slot " + entry);
                    }
                    owners[entry] = block;
                } else if (used.get(entry)) {
                    shared++;
                } else {
                    used.set(entry);
                }
            }
        }
        if (shared > 0) {
            options.warn("vdi: " + file + ": " + shared + " block map entries share a data slot with another"
                    + " block (corrupt map; read-only use only)");
        }
        VdiBlockMap map = new VdiBlockMap(e, owners, inUse);
        map.checkTruncated(file, storage.size(), h, options);
        return map;
    }

    /** Data blocks cut off by the end of the file: a warning read-only, refused for writing. */
    private void checkTruncated(Path file, long fileSize, VdiHeader h, OpenOptions options)
            throws CorruptImageException {
        long vsize = h.virtualSizeBytes();
        int truncated = 0;
        int first = -1;
        for (int i = 0; i < entries.length(); i++) {
            int entry = entries.get(i);
            if (!isAllocated(entry) || (long) i * h.blockSizeBytes() >= vsize) {
                continue;
            }
            long need = Math.min(h.blockSizeBytes(), vsize - (long) i * h.blockSizeBytes());
            if (h.dataOffsetBytes() + entry * h.strideBytes() + h.blockExtraBytes() + need > fileSize) {
                truncated++;
                first = first < 0 ? i : first;
            }
        }
        if (truncated > 0 && owners != null) {
            throw new CorruptImageException("vdi", file, "block map", h.blockMapOffsetBytes() + 4L * first,
                    truncated + " data blocks (first: block " + first + " in slot " + entries.get(first)
                            + ") lie past the end of the file (" + fileSize + " bytes); refused for writing, open it"
                            + " read-only");
        }
        if (truncated > 0 && !options.zeroTail()) { // allowed: TruncationScan names what is lost
            options.warn("vdi: " + file + ": " + truncated + " data blocks (first: block " + first
                    + ") extend past the end of the file; reading them fails");
        }
    }

    /**
     * One past the highest slot in use at load time: the value the header's allocated count must
     * have, since VirtualBox and QEMU append the next block at slot cBlocksAllocated. Equal to the
     * number of allocated blocks unless slots leaked (a crash during a discard).
     */
    int slotsInUse() {
        return slotsInUse;
    }

    int length() {
        return entries.length();
    }

    int get(int block) {
        return entries.get(block);
    }

    void set(int block, int entry) {
        entries.set(block, entry);
        if (owners != null && isAllocated(entry)) {
            owners[entry] = block;
        }
    }

    /** The block stored in {@code slot}, or -1 if none. Writable opens only. */
    int owner(int slot) {
        return owners[slot];
    }

    /** Marks {@code slot} as holding nothing. Writable opens only. */
    void release(int slot) {
        owners[slot] = NO_OWNER;
    }

    /** A slot below {@code slots} that no block uses (a leaked slot), or -1. */
    int unusedSlot(int slots) {
        for (int s = 0; s < slots; s++) {
            if (owners[s] == NO_OWNER) {
                return s;
            }
        }
        return -1;
    }

    /** Number of blocks holding a slot (data present in this image). */
    int allocatedCount() {
        int n = 0;
        for (int i = 0; i < entries.length(); i++) {
            if (isAllocated(entries.get(i))) {
                n++;
            }
        }
        return n;
    }
}
