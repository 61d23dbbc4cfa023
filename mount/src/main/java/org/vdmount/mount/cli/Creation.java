package org.vdmount.mount.cli;

import java.io.Closeable;
import java.io.IOException;
import java.nio.file.FileAlreadyExistsException;
import java.nio.file.Files;
import java.nio.file.Path;
import org.vdmount.vd.CreateOptions;
import org.vdmount.vd.Disk;
import org.vdmount.vd.FormatRegistry;
import org.vdmount.vd.Image;
import org.vdmount.vd.ImageFormat;
import org.vdmount.vd.OpenOptions;
import org.vdmount.vd.VdException;

/** Creating an output image without leaving a partial file behind when the format fails. */
final class Creation {
    private Creation() {
    }

    /**
     * {@code format.create}; if it fails after creating {@code path} (anything but "already
     * exists", which means the file is not ours) the file is deleted.
     */
    static Image create(ImageFormat format, Path path, CreateOptions options) throws IOException {
        try {
            return format.create(path, options);
        } catch (FileAlreadyExistsException e) {
            throw e;
        } catch (IOException | RuntimeException e) {
            try {
                Files.deleteIfExists(path);
            } catch (IOException suppressed) {
                e.addSuppressed(suppressed);
            }
            throw e;
        }
    }

    /**
     * Opens the backing chain a new {@code image} is to record as {@code backing} (read-only):
     * relative to the image's directory unless absolute, as qemu-img resolves it; as
     * {@code backingFormat} when not null, else probed.
     */
    static Disk openBacking(Path image, Path backing, String backingFormat, OpenOptions open) throws IOException {
        Path at = backing.isAbsolute() ? backing : image.toAbsolutePath().getParent().resolve(backing);
        if (!Files.exists(at)) {
            throw new VdException(backing + ": backing file not found at " + at
                    + (backing.isAbsolute() ? "" : " (a relative BACKING is relative to the directory of " + image
                    + ", as in qemu-img)"));
        }
        return backingFormat == null ? Disk.open(at, open) : Disk.open(at, FormatRegistry.require(backingFormat), open);
    }

    static void closeQuietly(Closeable c) {
        try {
            c.close();
        } catch (IOException | RuntimeException e) {
            // the failure that led here is the one reported
        }
    }
}
