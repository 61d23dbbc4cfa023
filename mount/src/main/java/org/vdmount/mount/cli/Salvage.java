package org.vdmount.mount.cli;

import java.io.IOException;
import java.io.InterruptedIOException;
import java.nio.ByteBuffer;
import java.nio.channels.ClosedChannelException;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import org.vdmount.vd.Disk;
import org.vdmount.vd.Run;

/**
 * {@code vd convert --salvage}, as {@code qemu-img convert --salvage}: a read of the source that
 * fails (an I/O error, corrupt metadata, compressed data that does not inflate) is retried in
 * 64 KiB pieces and then in 512-byte sectors, and a sector that still fails reads as zeros. A map
 * that fails counts as data, so its range is read (and salvaged) too. Every range given up is
 * kept with the first message about it and reported when the copy ends. Shared by the copy's
 * workers. A closed or interrupted source is not a data error and is never salvaged.
 */
final class Salvage {
    static final int SECTOR = 512;
    private static final int PIECE = 64 << 10;
    /** Ranges reported one by one; the rest are counted. */
    static final int REPORTED = 20;

    /** A range read as zeros, and why. */
    record Lost(long offset, long length, String why) {
    }

    /** A map call that may fail: {@link Disk#map} or an image's. */
    interface Mapper {
        long map(long offset, long length) throws IOException;
    }

    private final List<Lost> lost = new ArrayList<>();

    /** {@code mapper}'s run at {@code offset}, through {@code salvage} when it is not null. */
    static long map(Salvage salvage, Mapper mapper, long offset, long length) throws IOException {
        return salvage == null ? mapper.map(offset, length) : salvage.map(mapper, offset, length);
    }

    /** {@code dst}'s remaining bytes from {@code disk} at {@code offset}, through {@code salvage} when it is not null. */
    static void read(Salvage salvage, Disk disk, long offset, ByteBuffer dst) throws IOException {
        if (salvage == null) {
            disk.read(offset, dst);
        } else {
            salvage.read(disk, offset, dst);
        }
    }

    /** {@code mapper}'s run at {@code offset}, or a DATA run of {@code length} when it fails. */
    long map(Mapper mapper, long offset, long length) throws IOException {
        try {
            return mapper.map(offset, length);
        } catch (IOException e) {
            rethrowIfNotData(e);
            return Run.data(length);
        }
    }

    /** Reads {@code dst}'s remaining bytes from {@code disk} at {@code offset}; what cannot be read is zeros. */
    void read(Disk disk, long offset, ByteBuffer dst) throws IOException {
        int from = dst.position();
        int to = dst.limit();
        try {
            disk.read(offset, dst);
            return;
        } catch (IOException e) {
            rethrowIfNotData(e);
            if (to - from <= SECTOR) {
                for (int i = from; i < to; i++) {
                    dst.put(i, (byte) 0);
                }
                dst.position(to);
                record(offset, to - from, e);
                return;
            }
        }
        int step = to - from > PIECE ? PIECE : SECTOR;
        for (int at = from; at < to; at += step) {
            int n = Math.min(step, to - at);
            read(disk, offset + (at - from), dst.duplicate().limit(at + n).position(at));
        }
        dst.position(to);
    }

    private static void rethrowIfNotData(IOException e) throws IOException {
        if (e instanceof ClosedChannelException || e instanceof InterruptedIOException) {
            throw e;
        }
    }

    private synchronized void record(long offset, long length, IOException e) {
        lost.add(new Lost(offset, length, String.valueOf(e.getMessage())));
    }

    /** The ranges read as zeros, in disk order, adjacent ones merged (keeping the first one's message). */
    synchronized List<Lost> lost() {
        List<Lost> sorted = new ArrayList<>(lost);
        sorted.sort(Comparator.comparingLong(Lost::offset));
        List<Lost> merged = new ArrayList<>();
        for (Lost l : sorted) {
            Lost last = merged.isEmpty() ? null : merged.get(merged.size() - 1);
            if (last != null && last.offset() + last.length() == l.offset()) {
                merged.set(merged.size() - 1, new Lost(last.offset(), last.length() + l.length(), last.why()));
            } else {
                merged.add(l);
            }
        }
        return merged;
    }
}
