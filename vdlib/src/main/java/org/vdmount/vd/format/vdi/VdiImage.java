package org.vdmount.vd.format.vdi;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.EnumSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.UUID;
import java.util.concurrent.locks.StampedLock;
import java.util.function.LongConsumer;
import org.vdmount.vd.Bytes;
import org.vdmount.vd.Disk;
import org.vdmount.vd.HostLocation;
import org.vdmount.vd.Image;
import org.vdmount.vd.ImageFormat;
import org.vdmount.vd.MetadataEdit;
import org.vdmount.vd.MetadataField;
import org.vdmount.vd.NotThisFormatException;
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
 * One VDI layer: fixed, dynamic ("normal") or differencing. Block i of the disk lives in data slot
 * {@code map[i]} at {@code offData + slot * (cbBlockExtra + cbBlock) + cbBlockExtra}.
 *
 * <p>{@link #map} reads the cached block map without a lock. Slots move only when a discard of a
 * dynamic image moves the last slot into the hole ({@link VdiAllocator}), under the write side of
 * its slot lock: in-place writes hold the read side while they look up and write a slot, and reads
 * are optimistic, retrying under the read side if a move intervened.
 */
final class VdiImage extends ImageBase {
    private final VdiHeader opened;
    private final VdiBlockMap map;
    private final VdiAllocator allocator;
    private final StampedLock slotLock;
    private final ParentReference parent;
    private final int blockShift;
    private final boolean fixed;
    private final boolean differencing;

    private VdiImage(ImageFormat format, Storage storage, VdiHeader h, VdiBlockMap map, boolean readOnly) {
        super(format, storage, readOnly, h.virtualSizeBytes(), h.blockSizeBytes());
        this.opened = h;
        this.map = map;
        this.allocator = new VdiAllocator(storage, h, map);
        this.slotLock = allocator.slotLock;
        this.blockShift = Long.numberOfTrailingZeros(blockSize);
        this.fixed = h.imageType() == VdiHeader.TYPE_FIXED;
        this.differencing = h.imageType() == VdiHeader.TYPE_DIFF;
        this.parent = differencing ? new ParentReference(h.uuidLinkage(), List.of(), null) : null;
    }

    /** The allocator, for {@link VdiResize}. */
    VdiAllocator allocator() {
        return allocator;
    }

    /** The block map in memory, for {@link VdiResize}. */
    VdiBlockMap blockMap() {
        return map;
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
        VdiBlockMap map = VdiBlockMap.load(storage, h, options);
        h = reconcileAllocatedCount(storage, h, map, options);
        VdiImage image = new VdiImage(format, storage, h, map, options.readOnly());
        if (!options.readOnly()) {
            image.allocator.reclaimLeakedSlots(); // then count == blocks referenced, as qemu-img check wants
        }
        return image;
    }

    /**
     * The header's cBlocksAllocated must be one past the highest slot in use: VirtualBox (and
     * QEMU) append the next block at that slot, so a count that is too low makes them write over
     * a live block, and one that is too high (a crash between a discard and the next flush) leaks
     * slots and fails {@code qemu-img check}. A writable open rewrites the count from the block map
     * (with a warning naming both values); a read-only open only warns and writes nothing.
     */
    private static VdiHeader reconcileAllocatedCount(Storage storage, VdiHeader h, VdiBlockMap map,
                                                     OpenOptions options) throws IOException {
        long recorded = h.allocatedBlocks();
        int inUse = map.slotsInUse();
        if (recorded == inUse) {
            return h;
        }
        int blocks = map.allocatedCount();
        String what = "vdi: " + storage.path() + ": header at 0x" + Integer.toHexString(h.isV0() ? 0x170 : 0x184)
                + " counts " + recorded + " allocated blocks, the block map uses " + inUse
                + (blocks == inUse ? "" : " slots (" + blocks + " blocks, the rest leaked)");
        if (options.readOnly()) {
            options.warn(what + "; not repaired (read-only open)"
                    + (recorded < inUse ? "; VirtualBox would allocate over live data" : ""));
            return h;
        }
        VdiHeader fixed = h.withState(inUse, h.uuidModify());
        VdiAllocator.writeHeader(storage, fixed);
        storage.force();
        options.warn(what + "; repaired: count rewritten from " + recorded + " to " + inUse);
        return fixed;
    }

    /** Wraps a file {@link VdiFormat#create} has just written. */
    static VdiImage created(ImageFormat format, Storage storage, VdiHeader h, VdiBlockMap map) {
        return new VdiImage(format, storage, h, map, false);
    }

    // ---- facts ----------------------------------------------------------------------------------

    @Override
    public String variant() {
        return fixed ? "fixed" : differencing ? "differencing" : "dynamic";
    }

    @Override
    public UUID uuid() {
        return opened.uuidCreate();
    }

    /** uuidModify: changes on the first write of every writable session. */
    UUID modificationUuid() {
        return allocator.modificationUuid();
    }

    @Override
    public ParentReference parent() {
        return parent;
    }

    @Override
    public long allocatedBytes() {
        return Math.min((long) allocator.referencedBlocks() * blockSize, virtualSize);
    }

    /** VDI stores all of them (VDICore.h VDIHEADER1PLUS); the parent only by its UUID. */
    @Override
    public Set<MetadataField> editableFields() {
        return fixed ? EnumSet.of(MetadataField.UUID, MetadataField.COMMENT, MetadataField.GEOMETRY)
                : EnumSet.of(MetadataField.UUID, MetadataField.PARENT_UUID, MetadataField.COMMENT,
                        MetadataField.GEOMETRY, MetadataField.BACKING);
    }

    @Override
    public void checkEdit(MetadataEdit edit) throws IOException {
        change(edit);
    }

    @Override
    public void edit(MetadataEdit edit) throws IOException {
        allocator.rewriteHeader(change(edit));
    }

    /** The header change {@code edit} asks for, every value checked; nothing is written. */
    private java.util.function.UnaryOperator<VdiHeader> change(MetadataEdit edit) throws IOException {
        edit.checkSupported(this);
        if (edit.parentUuid() != null && !differencing && edit.backing() == null) {
            throw new UnsupportedFeatureException("vdi: " + storage.path() + " is not a differencing image: it has no "
                    + "parent-uuid (give it a parent with vd rebase)");
        }
        byte[] comment = null;
        if (edit.comment() != null) {
            byte[] text = edit.comment().getBytes(StandardCharsets.UTF_8);
            if (text.length >= VdiHeader.COMMENT_SIZE) {
                throw new UnsupportedFeatureException("vdi: comment of " + text.length + " bytes is longer than "
                        + (VdiHeader.COMMENT_SIZE - 1) + " (szComment at 0x54)");
            }
            comment = Arrays.copyOf(text, VdiHeader.COMMENT_SIZE);
        }
        VdiHeader.Geometry legacy = null;
        if (edit.geometry() != null) {
            MetadataEdit.Geometry g = edit.geometry();
            if (g.cylinders() > 0xFFFF_FFFFL || g.heads() > 0xFFFF_FFFFL || g.sectors() > 0xFFFF_FFFFL) {
                throw new UnsupportedFeatureException("vdi: geometry " + g + " does not fit 32-bit fields");
            }
            legacy = new VdiHeader.Geometry(g.cylinders(), g.heads(), g.sectors(), 512);
        }
        long type = opened.imageType();
        UUID linkage = edit.parentUuid();
        UUID parentModify = null;
        MetadataEdit.Backing b = edit.backing();
        if (b != null) {
            if (b.none()) {
                type = VdiHeader.TYPE_NORMAL;
                linkage = VdiHeader.nullUuid();
                parentModify = VdiHeader.nullUuid();
            } else {
                Image p = b.requireParent(this);
                if (p.linkUuid() == null) {
                    throw new UnsupportedFeatureException("vdi: parent " + p.storage().path() + " (" + p.format().name()
                            + ") has no UUID a VDI differencing image could link to");
                }
                type = VdiHeader.TYPE_DIFF;
                linkage = p.linkUuid();
                parentModify = p instanceof VdiImage v ? v.modificationUuid() : VdiHeader.nullUuid();
            }
        }
        long newType = type;
        UUID newLinkage = linkage;
        UUID newParentModify = parentModify;
        byte[] newComment = comment;
        VdiHeader.Geometry newLegacy = legacy;
        return h -> h.edited(newType, edit.uuid(), newLinkage, newParentModify, newComment, newLegacy);
    }

    @Override
    public Map<String, Object> details() {
        Map<String, Object> d = new LinkedHashMap<>();
        d.put("version", (opened.version() >>> 16) + "." + (opened.version() & 0xFFFF));
        d.put("block_size", blockSize);
        d.put("blocks", opened.blockCount());
        d.put("allocated_blocks", allocator.referencedBlocks());
        if (opened.blockExtraBytes() != 0) {
            d.put("block_extra", opened.blockExtraBytes());
        }
        d.put("data_offset", opened.dataOffsetBytes());
        d.put("uuid_modify", allocator.modificationUuid());
        if (differencing) {
            d.put("uuid_parent_modify", opened.uuidParentModify());
        }
        VdiHeader.Geometry g = opened.legacyGeometry();
        if (g.cylinders() != 0 || g.heads() != 0 || g.sectors() != 0) {
            d.put("geometry", g.cylinders() + "/" + g.heads() + "/" + g.sectors());
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
    public HostLocation hostLocation(long offset) {
        int entry = map.get(blockOf(offset));
        return VdiBlockMap.isAllocated(entry)
                ? new HostLocation(storage, allocator.dataPos(entry) + (offset & (blockSize - 1))) : null;
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
        long pos = allocator.dataPos(entry) + (offset & (blockSize - 1));
        int want = dst.remaining();
        return storage.read(dst, pos) == want ? -1 : pos;
    }

    private TruncatedImageException truncated(long offset, long pos, int length) throws IOException {
        return new TruncatedImageException("vdi", storage.path(), "data of block " + blockOf(offset), pos, length,
                storage.size());
    }

    private static void zeroFill(ByteBuffer dst) {
        while (dst.hasRemaining()) {
            dst.put(VdiAllocator.ZEROS.duplicate().limit(Math.min(dst.remaining(), VdiAllocator.ZERO_CHUNK)));
        }
    }

    // ---- write ----------------------------------------------------------------------------------

    @Override
    public WriteResult write(long offset, ByteBuffer src) throws IOException {
        checkWritable();
        int block = blockOf(offset);
        long within = offset & (blockSize - 1);
        int n = src.remaining();
        boolean whole = within == 0 && (n == blockSize || offset + n == virtualSize);
        if (!whole && !VdiBlockMap.isAllocated(map.get(block))) {
            return WriteResult.NEEDS_FILL; // writes nothing, not even the modification UUID
        }
        allocator.beginModification();
        long stamp = slotLock.readLock();
        try {
            int entry = map.get(block);
            if (VdiBlockMap.isAllocated(entry)) {
                storage.write(src, allocator.dataPos(entry) + within);
                allocator.markDirty();
                return WriteResult.DONE;
            }
        } finally {
            slotLock.unlockRead(stamp);
        }
        if (!whole) {
            return WriteResult.NEEDS_FILL; // discarded meanwhile
        }
        allocator.allocate(block, src);
        allocator.markDirty();
        return WriteResult.DONE;
    }

    // ---- discard --------------------------------------------------------------------------------

    /** Whole blocks; see {@link VdiAllocator#discardBlock}. */
    @Override
    public void discard(long offset, long length) throws IOException {
        checkWritable();
        if (length <= 0) {
            return;
        }
        allocator.beginModification();
        for (int b = blockOf(offset); b <= blockOf(offset + length - 1); b++) {
            allocator.discardBlock(b);
        }
        allocator.markDirty();
    }

    // ---- compact --------------------------------------------------------------------------------

    /** See {@link VdiCompact}: frees blocks by their {@link Verdict}, packs the slots, cuts the file. */
    CompactResult compact(Disk parent, LongConsumer progress) throws IOException {
        checkWritable();
        if (fixed) {
            throw new UnsupportedFeatureException("vdi: " + storage.path() + " is a fixed image; compact frees"
                    + " blocks of dynamic and differencing images only");
        }
        allocator.beginModification();
        int blocks = map.length();
        ByteBuffer data = ByteBuffer.allocate((int) blockSize);
        ByteBuffer scratch = ByteBuffer.allocate((int) blockSize);
        long freed = 0;
        long zeroed = 0;
        for (int b = 0; b < blocks; b++) {
            long offset = (long) b << blockShift;
            if (offset >= virtualSize) {
                break;
            }
            if (VdiBlockMap.isAllocated(map.get(b))) {
                data.clear().limit((int) Math.min(blockSize, virtualSize - offset));
                readData(offset, data);
                data.flip();
                Verdict v = Verdict.of(data, offset, parent, scratch);
                if (v == Verdict.UNALLOCATED) {
                    allocator.freeBlock(b, VdiBlockMap.FREE);
                    freed++;
                } else if (v == Verdict.ZERO) {
                    allocator.freeBlock(b, VdiBlockMap.ZERO);
                    zeroed++;
                }
            }
            progress.accept(Math.min(virtualSize, offset + blockSize));
        }
        int moved = allocator.packSlots();
        allocator.markDirty();
        allocator.flush();
        return CompactResult.counts(blockSize, freed, zeroed, moved);
    }

    // ---- flush ----------------------------------------------------------------------------------

    @Override
    protected void flushWritable() throws IOException {
        allocator.flush();
    }
}
