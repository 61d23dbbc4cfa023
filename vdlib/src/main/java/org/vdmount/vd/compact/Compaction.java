package org.vdmount.vd.compact;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.function.LongConsumer;
import org.vdmount.vd.Disk;
import org.vdmount.vd.FormatRegistry;
import org.vdmount.vd.Image;
import org.vdmount.vd.ImageFormat;
import org.vdmount.vd.OpenOptions;
import org.vdmount.vd.UnsupportedFeatureException;

/**
 * {@code vd compact IMAGE}: opens IMAGE writable (locked, as every writable open) and its chain
 * read-only, runs its format's {@link ImageCompactor} and reports the file sizes before and after.
 */
public final class Compaction {
    private Compaction() {
    }

    /**
     * Compacts {@code path}, of {@code format} (null: probed). {@code options} give the chain
     * settings; the image itself is opened writable whatever they say. {@code progress} gets the
     * virtual bytes examined.
     */
    public static CompactResult compact(Path path, ImageFormat format, OpenOptions options, LongConsumer progress)
            throws IOException {
        ImageFormat fmt = format != null ? format : FormatRegistry.probe(path);
        ImageCompactor compactor = fmt.compactor().orElseThrow(() -> new UnsupportedFeatureException(
                "compact is not supported by " + fmt.name() + " (" + path + ")"));
        compactor.checkSupported(fmt, path, options.withReadOnly(true));
        OpenOptions rw = options.withReadOnly(false);
        Image top = fmt.open(path, rw);
        List<Path> files = top.files();
        long before = sizeOf(files);
        long hostBefore = hostBytes(files);
        CompactResult r;
        try (Disk whole = Disk.fromTop(top, rw)) {
            List<Image> layers = whole.layers();
            Disk parent = layers.size() > 1 ? Disk.of(layers.subList(0, layers.size() - 1)) : null;
            r = compactor.compact(top, parent, progress);
            top.flush();
        }
        return r.withSizes(before, sizeOf(files), hostBefore, hostBytes(files));
    }

    private static long hostBytes(List<Path> files) throws IOException {
        long n = 0;
        for (Path p : files) {
            n += org.vdmount.vd.nativeio.HostFiles.allocatedBytes(p);
        }
        return n;
    }

    private static long sizeOf(List<Path> files) throws IOException {
        long n = 0;
        for (Path p : files) {
            n += Files.size(p);
        }
        return n;
    }
}
