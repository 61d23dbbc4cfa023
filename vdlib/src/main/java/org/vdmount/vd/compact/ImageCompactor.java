package org.vdmount.vd.compact;

import java.io.IOException;
import java.nio.file.Path;
import java.util.function.LongConsumer;
import org.vdmount.vd.Disk;
import org.vdmount.vd.Image;
import org.vdmount.vd.ImageFormat;
import org.vdmount.vd.OpenOptions;

/**
 * The compaction of one format's images, found through {@link org.vdmount.vd.ImageFormat#compactor()}.
 *
 * <h2>Contract</h2>
 * <ul>
 * <li>Every block the image holds is judged by {@link Verdict#of}: freed to "not here" (the parent
 *     or, in a base image, zeros show through), turned into the format's zero marker where it has
 *     one, or kept.</li>
 * <li>Blocks left behind the first hole move into the holes and the file is cut to its new end.</li>
 * <li>Crash-safe by ordering: a block is copied to its new place and forced before the table entry
 *     that points there is written; the entry is forced before the old place can be reused; the
 *     file is cut only after every pointer into the cut part is gone and forced. A kill at any
 *     instant leaves an image that reads the same, with at worst leaked space.</li>
 * </ul>
 */
public interface ImageCompactor {

    /**
     * Compacts {@code image}, opened writable by its format. {@code parent} is the chain below it
     * (null for a base image), read-only. {@code progress} gets the virtual bytes examined so far.
     */
    CompactResult compact(Image image, Disk parent, LongConsumer progress) throws IOException;

    /**
     * Refuses, before {@code path} is opened writable, an image this compactor does not handle (an
     * {@link org.vdmount.vd.UnsupportedFeatureException} naming the file and why), where the writable
     * open itself would fail with a less useful message. {@code readOnly} are the options to open
     * it with, if at all. Accepts everything unless a format says otherwise.
     */
    default void checkSupported(ImageFormat format, Path path, OpenOptions readOnly) throws IOException {
    }
}
