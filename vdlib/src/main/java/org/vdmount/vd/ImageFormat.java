package org.vdmount.vd;

import java.io.IOException;
import java.nio.file.Path;
import java.util.List;

/**
 * One format backend: the table that says what a format is (cf. VirtualBox's VDIMAGEBACKEND,
 * QEMU's BlockDriver). Registered in {@link FormatRegistry}.
 */
public interface ImageFormat {

    /** Short lower-case name used on the command line and in {@code vd info}: "vdi", "vhd", ... */
    String name();

    /** File extensions, without dot, lower case. */
    List<String> extensions();

    /**
     * Confidence that the file is of this format: 0 = not mine, 100 = exact signature and
     * consistent header; raw answers 1.
     */
    int probe(ProbeInput in);

    /** Opens one layer. Throws {@link NotThisFormatException} if the signature is absent. */
    Image open(Path path, OpenOptions options) throws IOException;

    /**
     * Opens the state of an internal snapshot (by id or name) as a read-only layer whose parent is
     * the image's own parent. Formats without internal snapshots refuse.
     */
    default Image openSnapshot(Path path, String idOrName, OpenOptions options) throws IOException {
        throw new UnsupportedFeatureException(name() + ": " + path + " has no internal snapshots ("
                + name() + " does not support them)");
    }

    /** Whether {@link #create} is implemented. */
    default boolean canCreate() {
        return false;
    }

    /** Whether the format can record a parent (differencing / backing images). */
    default boolean supportsParent() {
        return false;
    }

    /** Creates a new image (fails if the path exists) and returns it opened read-write. */
    default Image create(Path path, CreateOptions options) throws IOException {
        throw new UnsupportedFeatureException(name() + ": creating images is not supported");
    }
}
