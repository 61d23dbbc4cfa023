package org.vdmount.vd;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.function.LongConsumer;

/**
 * Changes the parent of an image (qemu-img rebase; VirtualBox has no single call for it).
 *
 * <h2>Safe mode</h2>
 * For every range the top image does not hold itself (its {@link Image#map} answers UNALLOCATED)
 * and where the old backing chain and the new one read differently, the old content is written
 * into the top (zeros as a zero range). Ranges both chains map as zeros are compared without
 * reading them. Then the top is flushed, and only then is the new parent recorded
 * ({@link Image#edit}): a kill between the two leaves the top linked to the old chain, holding
 * data equal to that chain's, so it reads the same; after the edit it reads the same over the
 * new chain. With {@code -b ""} the new chain is all zeros: every non-zero byte of the old chain
 * is copied and the image becomes standalone.
 *
 * <h2>Unsafe mode</h2>
 * Only the reference changes (qemu-img rebase -u), and only IMAGE is opened: its old backing
 * chain need not open (this is how a broken link is repaired). The new backing file is opened when it exists
 * (formats that link by identity need its UUID); one that does not exist is recorded only with
 * its format given, and only by formats that record a path and a format (qcow2), as qemu-img.
 *
 * <h2>Locks</h2>
 * The top is opened writable, both chains read-only, with QEMU-style locks: anyone else using any
 * of these files makes the rebase fail before a byte is written. NEW must not be the image
 * itself, and NEW's chain must not contain it (that would be a cycle).
 */
public final class ChainRebase {
    static final int CHUNK_BYTES = 1 << 20;
    /** Granule of the comparison: only differing granules are written. */
    static final int GRAIN_BYTES = 64 << 10;

    /**
     * What a rebase did: bytes written into the top (data and zeroed), and the old and new
     * backing files as recorded.
     */
    public record Result(Path image, long dataBytes, long zeroBytes, String oldBacking, String newBacking) {
    }

    /**
     * What to rebase onto.
     *
     * @param backing      NEW as the user gave it ("" = no backing file)
     * @param backingFormat NEW's format, or null to probe
     * @param unsafe       -u: change only the reference
     */
    public record Request(String backing, ImageFormat backingFormat, boolean unsafe) {
    }

    private final Image top;
    private final Disk oldBelow;
    private final Disk newChain;
    private final Disk writer;
    private final ByteBuffer oldBuf = ByteBuffer.allocateDirect(CHUNK_BYTES);
    private final ByteBuffer newBuf = ByteBuffer.allocateDirect(CHUNK_BYTES);
    private long dataBytes;
    private long zeroBytes;

    private ChainRebase(Image top, Disk oldBelow, Disk newChain, Disk writer) {
        this.top = top;
        this.oldBelow = oldBelow;
        this.newChain = newChain;
        this.writer = writer;
    }

    /**
     * Rebases {@code image} (opened as {@code format}, or probed when null). {@code progress}
     * gets the virtual offset reached.
     */
    public static Result rebase(Path image, ImageFormat format, Request request, OpenOptions options,
                                LongConsumer progress) throws IOException {
        OpenOptions ro = options.withReadOnly(true).withForceShare(false);
        OpenOptions rw = options.withReadOnly(false).withForceShare(false);
        ImageFormat fmt = format != null ? format : FormatRegistry.probe(image);
        String oldBacking;
        List<Path> topFiles;
        try (Image t = fmt.open(image, ro)) {
            if (!fmt.can(Capability.WRITE) || !fmt.can(Capability.DIFFERENCING)) {
                throw new UnsupportedFeatureException(fmt.name() + ": " + image + ": images of this format "
                        + (fmt.can(Capability.DIFFERENCING) ? "cannot be written" : "cannot have a backing file"));
            }
            ParentReference ref = t.parent();
            oldBacking = ref == null || ref.locators().isEmpty() ? (ref == null ? "" : String.valueOf(ref.uuid()))
                    : ref.locators().get(0);
            topFiles = t.files();
        }
        boolean none = request.backing().isEmpty();
        Path resolved = none ? null : resolve(image, request.backing());
        Disk newChain = null;
        List<AutoCloseable> open = new ArrayList<>();
        try {
            if (!none) {
                if (Files.exists(resolved)) {
                    newChain = request.backingFormat() == null ? Disk.open(resolved, ro)
                            : Disk.open(resolved, request.backingFormat(), ro);
                    open.add(newChain);
                    checkNoCycle(image, request.backing(), topFiles, newChain);
                } else if (!request.unsafe() || request.backingFormat() == null) {
                    throw new java.nio.file.NoSuchFileException(resolved.toString(), null, "backing file " + request
                            .backing() + " not found" + (request.backing().startsWith("/") ? ""
                            : " (a relative NEW is relative to the directory of " + image + ", as in qemu-img)")
                            + (request.unsafe() ? "; with -u, give its format with -F to record it anyway" : ""));
                }
            }
            Image rwTop = fmt.open(image, rw);
            Disk writer = null;
            if (request.unsafe()) {
                open.add(rwTop); // only IMAGE: its old backing file need not open (qemu-img rebase -u)
            } else {
                try {
                    writer = Disk.fromTop(rwTop, ro);
                } catch (IOException | RuntimeException e) {
                    rwTop.close();
                    throw e;
                }
                open.add(writer);
            }
            Image top = writer == null ? rwTop : writer.top();
            MetadataEdit.Backing backing = none ? MetadataEdit.Backing.NONE
                    : newChain != null ? MetadataEdit.Backing.to(request.backing(), resolved, newChain.top())
                    : new MetadataEdit.Backing(request.backing(), resolved, null, request.backingFormat().name());
            MetadataEdit edit = MetadataEdit.ofBacking(backing);
            top.checkEdit(edit);
            ChainRebase r = null;
            if (!request.unsafe()) {
                List<Image> layers = writer.layers();
                Disk oldBelow = layers.size() < 2 ? null : Disk.of(layers.subList(0, layers.size() - 1));
                r = new ChainRebase(top, oldBelow, newChain, writer);
                r.run(progress);
                writer.flush();
            }
            top.edit(edit);
            return new Result(image, r == null ? 0 : r.dataBytes, r == null ? 0 : r.zeroBytes, oldBacking,
                    request.backing());
        } finally {
            IOException first = null;
            for (int i = open.size() - 1; i >= 0; i--) {
                try {
                    open.get(i).close();
                } catch (IOException e) {
                    first = first == null ? e : first;
                } catch (Exception e) {
                    throw new IllegalStateException(e);
                }
            }
            if (first != null) {
                throw first;
            }
        }
    }

    /** Where NEW is: relative to IMAGE's directory unless absolute (qemu-img's rule). */
    public static Path resolve(Path image, String backing) {
        Path b = Path.of(backing);
        return b.isAbsolute() ? b : image.toAbsolutePath().getParent().resolve(b).normalize();
    }

    private static void checkNoCycle(Path image, String backing, List<Path> topFiles, Disk newChain)
            throws IOException {
        for (Image layer : newChain.layers()) {
            for (Path f : layer.files()) {
                for (Path t : topFiles) {
                    if (Files.isSameFile(f, t)) {
                        throw new ChainException(image + ": cannot be rebased onto " + backing + ": "
                                + (layer == newChain.top() ? "it is the image itself"
                                : "its chain contains the image (" + layer.storage().path() + "), a cycle"));
                    }
                }
            }
        }
    }

    private void run(LongConsumer progress) throws IOException {
        long size = top.virtualSize();
        long pos = 0;
        while (pos < size) {
            long run = top.map(pos, Math.min(size - pos, CHUNK_BYTES));
            long len = Run.length(run);
            if (Run.kind(run) == Allocation.UNALLOCATED) {
                long end = pos + len;
                for (long p = pos; p < end; ) {
                    p += compareAndCopy(p, end - p);
                }
            }
            pos += len;
            progress.accept(pos);
        }
    }

    /** Handles one piece of [pos, pos+max): returns its length. */
    private long compareAndCopy(long pos, long max) throws IOException {
        long oldRun = zeroRun(oldBelow, pos, max);
        long newRun = zeroRun(newChain, pos, max);
        int len = (int) Math.min(Math.abs(oldRun), Math.abs(newRun));
        if (oldRun > 0 && newRun > 0) {
            return len; // zeros in both: equal without reading
        }
        read(oldBelow, pos, oldBuf, len);
        read(newChain, pos, newBuf, len);
        int i = 0;
        while (i < len) {
            int g = (int) Math.min(len, Math.floorDiv(pos + i, GRAIN_BYTES) * GRAIN_BYTES + GRAIN_BYTES - pos);
            int j = i;
            while (j < len && !equal(j, g)) { // extend over consecutive differing granules
                j = g;
                g = (int) Math.min(len, g + GRAIN_BYTES);
            }
            if (j > i) {
                write(pos + i, i, j);
                i = j;
            } else {
                i = g;
            }
        }
        return len;
    }

    private boolean equal(int from, int to) {
        return oldBuf.slice(from, to - from).mismatch(newBuf.slice(from, to - from)) < 0;
    }

    /** Writes the old content [from, to) of the buffer at {@code at}: zeros as a zero range. */
    private void write(long at, int from, int to) throws IOException {
        ByteBuffer src = oldBuf.duplicate().limit(to).position(from);
        boolean zero = true;
        for (int k = from; k < to && zero; k++) {
            zero = oldBuf.get(k) == 0;
        }
        if (zero) {
            zeroBytes += to - from;
            // whole blocks are recorded as zero; in part of a block zeros are written, since
            // Disk.zero skips what already reads as zeros through the old chain
            long bs = top.blockSize();
            long end = at + (to - from);
            long wholeFrom = Math.min(end, Math.floorDiv(at + bs - 1, bs) * bs);
            long wholeTo = top.format().can(Capability.DISCARD)
                    ? Math.max(wholeFrom, Math.floorDiv(end, bs) * bs) : wholeFrom;
            if (wholeFrom > at) {
                writer.write(at, src.duplicate().limit(from + (int) (wholeFrom - at)));
            }
            if (wholeTo > wholeFrom) {
                writer.zero(wholeFrom, wholeTo - wholeFrom);
            }
            if (end > wholeTo) {
                writer.write(wholeTo, src.duplicate().position(from + (int) (wholeTo - at)));
            }
        } else {
            writer.write(at, src);
            dataBytes += to - from;
        }
    }

    /**
     * The run of {@code d} at {@code pos}: positive length if it reads as zeros (ZERO, unallocated
     * in every layer, past the end, or no disk), negative length if it holds data.
     */
    private static long zeroRun(Disk d, long pos, long max) throws IOException {
        if (d == null || pos >= d.size()) {
            return max;
        }
        long run = d.map(pos, Math.min(max, d.size() - pos));
        long len = Math.min(max, Run.length(run));
        return Run.kind(run) == Allocation.DATA ? -len : len;
    }

    /** Reads {@code len} bytes of {@code d} at {@code pos} into {@code buf}; zeros past its end. */
    private static void read(Disk d, long pos, ByteBuffer buf, int len) throws IOException {
        buf.clear().limit(len);
        if (d != null && pos < d.size()) {
            buf.limit((int) Math.min(len, d.size() - pos));
            d.read(pos, buf);
            buf.limit(len);
        }
        while (buf.hasRemaining()) {
            buf.put((byte) 0);
        }
        buf.flip();
    }
}
