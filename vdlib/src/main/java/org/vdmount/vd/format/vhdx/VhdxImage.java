package org.vdmount.vd.format.vhdx;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.UUID;
import java.util.concurrent.atomic.AtomicLongArray;
import java.util.function.LongConsumer;
import org.vdmount.vd.Disk;
import org.vdmount.vd.HostLocation;
import org.vdmount.vd.Image;
import org.vdmount.vd.ImageFormat;
import org.vdmount.vd.MetadataEdit;
import org.vdmount.vd.MetadataField;
import org.vdmount.vd.ParentReference;
import org.vdmount.vd.Run;
import org.vdmount.vd.UnsupportedFeatureException;
import org.vdmount.vd.WriteResult;
import org.vdmount.vd.compact.CompactResult;
import org.vdmount.vd.compact.Verdict;
import org.vdmount.vd.format.common.ImageBase;

/**
 * One opened VHDX file. Reads look the block up in the cached BAT (and, for a PARTIALLY_PRESENT
 * block of a differencing image, in its cached sector bitmap) without taking a lock; writes that
 * change metadata go through {@link BlockWriter} under one allocation lock.
 */
final class VhdxImage extends ImageBase {
    final VhdxFile file;
    final VhdxMetadata meta;
    private final RegionTable.Entry metadataRegion;
    final Bat bat;
    final SectorBitmaps bitmaps;
    final Journal journal;
    final BlockWriter writer;
    private final ParentReference parent;
    private final String logState;
    private final String creator;
    private final int sectorSize;
    /** [start, end) of the header section, the log and every region: never moved, never cut. */
    private final List<long[]> fixedRanges;

    VhdxImage(ImageFormat format, VhdxFile file, boolean readOnly, Headers headers, VhdxMetadata meta,
              RegionTable.Entry metadataRegion, Bat bat, ParentReference parent, String logState, String creator,
              long allocationStart, long presentBlocks, List<long[]> fixedRanges) {
        super(format, file.storage(), readOnly, meta.virtualSizeBytes(), meta.blockSizeBytes());
        this.file = file;
        this.meta = meta;
        this.metadataRegion = metadataRegion;
        this.bat = bat;
        this.bitmaps = meta.hasParent() ? new SectorBitmaps(file, bat, meta.logicalSectorSize()) : null;
        this.journal = new Journal(file, headers, bat, bitmaps);
        this.writer = new BlockWriter(file, meta, bat, bitmaps, journal, allocationStart, presentBlocks);
        this.parent = parent;
        this.logState = logState;
        this.creator = creator;
        this.sectorSize = meta.logicalSectorSize();
        this.fixedRanges = List.copyOf(fixedRanges);
    }

    @Override
    public String variant() {
        return meta.hasParent() ? "differencing" : meta.leaveBlocksAllocated() ? "fixed" : "dynamic";
    }

    @Override
    public int logicalSectorSize() {
        return meta.logicalSectorSize();
    }

    @Override
    public int physicalSectorSize() {
        return meta.physicalSectorSize();
    }

    /** The virtual disk id (page 83 data). */
    @Override
    public UUID uuid() {
        return meta.page83();
    }

    /** Children record the DataWriteGuid in their parent_linkage. */
    @Override
    public UUID linkUuid() {
        return journal.headers().current().dataWriteGuid();
    }

    @Override
    public ParentReference parent() {
        return parent;
    }

    /**
     * Base images handle partial writes into fresh blocks themselves (new blocks read as zeros);
     * differencing images need whole logical sectors in sectors they do not hold.
     */
    @Override
    public long fillUnit() {
        return meta.hasParent() ? sectorSize : blockSize;
    }

    // ---- read ---------------------------------------------------------------------------------

    @Override
    public long map(long offset, long maxLength) throws IOException {
        long block = offset / blockSize;
        long blockStart = block * blockSize;
        long max = Math.min(Math.min(maxLength, blockStart + blockSize - offset), virtualSize - offset);
        if (max <= 0) {
            return Run.unallocated(Math.max(1, maxLength));
        }
        long entry = bat.payload(block);
        switch (Bat.state(entry)) {
            case Bat.FULLY_PRESENT:
                return Run.data(max);
            case Bat.PARTIALLY_PRESENT:
                return partialRun(block, offset - blockStart, max);
            case Bat.NOT_PRESENT:
                return Run.unallocated(max);
            default: // ZERO, UNDEFINED, UNMAPPED: zeros that hide any parent
                return Run.zero(max);
        }
    }

    private long partialRun(long block, long rel, long max) throws IOException {
        AtomicLongArray bits = bitmaps.get(block);
        int from = (int) (rel / sectorSize);
        int to = (int) ((rel + max + sectorSize - 1) / sectorSize);
        int end = SectorBitmaps.runEnd(bits, from, to);
        long len = Math.min(max, (long) end * sectorSize - rel);
        return SectorBitmaps.bit(bits, from) ? Run.data(len) : Run.unallocated(len);
    }

    @Override
    public HostLocation hostLocation(long offset) throws IOException {
        long block = offset / blockSize;
        long entry = bat.payload(block);
        int state = Bat.state(entry);
        return state == Bat.FULLY_PRESENT || state == Bat.PARTIALLY_PRESENT
                ? new HostLocation(file.storage(), Bat.offset(entry) + offset - block * blockSize) : null;
    }

    @Override
    public void readData(long offset, ByteBuffer dst) throws IOException {
        int limit = dst.limit();
        try {
            while (dst.hasRemaining()) {
                long block = offset / blockSize;
                long rel = offset - block * blockSize;
                int n = (int) Math.min(dst.remaining(), blockSize - rel);
                dst.limit(dst.position() + n);
                long entry = bat.payload(block);
                int state = Bat.state(entry);
                if (state == Bat.FULLY_PRESENT || state == Bat.PARTIALLY_PRESENT) {
                    file.readData(dst, Bat.offset(entry) + rel, "payload block");
                } else {
                    while (dst.hasRemaining()) { // changed under us (discard): zeros
                        dst.put((byte) 0);
                    }
                }
                dst.limit(limit);
                offset += n;
            }
        } finally {
            dst.limit(limit);
        }
    }

    // ---- write --------------------------------------------------------------------------------

    @Override
    public WriteResult write(long offset, ByteBuffer src) throws IOException {
        checkWritable();
        return writer.write(offset, src);
    }

    @Override
    public void discard(long offset, long length) throws IOException {
        checkWritable();
        writer.discard(offset, length);
    }

    /**
     * See {@link VhdxCompact}: each present payload block is judged by its {@link Verdict} and
     * released (PAYLOAD_BLOCK_ZERO in a base image; NOT_PRESENT or ZERO in a differencing one);
     * then {@link BlockWriter#packAndCut} moves and cuts.
     */
    CompactResult compact(Disk parent, LongConsumer progress) throws IOException {
        checkWritable();
        if (meta.leaveBlocksAllocated()) {
            throw new UnsupportedFeatureException("vhdx: " + file.path() + " is a fixed image; compact frees"
                    + " blocks of dynamic and differencing images only");
        }
        List<Image> layers = new ArrayList<>(parent == null ? List.of() : parent.layers());
        layers.add(this);
        Disk chain = Disk.of(layers);
        ByteBuffer data = ByteBuffer.allocate((int) blockSize);
        ByteBuffer scratch = ByteBuffer.allocate((int) blockSize);
        long freed = 0;
        long zeroed = 0;
        for (long b = 0; b * blockSize < virtualSize; b++) {
            long off = b * blockSize;
            int state = Bat.state(bat.payload(b));
            if (state == Bat.FULLY_PRESENT || state == Bat.PARTIALLY_PRESENT) {
                data.clear().limit((int) Math.min(blockSize, virtualSize - off));
                chain.read(off, data);
                data.flip();
                Verdict v = Verdict.of(data, off, parent, scratch);
                if (v == Verdict.UNALLOCATED) {
                    writer.releaseBlock(b, parent == null ? Bat.ZERO : Bat.NOT_PRESENT);
                    freed++;
                } else if (v == Verdict.ZERO) {
                    writer.releaseBlock(b, Bat.ZERO);
                    zeroed++;
                }
            }
            progress.accept(Math.min(virtualSize, off + blockSize));
        }
        long moved = writer.packAndCut(fixedRanges);
        return CompactResult.counts(blockSize, freed, zeroed, moved);
    }

    @Override
    protected void flushWritable() throws IOException {
        writer.flush();
    }

    // ---- facts, close -------------------------------------------------------------------------

    @Override
    public long allocatedBytes() {
        return Math.min(writer.presentBlocks() * blockSize, virtualSize);
    }

    @Override
    public Map<String, Object> details() {
        VhdxHeader h = journal.headers().current();
        Map<String, Object> d = new LinkedHashMap<>();
        d.put("block-size", blockSize);
        d.put("logical-sector-size", meta.logicalSectorSize());
        d.put("physical-sector-size", meta.physicalSectorSize());
        d.put("leave-blocks-allocated", meta.leaveBlocksAllocated());
        d.put("log", logState);
        d.put("log-size", h.logLengthBytes());
        d.put("virtual-disk-id", meta.page83());
        d.put("data-write-guid", h.dataWriteGuid());
        d.put("file-write-guid", h.fileWriteGuid());
        d.put("log-guid", h.logGuid());
        d.put("header-sequence", h.sequence());
        if (!creator.isEmpty()) {
            d.put("creator", creator);
        }
        if (meta.parentLocator() != null) {
            d.put("parent-locator", meta.parentLocator().entries());
        }
        return d;
    }

    /**
     * The virtual disk id (page 83 data) and, when differencing, the parent locator: its
     * parent_linkage (parent-uuid) or the whole locator (rebase).
     */
    @Override
    public java.util.Set<MetadataField> editableFields() {
        return meta.hasParent() ? java.util.EnumSet.of(MetadataField.UUID, MetadataField.PARENT_UUID,
                MetadataField.BACKING) : java.util.EnumSet.of(MetadataField.UUID);
    }

    @Override
    public void checkEdit(MetadataEdit edit) throws IOException {
        edit.checkSupported(this);
        MetadataEdit.Backing b = edit.backing();
        if (b != null) {
            if (b.none()) {
                throw new UnsupportedFeatureException("vhdx: " + storage.path() + ": a differencing VHDX cannot be "
                        + "made standalone in place (partially present blocks need a parent); use vd convert");
            }
            b.requireParent(this);
        }
        MetadataEdits.regionPages(file, metadataRegion, meta, storage.path(), edit);
    }

    /** Flushes, then writes the changed metadata region pages through the log (MS-VHDX 2.3). */
    @Override
    public void edit(MetadataEdit edit) throws IOException {
        checkEdit(edit);
        flush();
        writer.commitPages(MetadataEdits.regionPages(file, metadataRegion, meta, storage.path(), edit));
    }

    /** Test hook: called before every metadata write and flush. */
    void hook(VhdxFile.Hook h) {
        file.hook(h);
    }

    /** Test hook: drops the image as a crash would, writing nothing more. */
    void abandon() throws IOException {
        markClosed();
        file.storage().close();
    }

    @Override
    protected void closeImage() throws IOException {
        try {
            if (!readOnly) {
                writer.close();
            }
        } finally {
            file.storage().close();
        }
    }
}
