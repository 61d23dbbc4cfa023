package org.vdmount.vd;

import java.io.IOException;
import java.nio.file.Path;

/**
 * {@code vd snapshot -c/-a/-d}: creates, applies or deletes an internal snapshot of the top image
 * of a chain, as {@code qemu-img snapshot} does. The format does the work
 * ({@link ImageFormat#changeSnapshot}); this class opens the image writable with its locks and
 * refuses formats without internal snapshots with one line.
 */
public final class ImageSnapshots {
    private ImageSnapshots() {
    }

    /** The operations, by their qemu-img option letter. */
    public enum Op {
        CREATE('c'), APPLY('a'), DELETE('d');

        final char letter;

        Op(char letter) {
            this.letter = letter;
        }
    }

    /**
     * Runs {@code op} on the image at {@code path} (opened as {@code format}, or probed when null)
     * with snapshot name or id {@code name}; returns the snapshot's id. The image is opened
     * writable with its locks whatever {@code options}' read-only flag says.
     */
    public static String change(Path path, ImageFormat format, Op op, String name, OpenOptions options)
            throws IOException {
        ImageFormat fmt = format != null ? format : FormatRegistry.probe(path);
        if (!fmt.can(Capability.INTERNAL_SNAPSHOTS)) {
            throw new UnsupportedFeatureException("snapshot -" + op.letter + " is not supported by " + fmt.name()
                    + ": " + path);
        }
        OpenOptions rw = options.withReadOnly(false);
        try (Image image = fmt.open(path, rw)) {
            image.flush();
            return fmt.changeSnapshot(image, op.letter, name);
        }
    }
}
