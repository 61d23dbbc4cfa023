package org.vdmount.vd;

import java.io.Closeable;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Collections;
import java.util.HashSet;
import java.util.IdentityHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.locks.StampedLock;
import org.vdmount.vd.storage.ImageLock;

/**
 * An ordered chain of images, base first; writes go to the top. Thread-safe: reads take no lock;
 * a write that must fill a block the top image does not hold (copy-on-write from the parents)
 * runs under that block's lock, so concurrent writers into one fresh block both survive.
 * Every other write holds the shared side of the locks of the blocks it covers, so none lands
 * between a fill's read of a block and its write of the whole block (which would put back the
 * stale bytes the fill read over it); writers without fills never wait for each other.
 *
 * <p>Capabilities are asked, never assumed: a layer whose format is not
 * {@link ThreadModel#PARALLEL} is called through a {@link GatedImage}, and a top image whose
 * format cannot {@link Capability#DISCARD} gets zeros written instead.
 */
public final class Disk implements Closeable {
    private static final byte[] ZEROS = new byte[64 * 1024];
    private static final int LOCK_STRIPES = 256;
    private static final long LOCK_UNIT_MIN = 1 << 20;
    /** Fill buffers up to this size are kept per thread; larger fills (rare) get a fresh one each time. */
    private static final int FILL_SCRATCH_MAX = 4 << 20;

    private final Image[] layers;
    private final Image top;
    private final boolean readOnly;
    /**
     * Block locks (one per {@link #lockUnit}), striped: a fill or a discard holds its block's
     * exclusively (one at a time), a write the shared side of those of every block it covers,
     * taken in ascending stripe order.
     */
    private final StampedLock[] blockLocks = new StampedLock[LOCK_STRIPES];
    /**
     * The bytes one block lock guards: whole blocks, at least 1 MiB (so a write of a few MiB takes
     * a few stripes, not hundreds, where blocks are small); a block never spans two.
     */
    private final long lockUnit;
    private final boolean canDiscard;
    /**
     * Each thread's fill buffer (direct, so the image's write needs no copy). A fresh 1 MiB heap
     * buffer per fill cost ~2 ms on the 2-core test VM, where fresh pages are slow (VDI, 256 KiB
     * writes into new blocks: 3× slower than 1 MiB writes). Per Disk, not static: an image's write
     * may go through another Disk on this thread while this one's buffer is being written.
     */
    private final ThreadLocal<ByteBuffer> fillScratch = new ThreadLocal<>();
    /** Per layer (as {@link #layers()} gives them), what a cut file lost; empty unless allowTruncated. */
    private Map<Image, List<Truncation>> truncations = Map.of();

    private Disk(List<Image> chain, boolean readOnly) {
        this.layers = chain.stream().map(GatedImage::honour).toArray(Image[]::new);
        this.top = layers[layers.length - 1];
        this.readOnly = readOnly;
        this.canDiscard = top.format().can(Capability.DISCARD);
        long bs = top.blockSize();
        this.lockUnit = bs >= LOCK_UNIT_MIN ? bs : bs <= 0 ? LOCK_UNIT_MIN : bs * (LOCK_UNIT_MIN / bs);
        for (int i = 0; i < LOCK_STRIPES; i++) {
            blockLocks[i] = new StampedLock();
        }
    }

    /** Opens {@code path} and every parent it needs. */
    public static Disk open(Path path, OpenOptions options) throws IOException {
        return unlockedIfForced(path, options, () -> fromTop(FormatRegistry.open(path, options), options));
    }

    /** Opens {@code path} as {@code format} (no probe) and every parent it needs. */
    public static Disk open(Path path, ImageFormat format, OpenOptions options) throws IOException {
        return unlockedIfForced(path, options, () -> fromTop(format.open(path, options), options));
    }

    /** Opens an internal snapshot of {@code path} (read-only) and every parent it needs. */
    public static Disk openSnapshot(Path path, String idOrName, OpenOptions options) throws IOException {
        return openSnapshot(path, null, idOrName, options);
    }

    /** {@link #openSnapshot(Path, String, OpenOptions)} of a {@code path} of {@code format} (null: probe it). */
    public static Disk openSnapshot(Path path, ImageFormat format, String idOrName, OpenOptions options)
            throws IOException {
        OpenOptions ro = options.withReadOnly(true);
        return unlockedIfForced(path, ro, () -> fromTop(
                (format != null ? format : FormatRegistry.probe(path)).openSnapshot(path, idOrName, ro), ro));
    }

    /**
     * Every file of the chain is locked as QEMU locks it ({@link ImageLock}) unless the options
     * force the share; then nothing is locked and one warning says so.
     */
    private static Disk unlockedIfForced(Path path, OpenOptions options, ImageLock.Action<Disk> open)
            throws IOException {
        if (options.forceShare()) {
            options.warn(path + ": opened with --force-share: no locks taken or checked; another program "
                    + "may be changing it while it is read");
        }
        try {
            return ImageLock.withoutLocks(options.forceShare(), open);
        } catch (TruncatedImageException e) {
            throw options.allowTruncated() && !e.getMessage().contains("--allow-truncated") ? beyondOverride(e) : e;
        }
    }

    /**
     * Completes a chain below an already opened top image (its parents are opened read-only,
     * without locks when the options force the share).
     */
    public static Disk fromTop(Image topImage, OpenOptions options) throws IOException {
        return ImageLock.withoutLocks(options.forceShare(), () -> completeChain(topImage, options));
    }

    private static Disk completeChain(Image topImage, OpenOptions options) throws IOException {
        List<Image> chain = new ArrayList<>();
        chain.add(topImage);
        Set<Path> seen = new HashSet<>();
        seen.add(ChainResolver.identity(topImage.storage().path()));
        try {
            Image cur = topImage;
            while (cur.parent() != null) {
                if (chain.size() >= ChainResolver.MAX_DEPTH) {
                    throw new ChainException("chain of " + topImage.storage().path() + " deeper than "
                            + ChainResolver.MAX_DEPTH + " layers");
                }
                Image parent = ChainResolver.openParent(cur, options);
                chain.add(parent);
                if (!seen.add(ChainResolver.identity(parent.storage().path()))) {
                    throw new ChainException("cycle in chain of " + topImage.storage().path() + ": "
                            + parent.storage().path() + " appears twice");
                }
                cur = parent;
            }
            org.vdmount.vd.crypto.VBoxCryptChain.filter(chain, options);
        } catch (IOException | RuntimeException e) {
            for (Image img : chain) {
                try {
                    img.close();
                } catch (IOException suppressed) {
                    e.addSuppressed(suppressed);
                }
            }
            throw e;
        }
        Collections.reverse(chain);
        Disk disk = new Disk(chain, topImage.readOnly());
        if (options.allowTruncated()) {
            disk.truncations = scanTruncations(disk, options);
        }
        return disk;
    }

    /**
     * Finds what the files of the chain cut short have lost and warns once per file; a table past
     * the cut fails here, saying why the override cannot help. Closes the disk when it fails.
     */
    private static Map<Image, List<Truncation>> scanTruncations(Disk disk, OpenOptions options) throws IOException {
        Map<Image, List<Truncation>> found = new IdentityHashMap<>();
        try {
            for (Image layer : disk.layers) {
                if (layer.readOnly()) { // a file opened for writing is never taken cut short
                    found.put(layer, TruncationScan.scan(layer));
                }
            }
        } catch (IOException | RuntimeException e) {
            try {
                disk.close();
            } catch (IOException suppressed) {
                e.addSuppressed(suppressed);
            }
            if (e instanceof TruncatedImageException t) {
                throw beyondOverride(t);
            }
            throw e;
        }
        for (Image layer : disk.layers) {
            found.getOrDefault(layer, List.of()).forEach(t -> options.warn(t.warning()));
        }
        return found;
    }

    /** A truncation {@code --allow-truncated} cannot read around: the header or a table is cut. */
    static TruncatedImageException beyondOverride(TruncatedImageException e) {
        TruncatedImageException t = new TruncatedImageException(e.getMessage() + " (--allow-truncated reads "
                + "zeros only for data past the cut; the header and the tables must be present)");
        t.initCause(e);
        return t;
    }

    /** The files of this chain cut short and the guest ranges they lost (opened with allowTruncated), base first. */
    public List<Truncation> truncations() {
        List<Truncation> all = new ArrayList<>();
        for (Image layer : layers) {
            all.addAll(truncations(layer));
        }
        return all;
    }

    /** The files of {@code layer} (one of {@link #layers()}) cut short, with what they lost. */
    public List<Truncation> truncations(Image layer) {
        return truncations.getOrDefault(layer, List.of());
    }

    /** A disk over images already opened, base first (tests, create). */
    public static Disk of(List<Image> chainBaseFirst) {
        Image t = chainBaseFirst.get(chainBaseFirst.size() - 1);
        return new Disk(chainBaseFirst, t.readOnly());
    }

    public List<Image> layers() {
        return List.of(layers);
    }

    public Image top() {
        return top;
    }

    public long size() {
        return top.virtualSize();
    }

    /**
     * The chain's logical sector size: the largest any layer reports. Formats that record none
     * (qcow2, VDI, VHD, ...) answer 512, so a child of a 4 KiB-sector VHDX stays a 4 KiB disk.
     */
    public int logicalSectorSize() {
        int max = 0;
        for (Image img : layers) {
            max = Math.max(max, img.logicalSectorSize());
        }
        return max;
    }

    public boolean readOnly() {
        return readOnly;
    }

    /** The top image's file, for messages. */
    public String name() {
        return top.storage() != null ? top.storage().path().toString() : top.format().name();
    }

    // ---- read ---------------------------------------------------------------------------------

    /** Fills {@code dst} from its position to its limit with the disk's bytes at {@code offset}. */
    public void read(long offset, ByteBuffer dst) throws IOException {
        checkRange(offset, dst.remaining());
        readLayer(layers.length - 1, offset, dst);
    }

    /**
     * Reads through layers {@code index} and below. Recurses once per layer that leaves a range
     * unallocated, so at most {@link ChainResolver#MAX_DEPTH} deep for chains Disk.open builds:
     * a cold 256-layer read needs under 192 KiB of stack (DeepChainTest). Each layer keeps its
     * run between the calls for the layers below.
     */
    private void readLayer(int index, long offset, ByteBuffer dst) throws IOException {
        Image img = layers[index];
        int start = dst.position();
        int end = dst.limit();
        long layerSize = img.virtualSize();
        try {
            while (dst.position() < end) {
                long off = offset + (dst.position() - start);
                if (off >= layerSize) {
                    zeroFill(dst); // beyond a lower layer's size: zeros
                    break;
                }
                long run = img.map(off, Math.min(end - dst.position(), layerSize - off));
                int len = (int) Run.length(run);
                dst.limit(dst.position() + len);
                switch (Run.kind(run)) {
                    case DATA -> {
                        img.readData(off, dst);
                        dst.position(dst.limit());
                    }
                    case ZERO -> zeroFill(dst);
                    case UNALLOCATED -> {
                        if (index == 0) {
                            zeroFill(dst);
                        } else {
                            readLayer(index - 1, off, dst);
                        }
                    }
                }
                dst.limit(end);
            }
        } finally {
            dst.limit(end);
        }
    }

    private static void zeroFill(ByteBuffer dst) {
        while (dst.hasRemaining()) {
            int n = Math.min(dst.remaining(), ZEROS.length);
            dst.put(ZEROS, 0, n);
        }
    }

    // ---- write --------------------------------------------------------------------------------

    /** Writes {@code src} (position to limit) at {@code offset} into the top image. */
    public void write(long offset, ByteBuffer src) throws IOException {
        checkWritable();
        checkRange(offset, src.remaining());
        long bs = top.blockSize();
        long span = top.maxWriteBytes();
        int limit = src.limit();
        try {
            while (src.hasRemaining()) {
                int n = (int) Math.min(src.remaining(), bs - Math.floorMod(offset, bs));
                long blocks = wholeBlocks(offset, src.remaining(), bs, span);
                if (blocks > bs) {
                    n = (int) blocks;
                }
                src.limit(src.position() + n);
                int pos = src.position();
                if (writeShared(offset, src, n) == WriteResult.NEEDS_FILL) {
                    src.position(pos);
                    if (n > bs) {
                        writeBlockByBlock(offset, src, bs); // whole blocks; the image breaks the contract
                    } else {
                        writeWithFill(offset, src);
                    }
                }
                src.position(pos + n);
                src.limit(limit);
                offset += n;
            }
        } finally {
            src.limit(limit);
        }
    }

    /** The top image's write of {@code n} bytes, holding the shared side of their blocks' locks. */
    private WriteResult writeShared(long offset, ByteBuffer src, int n) throws IOException {
        shareBlocks(offset, n, true);
        try {
            return top.write(offset, src);
        } finally {
            shareBlocks(offset, n, false);
        }
    }

    /**
     * Bytes of whole blocks from {@code offset} (block aligned) that one image write may take, at
     * most {@code length} and never past a multiple of {@code span} ({@link Image#maxWriteBytes});
     * the last block may end at the end of the disk. 0 where {@code offset} is not aligned.
     */
    private long wholeBlocks(long offset, long length, long bs, long span) {
        if (span <= bs || Math.floorMod(offset, bs) != 0) {
            return 0;
        }
        long n = Math.min(length, span - Math.floorMod(offset, span));
        return offset + n == size() ? n : n / bs * bs;
    }

    private void writeBlockByBlock(long offset, ByteBuffer piece, long bs) throws IOException {
        int limit = piece.limit();
        for (int pos = piece.position(); pos < limit; ) {
            int n = (int) Math.min(limit - pos, bs);
            piece.limit(pos + n).position(pos);
            if (writeShared(offset, piece, n) == WriteResult.NEEDS_FILL) {
                piece.position(pos);
                writeWithFill(offset, piece);
            }
            pos += n;
            offset += n;
        }
        piece.limit(limit);
    }

    /** The piece lies in one block; widen it to whole fill units with the chain's current bytes. */
    private void writeWithFill(long offset, ByteBuffer piece) throws IOException {
        StampedLock lock = lockFor(offset);
        long stamp = lock.writeLock();
        try {
            writeWithFillLocked(offset, piece);
        } finally {
            lock.unlockWrite(stamp);
        }
    }

    /** {@link #writeWithFill} holding the block's lock exclusively: nobody else writes the block meanwhile. */
    private void writeWithFillLocked(long offset, ByteBuffer piece) throws IOException {
        int pos = piece.position();
        if (top.write(offset, piece) == WriteResult.DONE) {
            return; // another writer filled the block meanwhile
        }
        piece.position(pos);
        long fu = top.fillUnit();
        long bs = top.blockSize();
        long blockEnd = Math.min(Math.floorDiv(offset, bs) * bs + bs, size());
        long alignedStart = Math.floorDiv(offset, fu) * fu;
        long alignedEnd = Math.min(Math.floorDiv(offset + piece.remaining() + fu - 1, fu) * fu, blockEnd);
        ByteBuffer whole = fillBuffer((int) (alignedEnd - alignedStart));
        readLayer(layers.length - 1, alignedStart, whole);
        whole.position((int) (offset - alignedStart));
        whole.put(piece);
        whole.rewind();
        if (top.write(alignedStart, whole) != WriteResult.DONE) {
            throw new VdException(top.format().name() + ": image refused a whole-unit write at 0x"
                    + Long.toHexString(alignedStart) + " in " + name());
        }
    }

    /** A buffer of {@code size} bytes (position 0, limit size, contents undefined) for one fill. */
    private ByteBuffer fillBuffer(int size) {
        if (size > FILL_SCRATCH_MAX) {
            return ByteBuffer.allocate(size); // heap: direct memory is freed only by a later GC
        }
        ByteBuffer b = fillScratch.get();
        if (b == null || b.capacity() < size) {
            b = ByteBuffer.allocateDirect(size);
            fillScratch.set(b);
        }
        return b.clear().limit(size);
    }

    private StampedLock lockFor(long offset) {
        return blockLocks[stripe(Math.floorDiv(offset, lockUnit))];
    }

    private static int stripe(long unit) {
        return (int) ((unit ^ (unit >>> 17)) & (LOCK_STRIPES - 1));
    }

    /**
     * Takes ({@code take}) or gives back the shared side of the locks of the blocks that
     * {@code [offset, offset + length)} touches, in ascending stripe order: a taker waits only for
     * fills and discards (which hold one stripe each and wait for no stripe while holding it) and
     * for takers holding only lower stripes, so no two wait on each other.
     */
    private void shareBlocks(long offset, long length, boolean take) {
        long first = Math.floorDiv(offset, lockUnit);
        long last = Math.floorDiv(offset + Math.max(1, length) - 1, lockUnit);
        long m0 = 0;
        long m1 = 0;
        long m2 = 0;
        long m3 = 0;
        if (last - first + 1 >= LOCK_STRIPES) {
            m0 = m1 = m2 = m3 = -1L;
        } else {
            for (long b = first; b <= last; b++) {
                int st = stripe(b);
                long bit = 1L << st;
                switch (st >>> 6) {
                    case 0 -> m0 |= bit;
                    case 1 -> m1 |= bit;
                    case 2 -> m2 |= bit;
                    default -> m3 |= bit;
                }
            }
        }
        shareStripes(0, m0, take);
        shareStripes(64, m1, take);
        shareStripes(128, m2, take);
        shareStripes(192, m3, take);
    }

    private void shareStripes(int base, long mask, boolean take) {
        for (long m = mask; m != 0; m &= m - 1) {
            StampedLock l = blockLocks[base + Long.numberOfTrailingZeros(m)];
            if (take) {
                l.readLock();
            } else {
                l.tryUnlockRead();
            }
        }
    }

    // ---- discard / zero -----------------------------------------------------------------------

    /**
     * Makes the range read as zeros. Whole blocks are handed to the image (which frees them or
     * marks them zero); partial blocks get zeros written unless they already read as zeros.
     */
    public void discard(long offset, long length) throws IOException {
        checkWritable();
        checkRange(offset, length);
        long bs = top.blockSize();
        long end = offset + length;
        long off = offset;
        while (off < end) {
            long blockStart = Math.floorDiv(off, bs) * bs;
            long pieceEnd = Math.min(end, blockStart + bs);
            boolean whole = off == blockStart && (pieceEnd == blockStart + bs || pieceEnd == size());
            StampedLock lock = lockFor(off);
            long stamp = lock.writeLock();
            try {
                if (whole && canDiscard) {
                    top.discard(off, pieceEnd - off);
                } else {
                    zeroPartial(off, (int) (pieceEnd - off));
                }
            } finally {
                lock.unlockWrite(stamp);
            }
            off = pieceEnd;
        }
    }

    /** fallocate(ZERO_RANGE): the same effect as discard for every format here. */
    public void zero(long offset, long length) throws IOException {
        discard(offset, length);
    }

    private void zeroPartial(long offset, int length) throws IOException {
        ByteBuffer cur = ByteBuffer.allocate(length);
        readLayer(layers.length - 1, offset, cur);
        if (Bytes.of(cur.array()).isZero(0, length)) {
            return;
        }
        ByteBuffer zeros = ByteBuffer.allocate(length);
        if (top.write(offset, zeros) == WriteResult.NEEDS_FILL) {
            zeros.clear();
            writeWithFillLocked(offset, zeros); // the caller holds the block's lock
        }
    }

    // ---- flush, close, facts ------------------------------------------------------------------

    public void flush() throws IOException {
        if (!readOnly) {
            top.flush();
        }
    }

    /** Bytes allocated in the chain (sum over layers). */
    public long allocatedBytes() throws IOException {
        long sum = 0;
        for (Image img : layers) {
            sum += img.allocatedBytes();
        }
        return sum;
    }

    /** The allocation seen through the chain for a run starting at offset: DATA or ZERO only. */
    public long map(long offset, long maxLength) throws IOException {
        checkRange(offset, 1);
        long max = Math.min(maxLength, size() - offset);
        for (int i = layers.length - 1; i >= 0; i--) {
            Image img = layers[i];
            if (offset >= img.virtualSize()) {
                return Run.zero(Math.max(1, max));
            }
            long run = img.map(offset, Math.min(max, img.virtualSize() - offset));
            if (Run.kind(run) != Allocation.UNALLOCATED) {
                return run;
            }
            max = Run.length(run);
        }
        return Run.unallocated(max);
    }

    @Override
    public void close() throws IOException {
        IOException first = null;
        if (!readOnly) {
            try {
                top.flush();
            } catch (IOException e) {
                first = e;
            }
        }
        for (int i = layers.length - 1; i >= 0; i--) {
            try {
                layers[i].close();
            } catch (IOException e) {
                if (first == null) {
                    first = e;
                }
            }
        }
        if (first != null) {
            throw first;
        }
    }

    private void checkWritable() throws ReadOnlyException {
        if (readOnly) {
            throw new ReadOnlyException("disk " + name() + " is opened read-only");
        }
    }

    private void checkRange(long offset, long length) throws VdException {
        if (offset < 0 || length < 0 || offset + length > size() || offset + length < 0) {
            throw new VdException("range 0x" + Long.toHexString(offset) + "+" + length + " outside disk "
                    + name() + " of " + size() + " bytes");
        }
    }
}
