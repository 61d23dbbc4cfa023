package org.vdmount.vd.inspect;

import java.io.IOException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Objects;
import org.vdmount.vd.Allocation;
import org.vdmount.vd.Disk;
import org.vdmount.vd.HostLocation;
import org.vdmount.vd.Image;
import org.vdmount.vd.Run;

/**
 * The allocation of a whole chain, range by range, in the terms {@code qemu-img map} uses: for
 * each run, the depth of the layer that answers it (0 = top), whether any layer holds it
 * ({@code present}), whether it reads as zeros and whether a layer holds its bytes. Adjacent runs
 * with the same answer are merged.
 *
 * <p>A range every layer leaves unallocated is answered by the lowest layer that reaches it (a
 * layer smaller than the one above it does not reach the range past its end, as QEMU reports it).
 * Walking costs one {@link Image#map} call per block and layer; no guest data is read.
 */
public final class ChainMap {
    /** Longest request per step; images answer at most one block anyway. */
    private static final long STEP = 1L << 30;

    /**
     * One merged run of the map. A data run whose bytes lie plainly in a host file also names
     * that file and the offset of its first byte there ({@link Image#hostLocation}); otherwise
     * {@code file} is null and {@code offset} is -1 (compressed data, or a format that does not say).
     */
    public record Entry(long start, long length, int depth, boolean present, boolean zero, boolean data,
                        Path file, long offset) {

        /** Whether {@code next} starts where this ends, says the same and (for data) continues on the host. */
        boolean continuedBy(Entry next) {
            return start + length == next.start && depth == next.depth && present == next.present
                    && zero == next.zero && data == next.data && Objects.equals(file, next.file)
                    && (offset < 0 ? next.offset < 0 : offset + length == next.offset);
        }

        Entry extendedBy(long more) {
            return new Entry(start, length + more, depth, present, zero, data, file, offset);
        }
    }

    /** Receives the merged entries in order. */
    @FunctionalInterface
    public interface Sink {
        void accept(Entry entry) throws IOException;
    }

    private ChainMap() {
    }

    /** Walks {@code disk} from start to end, handing each merged entry to {@code sink}. */
    public static void walk(Disk disk, Sink sink) throws IOException {
        walk(disk, 0, disk.size(), sink);
    }

    /** Walks {@code [start, end)} of {@code disk}; entries are merged only inside that range. */
    public static void walk(Disk disk, long start, long end, Sink sink) throws IOException {
        List<Image> layers = disk.layers();
        Entry pending = null;
        long off = start;
        while (off < end) {
            Entry e = at(layers, off, Math.min(STEP, end - off));
            if (pending != null && pending.continuedBy(e)) {
                pending = pending.extendedBy(e.length());
            } else {
                if (pending != null) {
                    sink.accept(pending);
                }
                pending = e;
            }
            off += e.length();
        }
        if (pending != null) {
            sink.accept(pending);
        }
    }

    /** The whole map as a list (tests, small images). */
    public static List<Entry> of(Disk disk) throws IOException {
        List<Entry> all = new ArrayList<>();
        walk(disk, all::add);
        return all;
    }

    /** The unmerged entry at {@code offset}, at most {@code max} bytes long. */
    static Entry at(List<Image> layers, long offset, long max) throws IOException {
        int top = layers.size() - 1;
        for (int i = top; i >= 0; i--) {
            Image img = layers.get(i);
            long run = img.map(offset, Math.min(max, img.virtualSize() - offset));
            Allocation kind = Run.kind(run);
            max = Run.length(run);
            if (kind == Allocation.DATA) {
                HostLocation at = img.hostLocation(offset);
                return at == null ? new Entry(offset, max, top - i, true, false, true, null, -1)
                        : new Entry(offset, max, top - i, true, false, true, at.storage().path(), at.offset());
            }
            if (kind == Allocation.ZERO) {
                return new Entry(offset, max, top - i, true, true, false, null, -1);
            }
            if (i == 0 || offset >= layers.get(i - 1).virtualSize()) {
                return new Entry(offset, max, top - i, false, true, false, null, -1);
            }
        }
        throw new IllegalStateException("empty chain");
    }
}
