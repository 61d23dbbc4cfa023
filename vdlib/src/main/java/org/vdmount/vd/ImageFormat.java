package org.vdmount.vd;

import java.io.IOException;
import java.nio.file.Path;
import java.util.List;
import java.util.Set;

/**
 * One format backend: the table that says what a format is (cf. VirtualBox's VDIMAGEBACKEND,
 * QEMU's BlockDriver, nbdkit's plugin struct). Registered in {@link FormatRegistry}.
 *
 * <p>What a format can do is data: {@link #capabilities()}, {@link #createOptions()} and
 * {@link #threadModel()}. Callers ask before they call; a verb whose capability is absent is never
 * called (the defaults below refuse it in one line if it is).
 */
public interface ImageFormat {

    /** Short lower-case name used on the command line and in {@code vd info}: "vdi", "vhd", ... */
    String name();

    /** Other names the format answers to on the command line (qemu's "vpc" for VHD); lower case. */
    default List<String> aliases() {
        return List.of();
    }

    /** File extensions, without dot, lower case. */
    List<String> extensions();

    /** What this format can do. Always contains {@link Capability#READ}. */
    Set<Capability> capabilities();

    /** Whether {@code capability} is in {@link #capabilities()}. */
    default boolean can(Capability capability) {
        return capabilities().contains(capability);
    }

    /** The {@code -o} options {@link #create} takes; empty if none (or if it cannot create). */
    default List<CreateOption> createOptions() {
        return List.of();
    }

    /** How many threads may be inside one of its images at once; the {@link Disk} honours it. */
    default ThreadModel threadModel() {
        return ThreadModel.PARALLEL;
    }

    /**
     * Confidence that the file is of this format: 0 = not mine, 100 = exact signature and
     * consistent header; raw answers 1.
     */
    int probe(ProbeInput in);

    /** Opens one layer. Throws {@link NotThisFormatException} if the signature is absent. */
    Image open(Path path, OpenOptions options) throws IOException;

    /**
     * Opens the state of an internal snapshot (by id or name) as a read-only layer whose parent is
     * the image's own parent. Only for formats with {@link Capability#INTERNAL_SNAPSHOTS}.
     */
    default Image openSnapshot(Path path, String idOrName, OpenOptions options) throws IOException {
        throw new UnsupportedFeatureException(name() + ": " + path + " has no internal snapshots ("
                + name() + " does not support them)");
    }

    /**
     * The structural checker of this format's files ({@code vd check}), or empty when the format
     * has none.
     */
    default java.util.Optional<org.vdmount.vd.check.ImageChecker> checker() {
        return java.util.Optional.empty();
    }

    /**
     * The compaction of this format's images ({@code vd compact}), or empty when the format has
     * none.
     */
    default java.util.Optional<org.vdmount.vd.compact.ImageCompactor> compactor() {
        return java.util.Optional.empty();
    }

    /**
     * Creates a new image (fails if the path exists) and returns it opened read-write. Checks the
     * capabilities ({@link Capability#CREATE}, {@link Capability#DIFFERENCING} for a parent) and
     * the options against {@link #createOptions()}, then calls {@link #createImage}. Formats
     * implement {@code createImage}, not this.
     */
    default Image create(Path path, CreateOptions options) throws IOException {
        if (!can(Capability.CREATE)) {
            throw new UnsupportedFeatureException(name() + ": creating images is not supported");
        }
        if (options.parent() != null && !can(Capability.DIFFERENCING)) {
            throw new UnsupportedFeatureException(name() + ": images of this format cannot have a backing file");
        }
        return createImage(path, options.validate(this));
    }

    /**
     * Changes the virtual size of {@code image}, opened writable by this format and flushed, to
     * {@code newSize} ({@link ImageResize} has checked it: a multiple of the logical sector size,
     * and when smaller, nothing this image holds lies past it). Only for formats with
     * {@link Capability#RESIZE}. Data first, metadata last, the size itself in the last write:
     * a kill at any point leaves an image of the old or the new size holding the old data.
     * Afterwards {@code image} is spent: the caller only closes it (which writes nothing more)
     * and reopens the file.
     */
    default void resize(Image image, long newSize) throws IOException {
        throw new UnsupportedFeatureException("resize is not supported by " + name() + ": "
                + image.storage().path());
    }

    /**
     * The {@link org.vdmount.vd.storage.Preallocation} modes {@link #preallocate} takes (qemu-img
     * resize --preallocation); off only where the format has none.
     */
    default java.util.Set<org.vdmount.vd.storage.Preallocation> preallocationModes() {
        return java.util.EnumSet.of(org.vdmount.vd.storage.Preallocation.OFF);
    }

    /**
     * Sets up {@code [offset, offset + length)} of {@code image}, an area just grown by a resize
     * that reads as zeros, as {@code mode} says; it still reads as zeros afterwards. Only modes of
     * {@link #preallocationModes()}.
     */
    default void preallocate(Image image, long offset, long length, org.vdmount.vd.storage.Preallocation mode)
            throws IOException {
        if (mode != org.vdmount.vd.storage.Preallocation.OFF) {
            throw new UnsupportedFeatureException("preallocation=" + mode.optionValue() + " is not supported by "
                    + name() + ": " + image.storage().path());
        }
    }

    /**
     * Starts a new image at {@code path} whose clusters are written compressed, in order, by the
     * returned writer ({@code vd convert -c}). Checks the options against {@link #createOptions()}
     * as {@link #create} does; formats that cannot write compressed images refuse in one line.
     */
    default CompressedWriter createCompressed(Path path, CreateOptions options) throws IOException {
        throw new UnsupportedFeatureException("-c (compression) is not supported for " + name());
    }

    /**
     * Internal snapshot operations ({@code vd snapshot -c/-a/-d}, as {@code qemu-img snapshot}) on
     * {@code image}, opened writable by this format and flushed: {@code op} is 'c' (create a
     * snapshot named {@code name}), 'a' (apply: the active state becomes the snapshot with that id
     * or name) or 'd' (delete it). Only for formats with {@link Capability#INTERNAL_SNAPSHOTS}.
     * Crash-safe (a kill leaves leaked space at worst). Returns the snapshot's id. Afterwards
     * {@code image} is spent: the caller only closes it and reopens the file.
     */
    default String changeSnapshot(Image image, char op, String name) throws IOException {
        throw new UnsupportedFeatureException("snapshot -" + op + " is not supported by " + name() + ": "
                + image.storage().path());
    }

    /** Creates the image from options already checked against {@link #createOptions()}. */
    default Image createImage(Path path, CreateOptions options) throws IOException {
        throw new UnsupportedFeatureException(name() + ": creating images is not supported");
    }
}
