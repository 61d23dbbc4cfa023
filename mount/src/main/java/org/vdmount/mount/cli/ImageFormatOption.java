package org.vdmount.mount.cli;

import java.io.IOException;
import java.nio.file.Path;
import org.vdmount.vd.Disk;
import org.vdmount.vd.FormatRegistry;
import org.vdmount.vd.OpenOptions;
import picocli.CommandLine.Option;

/**
 * {@code -f FMT} of every {@code vd} verb that reads an image (design.md section 5.1): the
 * image's format, so the probe is skipped (qemu-img's {@code -f}; {@code vpc} names VHD). Its
 * parents are still found and probed as the image records them.
 */
final class ImageFormatOption {

    @Option(names = {"-f", "--format"}, paramLabel = "FMT",
            description = "Format of IMAGE (skips the probe; 'vd formats' lists them, 'vpc' = vhd).")
    String format;

    /** Opens {@code image} and its chain, as {@link #format} when given. */
    Disk open(Path image, OpenOptions options) throws IOException {
        return open(image, format, options);
    }

    /** Opens internal snapshot {@code key} of {@code image} (read-only) and the chain it needs. */
    Disk openSnapshot(Path image, String key, OpenOptions options) throws IOException {
        return Disk.openSnapshot(image, format == null ? null : FormatRegistry.require(format), key, options);
    }

    /** Opens {@code image} and its chain, as {@code format} when not null (no probe then). */
    static Disk open(Path image, String format, OpenOptions options) throws IOException {
        return format == null ? Disk.open(image, options) : Disk.open(image, FormatRegistry.require(format), options);
    }
}
