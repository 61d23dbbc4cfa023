package org.vdmount.mount.cli;

import java.io.IOException;
import java.nio.file.Path;
import org.vdmount.vd.Disk;
import org.vdmount.vd.FormatRegistry;
import org.vdmount.vd.OpenOptions;

/** What the inspecting verbs (map, compare, check, measure) share: opening an image as named. */
final class Inspecting {
    private Inspecting() {
    }

    /** Opens {@code image} and its chain read-only, as {@code format} when given (no probe then). */
    static Disk open(Path image, String format, OpenOptions options) throws IOException {
        return format == null ? Disk.open(image, options) : Disk.open(image, FormatRegistry.require(format), options);
    }
}
