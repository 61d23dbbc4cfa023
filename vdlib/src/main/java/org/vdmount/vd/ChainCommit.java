package org.vdmount.vd;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.function.LongConsumer;

/**
 * VDMerge downwards (VirtualBox's VDMerge with the child above the parent; qemu-img commit): the
 * data that the layers above a target layer hold is written into the target, across formats.
 *
 * <h2>Why the chain from the top reads the same at every instant</h2>
 * Only ranges some layer above the target holds (DATA or ZERO) are written into the target, and
 * exactly those ranges are hidden from the top by that layer: whatever state the target is in
 * when the process dies (kill -9, power loss after the target's own durability rules), reads
 * through the top never reach it there. The layers above are opened read-only and never changed,
 * which is what {@code qemu-img commit -d} does: the top is left as it was (it still reads the
 * same, and now merely repeats its parent) and may be deleted or kept.
 *
 * <h2>Locks</h2>
 * The target is opened writable and every other file of the chain read-only, with QEMU-style
 * locks ({@link org.vdmount.vd.storage.ImageLock}): anyone else using any file of the chain makes
 * the commit fail before a byte is written.
 */
public final class ChainCommit {
    /** Bytes read and written per step; a ZERO run of any length is one call. */
    static final int CHUNK_BYTES = 4 << 20;
    /** Granule of the all-zero test inside DATA runs: zero granules become zero ranges. */
    static final int GRAIN_BYTES = 64 << 10;

    /**
     * What a commit did. {@code staleLink}: the target's link identity changed with its data (a
     * VHDX's DataWriteGuid, VHDX 1.0 section 2.2.2.1) and the layer above still records the old
     * one, so that layer now needs relinking (or {@code --ignore-parent-uuid}); else null.
     */
    public record Result(Path target, int layersMerged, long dataBytes, long zeroBytes, Path staleLink) {
    }

    private final Disk whole;
    private final Disk lower;
    private final List<Image> upper;
    private final ByteBuffer buf = ByteBuffer.allocateDirect(CHUNK_BYTES);
    private final ByteBuffer zeros = ByteBuffer.allocateDirect(GRAIN_BYTES);
    private long dataBytes;
    private long zeroBytes;

    private ChainCommit(Disk whole, Disk lower, List<Image> upper) {
        this.whole = whole;
        this.lower = lower;
        this.upper = upper;
    }

    /**
     * Commits {@code image}'s layers above {@code base} (null: its immediate parent) into that
     * layer and flushes it. {@code progress} gets the virtual offset reached.
     */
    public static Result commit(Path image, Path base, OpenOptions options, LongConsumer progress) throws IOException {
        return commit(image, null, base, options, progress);
    }

    /** {@link #commit(Path, Path, OpenOptions, LongConsumer)} of an {@code image} of {@code format} (null: probe it). */
    public static Result commit(Path image, ImageFormat format, Path base, OpenOptions options, LongConsumer progress)
            throws IOException {
        OpenOptions ro = options.withReadOnly(true).withForceShare(false);
        List<Path> paths = new ArrayList<>();
        List<ImageFormat> formats = new ArrayList<>();
        int target;
        java.util.UUID linkBefore;
        java.util.UUID recordedAbove;
        try (Disk chain = format == null ? Disk.open(image, ro) : Disk.open(image, format, ro)) {
            List<Image> layers = chain.layers();
            if (layers.size() < 2) {
                throw new VdException(image + ": has no backing file, nothing to commit");
            }
            for (Image l : layers) {
                paths.add(l.storage().path());
                formats.add(l.format());
            }
            target = targetIndex(image, base, paths);
            linkBefore = layers.get(target).linkUuid();
            ParentReference ref = layers.get(target + 1).parent();
            recordedAbove = ref == null ? null : ref.uuid();
        }
        ImageFormat targetFormat = formats.get(target);
        if (!targetFormat.can(Capability.WRITE)) {
            throw new UnsupportedFeatureException(targetFormat.name() + ": " + paths.get(target)
                    + ": writing is not supported by " + targetFormat.name() + ", cannot commit into it");
        }
        OpenOptions rw = options.withForceShare(false).withReadOnly(false);
        List<Image> opened = new ArrayList<>();
        Disk lower = null;
        try {
            lower = Disk.fromTop(targetFormat.open(paths.get(target), rw), options.withForceShare(false));
            for (int i = target + 1; i < paths.size(); i++) {
                opened.add(formats.get(i).open(paths.get(i), ro));
            }
            List<Image> all = new ArrayList<>(lower.layers());
            all.addAll(opened);
            Disk whole = Disk.of(all);
            Image top = opened.get(opened.size() - 1);
            long size = top.virtualSize();
            ChainCommit c = new ChainCommit(whole, lower, opened);
            c.checkFits(size);
            c.run(size, progress);
            lower.flush();
            java.util.UUID linkAfter = lower.top().linkUuid();
            Path stale = null;
            if (recordedAbove != null && recordedAbove.equals(linkBefore) && !recordedAbove.equals(linkAfter)) {
                stale = paths.get(target + 1);
                options.warn(paths.get(target) + ": its identity changed with its data (" + linkBefore + " -> "
                        + linkAfter + ", as " + targetFormat.name() + " requires), so " + stale
                        + " no longer matches it: open that chain with --ignore-parent-uuid");
            }
            return new Result(paths.get(target), opened.size(), c.dataBytes, c.zeroBytes, stale);
        } finally {
            IOException first = null;
            for (Image img : opened) {
                try {
                    img.close();
                } catch (IOException e) {
                    first = first == null ? e : first;
                }
            }
            if (lower != null) {
                lower.close();
            }
            if (first != null) {
                throw first;
            }
        }
    }

    /** The index of BASE among the layers (below the top), or the top's parent. */
    private static int targetIndex(Path image, Path base, List<Path> paths) throws IOException {
        int top = paths.size() - 1;
        if (base == null) {
            return top - 1;
        }
        if (!Files.exists(base)) {
            throw new java.nio.file.NoSuchFileException(base.toString(), null, "no such file");
        }
        for (int i = 0; i < top; i++) {
            if (Files.isSameFile(paths.get(i), base)) {
                return i;
            }
        }
        if (Files.isSameFile(paths.get(top), base)) {
            throw new VdException(base + ": is the image itself; BASE must be one of its backing files");
        }
        throw new ChainException(base + ": is not in the backing chain of " + image + " (layers: "
                + String.join(", ", paths.subList(0, top).stream().map(Path::toString).toList()) + ")");
    }

    /**
     * Data past the end of the target cannot be committed: refuse before writing anything when a
     * layer above holds some there.
     */
    private void checkFits(long size) throws IOException {
        long targetSize = lower.size();
        if (size <= targetSize) {
            return;
        }
        for (long pos = targetSize; pos < size; ) {
            long run = upperRun(pos, size - pos);
            if (Run.kind(run) != Allocation.UNALLOCATED) {
                throw new VdException(lower.name() + ": has " + targetSize + " bytes, but " + upper.get(upper.size() - 1)
                        .storage().path() + " holds data at 0x" + Long.toHexString(pos) + " past its end; grow it first ("
                        + "vd resize " + lower.name() + " " + size + ")");
            }
            pos += Run.length(run);
        }
    }

    private void run(long size, LongConsumer progress) throws IOException {
        long end = Math.min(size, lower.size());
        long pos = 0;
        while (pos < end) {
            long run = mergedRun(pos, end - pos);
            long len = Run.length(run);
            switch (Run.kind(run)) {
                case DATA -> copy(pos, (int) len);
                case ZERO -> {
                    lower.zero(pos, len);
                    zeroBytes += len;
                }
                case UNALLOCATED -> {
                    // below every upper layer: the target already shows through here
                }
            }
            pos += len;
            progress.accept(pos);
        }
    }

    /**
     * The run of one kind at {@code pos} as the layers above answer it, merged across their answers
     * (a qcow2 top answers one cluster per call: copying that answer by answer meant one small write
     * per cluster into the target). DATA runs stop at {@link #CHUNK_BYTES}, the buffer; ZERO and
     * UNALLOCATED runs go on to {@code max}.
     */
    private long mergedRun(long pos, long max) throws IOException {
        long first = upperRun(pos, max);
        Allocation kind = Run.kind(first);
        long limit = kind == Allocation.DATA ? Math.min(max, CHUNK_BYTES) : max;
        long len = Math.min(Run.length(first), limit);
        while (len < limit) {
            long next = upperRun(pos + len, limit - len);
            if (Run.kind(next) != kind) {
                break;
            }
            len += Run.length(next);
        }
        return Run.of(kind, len);
    }

    /**
     * The first answer of the layers above the target, top first, at {@code pos}. A layer that
     * ends before {@code pos} reads as zeros there and hides everything below (as {@link Disk}
     * reads it), so it counts as ZERO.
     */
    private long upperRun(long pos, long max) throws IOException {
        for (int i = upper.size() - 1; i >= 0; i--) {
            Image img = upper.get(i);
            if (pos >= img.virtualSize()) {
                return Run.zero(max);
            }
            long run = img.map(pos, Math.min(max, img.virtualSize() - pos));
            if (Run.kind(run) != Allocation.UNALLOCATED) {
                return run;
            }
            max = Run.length(run);
        }
        return Run.unallocated(max);
    }

    /** Copies a DATA run (at most one chunk); all-zero granules are zeroed, not written. */
    private void copy(long pos, int len) throws IOException {
        buf.clear().limit(len);
        whole.read(pos, buf);
        int i = 0;
        while (i < len) {
            int grainEnd = grainEnd(pos, i, len);
            boolean zero = isZero(i, grainEnd);
            int j = grainEnd;
            while (j < len) {
                int next = grainEnd(pos, j, len);
                if (isZero(j, next) != zero) {
                    break;
                }
                j = next;
            }
            if (zero) {
                lower.zero(pos + i, j - i);
                zeroBytes += j - i;
            } else {
                lower.write(pos + i, buf.duplicate().limit(j).position(i));
                dataBytes += j - i;
            }
            i = j;
        }
    }

    private boolean isZero(int from, int to) {
        return buf.slice(from, to - from).mismatch(zeros.slice(0, to - from)) < 0;
    }

    private static int grainEnd(long pos, int i, int len) {
        return (int) Math.min(len, Math.floorDiv(pos + i, GRAIN_BYTES) * GRAIN_BYTES + GRAIN_BYTES - pos);
    }
}
