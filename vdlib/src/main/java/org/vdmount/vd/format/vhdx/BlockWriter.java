package org.vdmount.vd.format.vhdx;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.atomic.AtomicLongArray;
import java.util.List;
import java.util.concurrent.locks.ReentrantLock;
import org.vdmount.vd.WriteResult;

/**
 * Writes, discards and flushes of one image. Writes into present data go straight to the file
 * without a lock once the session has begun; everything that changes the BAT or a sector bitmap
 * runs under {@link #lock}: new payload and sector bitmap blocks are appended at 1 MiB-aligned
 * offsets past everything the file holds, the data is written before the new state is published,
 * and the changed pages reach the file through the {@link Journal} on flush.
 */
final class BlockWriter {
    private final VhdxFile file;
    private final VhdxMetadata meta;
    private final Bat bat;
    private final SectorBitmaps bitmaps;
    private final Journal journal;
    private final ReentrantLock lock = new ReentrantLock();
    private final long blockSize;
    private final int sectorSize;
    private final AtomicLong presentBlocks;
    private long nextFree;
    private volatile boolean started;

    BlockWriter(VhdxFile file, VhdxMetadata meta, Bat bat, SectorBitmaps bitmaps, Journal journal,
                long allocationStart, long presentBlocks) {
        this.file = file;
        this.meta = meta;
        this.bat = bat;
        this.bitmaps = bitmaps;
        this.journal = journal;
        this.blockSize = meta.blockSizeBytes();
        this.sectorSize = meta.logicalSectorSize();
        this.nextFree = allocationStart;
        this.presentBlocks = new AtomicLong(presentBlocks);
    }

    long presentBlocks() {
        return presentBlocks.get();
    }

    /** {@code src} lies inside one block. */
    WriteResult write(long offset, ByteBuffer src) throws IOException {
        long block = offset / blockSize;
        long rel = offset - block * blockSize;
        if (started && writeInPlace(block, rel, src)) {
            return WriteResult.DONE;
        }
        lock.lock();
        try {
            begin();
            return writeLocked(block, rel, src);
        } finally {
            lock.unlock();
        }
    }

    /** Lock-free path: the block (or every sector touched) is already in the file. */
    private boolean writeInPlace(long block, long rel, ByteBuffer src) throws IOException {
        long entry = bat.payload(block);
        int state = Bat.state(entry);
        if (state == Bat.PARTIALLY_PRESENT) {
            AtomicLongArray bits = bitmaps.get(block);
            int from = (int) (rel / sectorSize);
            int to = (int) ((rel + src.remaining() + sectorSize - 1) / sectorSize);
            if (!SectorBitmaps.allSet(bits, from, to)) {
                return false;
            }
        } else if (state != Bat.FULLY_PRESENT) {
            return false;
        }
        file.writeData(src, Bat.offset(entry) + rel);
        return true;
    }

    private WriteResult writeLocked(long block, long rel, ByteBuffer src) throws IOException {
        int index = bat.payloadIndex(block);
        long entry = bat.get(index);
        int state = Bat.state(entry);
        int len = src.remaining();
        long blockLen = Math.min(blockSize, meta.virtualSizeBytes() - block * blockSize);
        if (state == Bat.FULLY_PRESENT) {
            file.writeData(src, Bat.offset(entry) + rel);
            return WriteResult.DONE;
        }
        if (state == Bat.PARTIALLY_PRESENT) {
            return writePartial(block, index, entry, rel, src);
        }
        boolean whole = rel == 0 && len == blockLen;
        if (state == Bat.NOT_PRESENT && meta.hasParent() && !whole) {
            return writeFirstSectors(block, index, rel, src);
        }
        // NOT_PRESENT in a base image, ZERO, UNDEFINED, UNMAPPED: a new block whose rest is zeros
        long at = allocate(blockSize);
        file.writeData(src, at + rel);
        publish(index, Bat.entry(Bat.FULLY_PRESENT, at), true);
        return WriteResult.DONE;
    }

    /** Differencing, block not present: sectors from here, the rest still from the parent. */
    private WriteResult writeFirstSectors(long block, int index, long rel, ByteBuffer src) throws IOException {
        long end = rel + src.remaining();
        if (rel % sectorSize != 0 || end % sectorSize != 0) {
            return WriteResult.NEEDS_FILL;
        }
        long chunk = block / bat.chunkRatio;
        int sbIndex = bat.bitmapIndex(chunk);
        if (Bat.state(bat.get(sbIndex)) != Bat.SB_PRESENT) {
            long sb = allocate(Vhdx.MIB); // fresh space reads as zeros: no sector present yet
            bat.set(sbIndex, Bat.entry(Bat.SB_PRESENT, sb));
            journal.batChanged(sbIndex);
        }
        long at = allocate(blockSize);
        file.writeData(src, at + rel);
        AtomicLongArray bits = bitmaps.fresh(block);
        SectorBitmaps.set(bits, (int) (rel / sectorSize), (int) (end / sectorSize));
        journal.bitmapChanged(block);
        publish(index, Bat.entry(Bat.PARTIALLY_PRESENT, at), true);
        return WriteResult.DONE;
    }

    private WriteResult writePartial(long block, int index, long entry, long rel, ByteBuffer src)
            throws IOException {
        AtomicLongArray bits = bitmaps.get(block);
        long end = rel + src.remaining();
        int from = (int) (rel / sectorSize);
        int to = (int) ((end + sectorSize - 1) / sectorSize);
        if (rel % sectorSize != 0 && !SectorBitmaps.bit(bits, from)
                || end % sectorSize != 0 && !SectorBitmaps.bit(bits, to - 1)) {
            return WriteResult.NEEDS_FILL;
        }
        file.writeData(src, Bat.offset(entry) + rel);
        if (!SectorBitmaps.allSet(bits, from, to)) {
            SectorBitmaps.set(bits, from, to);
            journal.bitmapChanged(block);
            int sectors = (int) ((Math.min(blockSize, meta.virtualSizeBytes() - block * blockSize)) / sectorSize);
            if (SectorBitmaps.allSet(bits, 0, sectors)) {
                publish(index, Bat.entry(Bat.FULLY_PRESENT, Bat.offset(entry)), false);
            }
        }
        commitIfFull();
        return WriteResult.DONE;
    }

    private void publish(int index, long entry, boolean newBlock) throws IOException {
        bat.set(index, entry);
        journal.batChanged(index);
        if (newBlock) {
            presentBlocks.incrementAndGet();
        }
        commitIfFull();
    }

    /** Keeps the pending metadata within one log entry's reach. */
    private void commitIfFull() throws IOException {
        if (journal.pending() >= journal.maxPagesPerEntry()) {
            journal.commit();
        }
    }

    /** Appends {@code bytes} (a multiple of 1 MiB) of zeros at a 1 MiB-aligned offset. */
    private long allocate(long bytes) throws IOException {
        long at = Math.max(nextFree, Vhdx.roundUp(file.storage().size(), Vhdx.MIB));
        nextFree = at + bytes;
        file.extend(nextFree);
        return at;
    }

    private void begin() throws IOException {
        if (!started) {
            journal.begin();
            started = true;
        }
    }

    // ---- discard ------------------------------------------------------------------------------

    /** Whole blocks: they read as zeros afterwards (ZERO state; a fixed image keeps its blocks). */
    void discard(long offset, long length) throws IOException {
        lock.lock();
        try {
            begin();
            for (long block = offset / blockSize; block * blockSize < offset + length; block++) {
                discardBlock(block);
            }
        } finally {
            lock.unlock();
        }
    }

    private void discardBlock(long block) throws IOException {
        int index = bat.payloadIndex(block);
        long entry = bat.get(index);
        int state = Bat.state(entry);
        long at = Bat.offset(entry);
        long blockLen = Math.min(blockSize, meta.virtualSizeBytes() - block * blockSize);
        if (meta.leaveBlocksAllocated() && state == Bat.FULLY_PRESENT) {
            if (!file.storage().punchHole(at, blockSize)) {
                writeZeros(at, blockLen);
            }
            return;
        }
        if (state == Bat.NOT_PRESENT && !meta.hasParent() || state == Bat.ZERO && at == 0) {
            return;
        }
        // MS-VHDX leaves FileOffsetMB of a ZERO entry reserved (Hyper-V wants 0): drop the block
        bat.set(index, Bat.entry(Bat.ZERO, 0));
        journal.batChanged(index);
        if (state == Bat.FULLY_PRESENT || state == Bat.PARTIALLY_PRESENT) {
            presentBlocks.decrementAndGet();
            file.storage().punchHole(at, blockSize); // best effort: nothing refers to it any more
        }
        commitIfFull();
    }

    private void writeZeros(long at, long length) throws IOException {
        ByteBuffer zeros = ByteBuffer.allocate((int) Math.min(length, Vhdx.MIB));
        for (long p = 0; p < length; p += zeros.capacity()) {
            zeros.clear().limit((int) Math.min(zeros.capacity(), length - p));
            file.writeData(zeros, at + p);
        }
    }

    // ---- compaction (see VhdxCompact) --------------------------------------------------------

    /** Step 1: a present payload block's entry becomes {@code state} (ZERO or NOT_PRESENT), offset 0. */
    void releaseBlock(long block, int state) throws IOException {
        lock.lock();
        try {
            begin();
            int index = bat.payloadIndex(block);
            int old = Bat.state(bat.get(index));
            if (old != Bat.FULLY_PRESENT && old != Bat.PARTIALLY_PRESENT) {
                return;
            }
            publish(index, Bat.entry(state, 0), false);
            presentBlocks.decrementAndGet();
        } finally {
            lock.unlock();
        }
    }

    /**
     * Steps 2 and 3 (MS-VHDX 2.3 for every BAT change): the released entries are committed (logged,
     * applied, forced) before their space is reused; then the last payload blocks are copied into
     * the lowest block-sized gaps between the structures and the blocks in use, and their BAT
     * entries logged after the copies are forced (a commit forces data first); then the log is
     * ended (LogGuid 0, so no entry recording the old file size is replayed) and the file is cut
     * after the last structure or block. {@code fixed}: the header section, log and regions.
     * Returns the number of blocks moved.
     */
    long packAndCut(List<long[]> fixed) throws IOException {
        lock.lock();
        try {
            begin();
            journal.commit();
            List<long[]> used = new ArrayList<>(fixed);
            List<long[]> payload = new ArrayList<>(); // {file offset, BAT index}
            for (long i = 0; i < bat.entryCount; i++) {
                long e = bat.get((int) i);
                int state = Bat.state(e);
                long off = Bat.offset(e);
                if (bat.isBitmapIndex(i)) {
                    if (state == Bat.SB_PRESENT && off != 0) {
                        used.add(new long[] {off, off + Vhdx.MIB});
                    }
                } else if (state == Bat.FULLY_PRESENT || state == Bat.PARTIALLY_PRESENT) {
                    payload.add(new long[] {off, i});
                } else if (off != 0) {
                    used.add(new long[] {off, off + blockSize}); // space another state reserves: left alone
                }
            }
            List<long[]> all = new ArrayList<>(used);
            for (long[] p : payload) {
                all.add(new long[] {p[0], p[0] + blockSize});
            }
            all.sort((a, b) -> Long.compare(a[0], b[0]));
            List<Long> holes = new ArrayList<>();
            long cur = 0;
            for (long[] r : all) {
                for (long c = Vhdx.roundUp(cur, Vhdx.MIB); c + blockSize <= r[0]; c += blockSize) {
                    holes.add(c);
                }
                cur = Math.max(cur, r[1]);
            }
            payload.sort((a, b) -> Long.compare(b[0], a[0]));
            ByteBuffer buf = ByteBuffer.allocate((int) Math.min(blockSize, Vhdx.MIB));
            long moved = 0;
            long end = 0;
            int h = 0;
            for (long[] p : payload) {
                long at = p[0];
                if (h < holes.size() && holes.get(h) < at) {
                    long to = holes.get(h++);
                    copy(at, to, buf);
                    int index = (int) p[1];
                    publish(index, Bat.entry(Bat.state(bat.get(index)), to), false); // commits force data first
                    moved++;
                    at = to;
                }
                end = Math.max(end, at + blockSize);
            }
            for (long[] u : used) {
                end = Math.max(end, u[1]);
            }
            end = Vhdx.roundUp(end, Vhdx.MIB);
            journal.end();
            started = false;
            if (end < file.storage().size()) {
                file.storage().truncate(end);
                file.force("data-flush");
            }
            nextFree = end;
            return moved;
        } finally {
            lock.unlock();
        }
    }

    private void copy(long from, long to, ByteBuffer buf) throws IOException {
        for (long done = 0; done < blockSize; done += buf.capacity()) {
            buf.clear().limit((int) Math.min(buf.capacity(), blockSize - done));
            file.readFully(buf, from + done, "payload block");
            buf.flip();
            file.writeData(buf, to + done);
        }
    }

    // ---- flush, close -------------------------------------------------------------------------

    void flush() throws IOException {
        lock.lock();
        try {
            if (started) {
                journal.commit();
            }
        } finally {
            lock.unlock();
        }
    }

    /** Writes metadata region pages through the log ({@link Journal#commitPages}), in a session. */
    void commitPages(List<LogWriter.Page> pages) throws IOException {
        lock.lock();
        try {
            begin();
            journal.commitPages(pages);
        } finally {
            lock.unlock();
        }
    }

    void close() throws IOException {
        lock.lock();
        try {
            journal.end();
        } finally {
            lock.unlock();
        }
    }
}
