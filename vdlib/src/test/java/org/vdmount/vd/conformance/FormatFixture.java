package org.vdmount.vd.conformance;

import java.io.IOException;
import java.nio.ByteOrder;
import java.nio.file.Path;
import java.util.List;
import org.vdmount.vd.Disk;
import org.vdmount.vd.Image;
import org.vdmount.vd.ImageFormat;
import org.vdmount.vd.OpenOptions;

/**
 * What the conformance kit needs to know about one format, beyond what the format declares. One
 * implementation per registered format, named after it in its test package
 * ({@code org.vdmount.vd.format.qcow2.Qcow2Format} → {@code ...qcow2.Qcow2Fixture}, public with a
 * public no-argument constructor); {@link Fixtures} finds it, and a registered format without one
 * fails the build.
 *
 * <p>The kit's tests ({@code Conformance*Test}) drive everything from here and from the format's
 * {@link ImageFormat#capabilities()}: how to make fresh images of each {@link Variant}, which bytes
 * of a file are worth corrupting, and which outside tool checks an image.
 */
public interface FormatFixture {

    /** The registered format this fixture describes. */
    ImageFormat format();

    /**
     * Variants worth running, at least one, the most common first. A fixed one exactly when the
     * format can {@code CREATE_FIXED}; one whose images span several files when it is
     * {@code MULTI_FILE}.
     */
    List<Variant> variants();

    /** How the format stores multi-byte numbers: mutations write their nasty values in it. */
    ByteOrder byteOrder();

    /**
     * Where in {@code file} (one of an image's {@link Image#files()}, {@code content} its bytes)
     * the structures lie that are worth corrupting: headers, tables, descriptors, the first
     * entries of maps. Never empty.
     */
    List<Region> regions(Path file, byte[] content) throws IOException;

    /**
     * Who checks an image of {@code variant} from outside after the kit wrote it, {@code layers}
     * deep (1: a base alone); {@link Oracle#none} with the reason when nobody can.
     */
    Oracle oracle(Variant variant, int layers);

    /** The extension of the files the kit makes. */
    default String extension() {
        return format().extensions().get(0);
    }

    /** Creates a fresh, empty base image of {@code variant}; returns the path to open it by. */
    default Path createBase(Path dir, String stem, Variant variant, long virtualSize) throws IOException {
        Path path = dir.resolve(stem + "." + extension());
        format().create(path, variant.baseOptions(virtualSize)).close();
        return path;
    }

    /** Creates a fresh differencing child of {@code parent} (only with {@code DIFFERENCING}). */
    default Path createChild(Path dir, String stem, Path parent, Variant variant) throws IOException {
        Path path = dir.resolve(stem + "." + extension());
        try (Disk p = Disk.open(parent, Kit.readOnly())) {
            format().create(path, variant.childCreateOptions().withParent(p, parentReference(parent))).close();
        }
        return path;
    }

    /**
     * How a child names its parent at create time: the absolute path by default (formats that
     * derive relative locators from it); formats that store the text as given use the file name.
     */
    default Path parentReference(Path parent) {
        return parent;
    }

    /**
     * Whether {@code file}, one of a layer's files, is shared with the children stacked on it and
     * rewritten when one is added (a Parallels bundle's descriptor, which lists every snapshot):
     * the kit then does not expect it unchanged while the layer lies below the top.
     */
    default boolean rewrittenByChildren(Path file) {
        return false;
    }

    /**
     * Images to corrupt besides those the kit makes from the variants: ones made by the real
     * products or by hand, with features our create never writes (compression, snapshots, a
     * journal to replay). Each in its own directory under {@code dir}, parents beside children.
     */
    default List<Path> extraMutationImages(Path dir) throws IOException {
        return List.of();
    }

    /**
     * Recomputes the checksums in {@code content[0, length)} after a mutation, so that half of
     * the cases get past them to the deeper checks. Formats without checksums do nothing.
     */
    default void fixChecksums(byte[] content, int length) {
    }

    /** Corruption cases per campaign (times {@link Kit#rounds()}), spread over the images. */
    default int mutationCases() {
        return 2000;
    }

    /** Whether some corruptions must be refused; false for formats where every byte is valid. */
    default boolean refusalsExpected() {
        return true;
    }

    /** Takes an internal snapshot named {@code name} (only with {@code INTERNAL_SNAPSHOTS}). */
    default void takeSnapshot(Path image, String name) throws IOException {
        throw new UnsupportedOperationException(format().name() + ": the fixture takes no snapshots");
    }

    /** The names of the internal snapshots {@code image} lists (only with {@code INTERNAL_SNAPSHOTS}). */
    default List<String> snapshotNames(Image image) {
        throw new UnsupportedOperationException(format().name() + ": the fixture lists no snapshots");
    }
}
