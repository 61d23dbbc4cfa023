package org.vdmount.mount.cli;

import java.io.Closeable;
import java.io.IOException;
import java.nio.file.FileAlreadyExistsException;
import java.nio.file.Files;
import java.nio.file.Path;
import org.vdmount.vd.CreateOptions;
import org.vdmount.vd.Image;
import org.vdmount.vd.ImageFormat;

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

    static void closeQuietly(Closeable c) {
        try {
            c.close();
        } catch (IOException | RuntimeException e) {
            // the failure that led here is the one reported
        }
    }
}
