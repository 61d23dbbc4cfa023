package org.vdmount.vd.format.vhd;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.BitSet;
import java.util.EnumSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.UUID;
import java.util.concurrent.atomic.AtomicIntegerArray;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.atomic.AtomicReferenceArray;
import java.util.concurrent.locks.ReentrantLock;
import java.util.function.LongConsumer;
import org.vdmount.vd.Bytes;
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
import org.vdmount.vd.storage.Storage;

/**
 * A dynamic or differencing VHD: blocks of a sector bitmap plus data, located by the BAT.
 *
 * <p>Reads: in a dynamic (base) image an allocated block is DATA as a whole and the bitmap is not
 * consulted (as QEMU does); in a differencing image each sector's bitmap bit says DATA (set) or
 * UNALLOCATED (clear: the parent's). The BAT and the bitmaps are cached and read without a lock:
 * BAT entries live in an {@link AtomicIntegerArray}, bitmaps are immutable arrays replaced (copy on
 * write) in an {@link AtomicReferenceArray}, and a bitmap is published before the BAT entry that
 * makes it reachable.
 *
 * <p>Writes: a new block is appended where the footer was. The footer is first rewritten at the new
 * end (so the file is a valid VHD at every instant), then the block's data (and bitmap) are
 * written; BAT entries and bitmaps changed since the last flush are written by {@link #flush} only
 * after the data has been forced: on-disk metadata never points at data that is not durable.
 * One lock guards allocation and the dirty sets; the footer copy at offset 0 is never touched.
 */
final class DynamicVhdImage extends ImageBase {
    private static final int UNUSED = -1;
    /** Base images: the block's on-disk bitmap is known to be (or is queued to become) all ones. */
    private static final byte[] FULL = new byte[0];
    private static final int SECTOR_SHIFT = 9;
    private static final int ENTRIES_PER_SECTOR = VhdGeometry.SECTOR / 4;

    private final VhdLayout layout;
    private final boolean differencing;
    private final int blockShift;
    private final long bitmapSize;
    private final int sectorsPerBlock;
    /** In-memory bitmap: one bit per sector, most significant bit first (as on disk), unpadded. */
    private final int bitmapBytes;
    private final long batOffset;
    private final AtomicIntegerArray bat;
    private final AtomicReferenceArray<byte[]> bitmaps;
    private final AtomicLong allocatedBlocks = new AtomicLong();
    private final ReentrantLock lock = new ReentrantLock();
    private final byte[] footer;
    /** Something was written since the last flush began (set after the write). */
    private volatile boolean unflushed;

    // guarded by lock
    private long nextFree;
    private final BitSet dirtyBatSectors = new BitSet();
    private final BitSet dirtyBitmaps = new BitSet();
    private ByteBuffer ones;

    DynamicVhdImage(ImageFormat format, Storage storage, VhdLayout layout) {
        super(format, storage, storage.readOnly(), layout.virtualSize(), layout.header().blockSizeBytes());
        this.layout = layout;
        this.differencing = layout.footer().differencing();
        this.blockShift = Long.numberOfTrailingZeros(blockSize);
        this.bitmapSize = layout.bitmapSize();
        this.sectorsPerBlock = (int) (blockSize >>> SECTOR_SHIFT);
        this.bitmapBytes = (sectorsPerBlock + 7) / 8;
        this.batOffset = layout.header().tableOffsetBytes();
        this.bat = new AtomicIntegerArray(layout.bat());
        this.bitmaps = new AtomicReferenceArray<>(layout.blockCount());
        this.footer = layout.footerRaw().clone();
        this.nextFree = layout.nextFreeOffset();
        for (int i = 0; i < layout.blockCount(); i++) {
            if (bat.get(i) != UNUSED) {
                allocatedBlocks.incrementAndGet();
            }
        }
    }

    // ---- facts --------------------------------------------------------------------------------

    @Override
    public String variant() {
        return layout.footer().variant();
    }

    @Override
    public UUID uuid() {
        return layout.footer().uniqueId();
    }

    @Override
    public ParentReference parent() {
        return layout.parent();
    }

    @Override
    public long fillUnit() {
        return differencing ? VhdGeometry.SECTOR : blockSize;
    }

    @Override
    public long allocatedBytes() {
        return Math.min(allocatedBlocks.get() * blockSize, virtualSize);
    }

    /** A differencing image also records its parent; no VHD stores a comment. */
    @Override
    public Set<MetadataField> editableFields() {
        return differencing ? EnumSet.of(MetadataField.UUID, MetadataField.PARENT_UUID, MetadataField.GEOMETRY,
                MetadataField.BACKING) : EnumSet.of(MetadataField.UUID, MetadataField.GEOMETRY);
    }

    /**
     * Flushes, then changes the dynamic header (parent; see {@link VhdEdits#writeHeader}), then the
     * footer: first the copy at 0, then the one at the end.
     */
    @Override
    public void checkEdit(MetadataEdit edit) throws IOException {
        edit.checkSupported(this);
        VhdEdits.check(this, edit);
    }

    @Override
    public void edit(MetadataEdit edit) throws IOException {
        checkEdit(edit);
        flush();
        lock.lock();
        try {
            if (VhdEdits.touchesHeader(edit)) {
                nextFree = VhdEdits.writeHeader(this, storage, layout.footer().dataOffsetBytes(), nextFree, footer, edit);
            }
            if (VhdEdits.touchesFooter(edit)) {
                VhdFooter f = VhdEdits.footer(VhdFooter.parse(Bytes.of(footer)), edit);
                byte[] raw = f.encode().buffer().array();
                storage.write(ByteBuffer.wrap(raw), 0);
                storage.force();
                storage.write(ByteBuffer.wrap(raw), nextFree);
                storage.force();
                System.arraycopy(raw, 0, footer, 0, VhdFooter.SIZE);
            }
        } finally {
            lock.unlock();
        }
    }

    @Override
    public Map<String, Object> details() {
        return VhdDetails.of(layout);
    }

    // ---- read ---------------------------------------------------------------------------------

    @Override
    public long map(long offset, long maxLength) throws IOException {
        int block = (int) (offset >>> blockShift);
        long inBlock = offset & (blockSize - 1);
        long max = Math.min(maxLength, blockSize - inBlock);
        int entry = bat.get(block);
        if (entry == UNUSED) {
            return Run.unallocated(max);
        }
        if (!differencing) {
            return Run.data(max);
        }
        byte[] bm = bitmap(block, entry);
        int sector = (int) (inBlock >>> SECTOR_SHIFT);
        boolean set = VhdSectorBitmap.bit(bm, sector);
        long len = Math.min(max, ((long) VhdSectorBitmap.runEnd(bm, sector, set, sectorsPerBlock) << SECTOR_SHIFT) - inBlock);
        return set ? Run.data(len) : Run.unallocated(len);
    }

    @Override
    public void readData(long offset, ByteBuffer dst) throws IOException {
        int entry = bat.get((int) (offset >>> blockShift));
        if (entry == UNUSED) { // discarded since map(): the discard wins
            while (dst.hasRemaining()) {
                dst.put((byte) 0);
            }
            return;
        }
        storage.readData(dst, dataPos(entry, offset & (blockSize - 1)), VhdLayout.FMT, "data block");
    }

    @Override
    public HostLocation hostLocation(long offset) {
        int entry = bat.get((int) (offset >>> blockShift));
        return entry == UNUSED ? null : new HostLocation(storage, dataPos(entry, offset & (blockSize - 1)));
    }

    private long dataPos(int entry, long inBlock) {
        return blockPos(entry) + bitmapSize + inBlock;
    }

    private static long blockPos(int entry) {
        return (entry & 0xFFFF_FFFFL) << SECTOR_SHIFT;
    }

    /** The cached bitmap of an allocated block, read from the file on first use. */
    private byte[] bitmap(int block, int entry) throws IOException {
        byte[] bm = bitmaps.get(block);
        if (bm != null) {
            return bm;
        }
        ByteBuffer buf = ByteBuffer.allocate(bitmapBytes);
        storage.readFully(buf, blockPos(entry), VhdLayout.FMT, "sector bitmap");
        bitmaps.compareAndSet(block, null, buf.array());
        return bitmaps.get(block);
    }

    // ---- write --------------------------------------------------------------------------------

    @Override
    public WriteResult write(long offset, ByteBuffer src) throws IOException {
        checkWritable();
        if (!src.hasRemaining()) {
            return WriteResult.DONE;
        }
        int block = (int) (offset >>> blockShift);
        long inBlock = offset & (blockSize - 1);
        WriteResult result = differencing ? writeDifferencing(block, inBlock, src) : writeBase(block, inBlock, src);
        if (result == WriteResult.DONE) {
            unflushed = true;
        }
        return result;
    }

    /** Dynamic base: a new block is written whole (fill unit = block), its bitmap all ones. */
    private WriteResult writeBase(int block, long inBlock, ByteBuffer src) throws IOException {
        int entry = bat.get(block);
        if (entry == UNUSED) {
            long blockStart = (long) block << blockShift;
            long whole = Math.min(blockSize, layout.virtualSize() - blockStart);
            if (inBlock != 0 || src.remaining() < whole) {
                return WriteResult.NEEDS_FILL;
            }
            lock.lock();
            try {
                entry = bat.get(block);
                if (entry == UNUSED) {
                    long pos = reserveBlock();
                    storage.write(onesBitmap(), pos);
                    storage.write(src, pos + bitmapSize);
                    bitmaps.set(block, FULL);
                    bat.set(block, (int) (pos >>> SECTOR_SHIFT));
                    dirtyBatSectors.set(block / ENTRIES_PER_SECTOR);
                    allocatedBlocks.incrementAndGet();
                    return WriteResult.DONE;
                }
            } finally {
                lock.unlock();
            }
        }
        if (bitmaps.get(block) != FULL) {
            markBitmapFull(block, entry);
        }
        storage.write(src, dataPos(entry, inBlock));
        return WriteResult.DONE;
    }

    /**
     * A block written by another tool may have clear bits; readers that honour the bitmap
     * (VirtualBox) would then miss what we write. Queue an all-ones bitmap for the next flush.
     */
    private void markBitmapFull(int block, int entry) throws IOException {
        ByteBuffer buf = ByteBuffer.allocate(bitmapBytes);
        storage.readFully(buf, blockPos(entry), VhdLayout.FMT, "sector bitmap");
        boolean full = true;
        for (int s = 0; s < sectorsPerBlock && full; s++) {
            full = VhdSectorBitmap.bit(buf.array(), s);
        }
        lock.lock();
        try {
            if (bat.get(block) == entry && bitmaps.get(block) != FULL) {
                if (!full) {
                    dirtyBitmaps.set(block);
                }
                bitmaps.set(block, FULL);
            }
        } finally {
            lock.unlock();
        }
    }

    /** Differencing: sectors are the fill unit; written sectors get their bits set. */
    private WriteResult writeDifferencing(int block, long inBlock, ByteBuffer src) throws IOException {
        int len = src.remaining();
        int first = (int) (inBlock >>> SECTOR_SHIFT);
        int last = (int) ((inBlock + len - 1) >>> SECTOR_SHIFT);
        boolean headPartial = (inBlock & (VhdGeometry.SECTOR - 1)) != 0;
        boolean tailPartial = ((inBlock + len) & (VhdGeometry.SECTOR - 1)) != 0;
        int entry = bat.get(block);
        if (headPartial || tailPartial) {
            if (entry == UNUSED) {
                return WriteResult.NEEDS_FILL;
            }
            byte[] bm = bitmap(block, entry);
            if (headPartial && !VhdSectorBitmap.bit(bm, first) || tailPartial && !VhdSectorBitmap.bit(bm, last)) {
                return WriteResult.NEEDS_FILL;
            }
        }
        if (entry == UNUSED) {
            entry = allocateDifferencing(block);
        }
        storage.write(src, dataPos(entry, inBlock));
        setBits(block, entry, first, last + 1);
        return WriteResult.DONE;
    }

    /** Appends an empty block (bits clear, data area fresh = zeros); returns its BAT entry. */
    private int allocateDifferencing(int block) throws IOException {
        lock.lock();
        try {
            int entry = bat.get(block);
            if (entry != UNUSED) {
                return entry;
            }
            long pos = reserveBlock();
            bitmaps.set(block, new byte[bitmapBytes]); // published before the entry that reaches it
            entry = (int) (pos >>> SECTOR_SHIFT);
            bat.set(block, entry);
            dirtyBitmaps.set(block);
            dirtyBatSectors.set(block / ENTRIES_PER_SECTOR);
            allocatedBlocks.incrementAndGet();
            return entry;
        } finally {
            lock.unlock();
        }
    }

    /** Sets bits [from, to) after their data was written (copy on write, under the lock). */
    private void setBits(int block, int entry, int from, int to) throws IOException {
        byte[] cur = bitmap(block, entry);
        if (VhdSectorBitmap.allSet(cur, from, to)) {
            return;
        }
        lock.lock();
        try {
            bitmaps.set(block, VhdSectorBitmap.withBits(bitmaps.get(block), from, to));
            dirtyBitmaps.set(block);
        } finally {
            lock.unlock();
        }
    }

    /**
     * Reserves bitmap + block at the end of the data, where the footer is, after writing the
     * footer behind it. Lock held.
     */
    private long reserveBlock() throws IOException {
        long pos = nextFree;
        if ((pos >>> SECTOR_SHIFT) >= VhdDynamicHeader.UNUSED_BAT_ENTRY) {
            throw new UnsupportedFeatureException(VhdLayout.FMT + ": " + storage.path() + " is full: a block at 0x"
                    + Long.toHexString(pos) + " cannot be addressed by a 32-bit BAT entry");
        }
        long end = pos + bitmapSize + blockSize;
        storage.write(ByteBuffer.wrap(footer), end);
        nextFree = end;
        return pos;
    }

    private ByteBuffer onesBitmap() {
        if (ones == null) {
            byte[] b = new byte[(int) bitmapSize];
            Arrays.fill(b, (byte) 0xFF);
            ones = ByteBuffer.wrap(b).asReadOnlyBuffer();
        }
        return ones.duplicate();
    }

    // ---- discard ------------------------------------------------------------------------------

    @Override
    public void discard(long offset, long length) throws IOException {
        checkWritable();
        for (long off = offset; off < offset + length; off += blockSize) {
            int block = (int) (off >>> blockShift);
            if (differencing) {
                zeroDifferencingBlock(block);
            } else {
                freeBaseBlock(block);
            }
        }
        unflushed = true;
    }

    /** Base: the BAT entry becomes unused and the block's host space is punched out. */
    private void freeBaseBlock(int block) throws IOException {
        int entry;
        lock.lock();
        try {
            entry = bat.get(block);
            if (entry == UNUSED) {
                return;
            }
            bat.set(block, UNUSED);
            bitmaps.set(block, null);
            dirtyBitmaps.clear(block);
            dirtyBatSectors.set(block / ENTRIES_PER_SECTOR);
            allocatedBlocks.decrementAndGet();
        } finally {
            lock.unlock();
        }
        storage.punchHole(blockPos(entry), bitmapSize + blockSize); // best effort; the slot is never reused
    }

    /** Differencing: VHD has no zero state, so the block holds zeros with every bit set. */
    private void zeroDifferencingBlock(int block) throws IOException {
        int entry = bat.get(block);
        if (entry == UNUSED) {
            entry = allocateDifferencing(block); // fresh space past the old end reads as zeros
        } else {
            storage.zeroRange(dataPos(entry, 0), blockSize);
        }
        setBits(block, entry, 0, sectorsPerBlock);
    }

    // ---- compact ------------------------------------------------------------------------------

    /**
     * See {@link VhdCompact}. Step 1 frees blocks (BAT entry unused), written and forced by a
     * flush; step 2 moves the last blocks (bitmap and data) into the freed slots a batch at a
     * time: copies forced, then the BAT entries written and forced; step 3 writes the footer at
     * the new end, forces, and cuts the file after it, so the file ends with a footer at every
     * instant (the two footers are the same bytes).
     */
    CompactResult compact(Disk parent, LongConsumer progress) throws IOException {
        checkWritable();
        if (!layout.tailFooter()) {
            throw new UnsupportedFeatureException(VhdLayout.FMT + ": " + storage.path() + " has no footer at its"
                    + " end; compact needs one");
        }
        List<Image> layers = new ArrayList<>(parent == null ? List.of() : parent.layers());
        layers.add(this);
        Disk chain = Disk.of(layers);
        ByteBuffer data = ByteBuffer.allocate((int) blockSize);
        ByteBuffer scratch = ByteBuffer.allocate((int) blockSize);
        long freed = 0;
        for (int b = 0; b < bat.length(); b++) {
            long off = (long) b << blockShift;
            if (off >= virtualSize) {
                break;
            }
            int entry = bat.get(b);
            if (entry != UNUSED) {
                data.clear().limit((int) Math.min(blockSize, virtualSize - off));
                chain.read(off, data);
                data.flip();
                if (Verdict.of(data, off, parent, scratch) == Verdict.UNALLOCATED) { // no zero state: ZERO keeps
                    lock.lock();
                    try {
                        bat.set(b, UNUSED);
                        bitmaps.set(b, null);
                        dirtyBitmaps.clear(b);
                        dirtyBatSectors.set(b / ENTRIES_PER_SECTOR);
                        allocatedBlocks.decrementAndGet();
                    } finally {
                        lock.unlock();
                    }
                    freed++;
                }
            }
            progress.accept(Math.min(virtualSize, off + blockSize));
        }
        unflushed = true;
        flushWritable(); // the freed entries are durable before their slots are overwritten
        lock.lock();
        try {
            long moved = pack();
            cutAfterLastBlock();
            return CompactResult.counts(blockSize, freed, 0, moved);
        } finally {
            lock.unlock();
        }
    }

    /**
     * Step 2, lock held: the highest blocks into the lowest holes while a hole lies below. The
     * holes are every block-sized gap between the metadata and the blocks in use (freed now, or
     * leaked by an earlier crash).
     */
    private long pack() throws IOException {
        List<Integer> used = new ArrayList<>();
        for (int b = 0; b < bat.length(); b++) {
            if (bat.get(b) != UNUSED) {
                used.add(b);
            }
        }
        used.sort((x, y) -> Long.compare(blockPos(bat.get(x)), blockPos(bat.get(y))));
        long stride = bitmapSize + blockSize;
        List<Long> holes = new ArrayList<>();
        long cur = metadataEnd();
        for (int b : used) {
            long pos = blockPos(bat.get(b));
            for (; cur + stride <= pos; cur += stride) {
                holes.add(cur);
            }
            cur = Math.max(cur, pos + stride);
        }
        java.util.Collections.reverse(used);
        int batch = (int) Math.max(1, Math.min(1024, (64L << 20) / stride));
        ByteBuffer buf = ByteBuffer.allocate((int) Math.min(stride, 1 << 20));
        long moved = 0;
        int h = 0;
        int u = 0;
        while (h < holes.size() && u < used.size() && holes.get(h) < blockPos(bat.get(used.get(u)))) {
            int start = u;
            for (int n = 0; n < batch && h < holes.size() && u < used.size()
                    && holes.get(h) < blockPos(bat.get(used.get(u))); n++, h++, u++) {
                copy(blockPos(bat.get(used.get(u))), holes.get(h), stride, buf);
            }
            storage.force(); // the copies are durable before the BAT points at them
            for (int k = start; k < u; k++) {
                int b = used.get(k);
                bat.set(b, (int) (holes.get(h - (u - k)) >>> SECTOR_SHIFT));
                dirtyBatSectors.set(b / ENTRIES_PER_SECTOR);
                moved++;
            }
            unflushed = true;
            flushWritable();
        }
        return moved;
    }

    private void copy(long from, long to, long length, ByteBuffer buf) throws IOException {
        for (long done = 0; done < length; done += buf.capacity()) {
            buf.clear().limit((int) Math.min(buf.capacity(), length - done));
            storage.readFully(buf, from + done, VhdLayout.FMT, "data block");
            buf.flip();
            storage.write(buf, to + done);
        }
    }

    /** Step 3, lock held: the footer after the last block (or metadata), then the cut. */
    private void cutAfterLastBlock() throws IOException {
        long end = metadataEnd();
        for (int b = 0; b < bat.length(); b++) {
            if (bat.get(b) != UNUSED) {
                end = Math.max(end, blockPos(bat.get(b)) + bitmapSize + blockSize);
            }
        }
        if (end >= nextFree) {
            return;
        }
        storage.write(ByteBuffer.wrap(footer), end);
        storage.force(); // a footer ends the data before the file is cut after it
        storage.truncate(end + footer.length);
        storage.force();
        nextFree = end;
    }

    /** Where the header, the BAT and the parent locators' data end (sector aligned). */
    private long metadataEnd() {
        VhdDynamicHeader hd = layout.header();
        long end = Math.max(layout.footer().dataOffsetBytes() + VhdDynamicHeader.SIZE,
                hd.tableOffsetBytes() + 4L * hd.maxTableEntries());
        for (VhdParentLocator l : hd.locators()) {
            if (l.dataLengthBytes() > 0 || l.dataSpaceBytes() > 0) {
                // the space reserved for a locator stays in the file: sectors per the spec, bytes as
                // Windows writes them; the larger reading is kept
                long space = l.dataSpaceBytes() < VhdGeometry.SECTOR ? l.dataSpaceBytes() * VhdGeometry.SECTOR
                        : l.dataSpaceBytes();
                end = Math.max(end, l.dataOffsetBytes() + Math.max(l.dataLengthBytes(), space));
            }
        }
        return (end + VhdGeometry.SECTOR - 1) & -VhdGeometry.SECTOR;
    }

    // ---- flush, close -------------------------------------------------------------------------

    /** Forces the data, then writes the dirty bitmaps and BAT sectors, then forces again. */
    @Override
    protected void flushWritable() throws IOException {
        lock.lock();
        try {
            boolean metadata = !dirtyBitmaps.isEmpty() || !dirtyBatSectors.isEmpty();
            if (!unflushed && !metadata) {
                return;
            }
            unflushed = false;
            storage.force();
            if (!metadata) {
                return;
            }
            for (int b = dirtyBitmaps.nextSetBit(0); b >= 0; b = dirtyBitmaps.nextSetBit(b + 1)) {
                int entry = bat.get(b);
                if (entry != UNUSED) {
                    storage.write(differencing ? paddedBitmap(bitmaps.get(b)) : onesBitmap(), blockPos(entry));
                }
            }
            dirtyBitmaps.clear();
            ByteBuffer sector = ByteBuffer.allocate(VhdGeometry.SECTOR);
            Bytes sb = Bytes.of(sector.array());
            int entries = bat.length();
            for (int s = dirtyBatSectors.nextSetBit(0); s >= 0; s = dirtyBatSectors.nextSetBit(s + 1)) {
                int from = s * ENTRIES_PER_SECTOR;
                int n = Math.min(ENTRIES_PER_SECTOR, entries - from);
                for (int k = 0; k < n; k++) {
                    sb.put32be(k * 4, bat.get(from + k) & 0xFFFF_FFFFL);
                }
                sector.clear().limit(n * 4);
                storage.write(sector, batOffset + (long) from * 4);
            }
            dirtyBatSectors.clear();
            storage.force();
        } finally {
            lock.unlock();
        }
    }

    private ByteBuffer paddedBitmap(byte[] bm) {
        ByteBuffer b = ByteBuffer.allocate((int) bitmapSize);
        b.put(bm).clear();
        return b;
    }

    @Override
    protected void closeImage() throws IOException {
        lock.lock();
        try {
            flush();
        } finally {
            lock.unlock();
            storage.close();
        }
    }
}
