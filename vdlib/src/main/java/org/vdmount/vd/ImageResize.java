package org.vdmount.vd;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import org.vdmount.vd.storage.Preallocation;

/**
 * {@code vd resize}: changes the virtual size of the top image of a chain, as {@code qemu-img
 * resize} does (the layers below are not touched). A size may be absolute ({@code 10G}) or
 * relative ({@code +1G}, {@code -512M}). Growing is always allowed where the format can; shrinking
 * only when asked to and only when nothing the image holds lies past the new end. The format does
 * the work ({@link ImageFormat#resize}); this class checks the request, notes a GPT whose backup
 * header stays where it was, and reopens the result to confirm it.
 */
public final class ImageResize {
    private static final byte[] GPT_SIGNATURE = "EFI PART".getBytes(StandardCharsets.US_ASCII);

    private ImageResize() {
    }

    /**
     * What a resize did.
     *
     * @param gpt whether the disk holds a GPT (its backup header is not moved to the new end)
     * @param zeroedBytes bytes of the new area written as zeros to hide a larger parent's data
     */
    public record Result(Path image, String format, long oldSize, long newSize, boolean gpt, long zeroedBytes) {
    }

    /** The size {@code spec} asks for: absolute, or {@code +N} / {@code -N} relative to {@code current}. */
    public static long target(long current, String spec) throws UnsupportedFeatureException {
        String s = spec.trim();
        if (s.startsWith("+")) {
            return Math.addExact(current, Sizes.parse(s.substring(1)));
        }
        if (s.startsWith("-")) {
            long delta = Sizes.parse(s.substring(1));
            if (delta >= current) {
                throw new UnsupportedFeatureException("invalid size '" + spec + "': the image is only " + current
                        + " bytes; a disk cannot shrink to " + (current - delta) + " bytes");
            }
            return current - delta;
        }
        return Sizes.parse(s);
    }

    /**
     * Resizes the top image at {@code path} (opened as {@code format}, or probed when null) to
     * {@code sizeSpec}. {@code options} give the parent directories and warnings; the image is
     * opened writable with its locks whatever their read-only flag says.
     */
    public static Result resize(Path path, ImageFormat format, String sizeSpec, boolean shrink, OpenOptions options)
            throws IOException {
        return resize(path, format, sizeSpec, shrink, Preallocation.OFF, options);
    }

    /**
     * {@link #resize(Path, ImageFormat, String, boolean, OpenOptions)}, and a grown area set up as
     * {@code prealloc} says once the new size is written (qemu-img resize --preallocation).
     */
    public static Result resize(Path path, ImageFormat format, String sizeSpec, boolean shrink, Preallocation prealloc,
                                OpenOptions options) throws IOException {
        ImageFormat fmt = format != null ? format : FormatRegistry.probe(path);
        if (!fmt.can(Capability.RESIZE)) {
            throw new UnsupportedFeatureException("resize is not supported by " + fmt.name() + ": " + path);
        }
        if (!fmt.preallocationModes().contains(prealloc)) {
            throw new UnsupportedFeatureException("resize --preallocation=" + prealloc.optionValue() + " is not "
                    + "supported by " + fmt.name() + " (" + fmt.preallocationModes().stream()
                    .map(Preallocation::optionValue).collect(java.util.stream.Collectors.joining(", ")) + "): " + path);
        }
        OpenOptions rw = options.withReadOnly(false);
        long oldSize;
        long newSize;
        boolean gpt;
        long parentSize;
        try (Disk disk = Disk.fromTop(fmt.open(path, rw), rw)) {
            Image top = disk.top();
            oldSize = top.virtualSize();
            newSize = target(oldSize, sizeSpec);
            int sector = top.logicalSectorSize();
            if (newSize <= 0 || newSize % sector != 0) {
                throw new UnsupportedFeatureException("invalid size '" + sizeSpec + "' for " + path + ": " + newSize
                        + " bytes is not a positive multiple of the " + sector + "-byte sector");
            }
            if (newSize < oldSize) {
                if (prealloc != Preallocation.OFF) {
                    throw new UnsupportedFeatureException(path + ": --preallocation applies to a grown image, and "
                            + newSize + " bytes is smaller than the current " + oldSize);
                }
                if (!shrink) {
                    throw new UnsupportedFeatureException(path + ": " + newSize + " bytes is smaller than the current "
                            + oldSize + "; use --shrink to cut the disk (data past the new end would be lost)");
                }
                refuseCutData(top, path, newSize, oldSize);
            }
            gpt = holdsGpt(disk);
            parentSize = disk.layers().size() > 1 ? disk.layers().get(disk.layers().size() - 2).virtualSize() : 0;
            if (newSize != oldSize) {
                top.flush();
                fmt.resize(unwrapped(top), newSize);
            }
        }
        long zeroed = 0;
        try (Disk after = Disk.open(path, fmt, rw)) {
            if (after.size() != newSize) {
                throw new CorruptImageException(fmt.name(), path, "header", 0, "resized to " + newSize
                        + " bytes but reopens with " + after.size());
            }
            // qemu-img resize of an overlay over a larger backing file: the new area reads zeros, not
            // the backing file's bytes that lay past the old end
            long end = Math.min(newSize, parentSize);
            if (end > oldSize) {
                after.zero(oldSize, end - oldSize);
                after.flush();
                zeroed = end - oldSize;
            }
            if (newSize > oldSize && prealloc != Preallocation.OFF) {
                fmt.preallocate(unwrapped(after.top()), oldSize, newSize - oldSize, prealloc);
                after.flush();
            }
        }
        return new Result(path, fmt.name(), oldSize, newSize, gpt, zeroed);
    }

    /**
     * Refuses a shrink that would cut data this image holds, naming the first non-zero byte past
     * the new end: blocks that hold only zeros (a raw file's tail, say) may go.
     */
    private static void refuseCutData(Image top, Path path, long newSize, long oldSize) throws IOException {
        ByteBuffer buf = ByteBuffer.allocate((int) Math.min(1 << 20, Math.max(top.blockSize(), 4096)));
        long off = newSize;
        while (off < oldSize) {
            long run = top.map(off, oldSize - off);
            long len = Run.length(run);
            if (Run.kind(run) == Allocation.DATA) {
                for (long at = off; at < off + len; ) {
                    buf.clear().limit((int) Math.min(buf.capacity(), off + len - at));
                    top.readData(at, buf);
                    int n = buf.position();
                    for (int i = 0; i < n; i++) {
                        if (buf.get(i) != 0) {
                            long where = at + i;
                            throw new UnsupportedFeatureException(path + ": cannot shrink to " + newSize + " bytes: the "
                                    + top.format().name() + " image holds data at offset " + where + " (block at "
                                    + where / top.blockSize() * top.blockSize() + "), past the new end");
                        }
                    }
                    at += n;
                }
            }
            off += len;
        }
    }

    /** Whether the disk's LBA 1 holds a GPT header. */
    private static boolean holdsGpt(Disk disk) throws IOException {
        int sector = disk.logicalSectorSize();
        if (disk.size() < 2L * sector) {
            return false;
        }
        ByteBuffer b = ByteBuffer.allocate(GPT_SIGNATURE.length);
        disk.read(sector, b);
        return java.util.Arrays.equals(b.array(), GPT_SIGNATURE);
    }

    /** The format's own image under the {@link Disk}'s declaration gate. */
    private static Image unwrapped(Image image) {
        return image instanceof GatedImage g ? g.inner() : image;
    }
}
