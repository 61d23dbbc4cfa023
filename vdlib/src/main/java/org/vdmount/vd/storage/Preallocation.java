package org.vdmount.vd.storage;

import java.io.IOException;
import java.util.Locale;
import org.vdmount.vd.UnsupportedFeatureException;
import org.vdmount.vd.nativeio.HostFiles;

/**
 * How much of a new image is set up when it is created: qemu-img's {@code preallocation} option.
 * OFF leaves a sparse file. METADATA has the format's tables map every block, and the data area
 * stays a hole. FALLOC also reserves the data area's host space with fallocate(2) and writes
 * nothing. FULL writes zeros over the data area.
 */
public enum Preallocation {
    OFF, METADATA, FALLOC, FULL;

    /** The mode named {@code value} (off, metadata, falloc, full; any case). */
    public static Preallocation of(String value) {
        return valueOf(value.toUpperCase(Locale.ROOT));
    }

    /** The name as the option spells it. */
    public String optionValue() {
        return name().toLowerCase(Locale.ROOT);
    }

    /**
     * Sets up {@code [pos, pos + length)} of {@code fs}, a range that reads as zeros (a file being
     * created or grown): FALLOC reserves its space (an error naming {@code format} and the file
     * where the file system cannot), FULL writes zeros over it, OFF and METADATA leave it alone.
     */
    public void reserve(String format, Storage fs, long pos, long length) throws IOException {
        if (length <= 0) {
            return;
        }
        switch (this) {
            case FALLOC -> {
                if (!HostFiles.allocate(fs.path(), pos, length)) {
                    throw new UnsupportedFeatureException(format + ": " + fs.path() + ": preallocation=falloc: the "
                            + "file system cannot reserve space (fallocate); use preallocation=full");
                }
            }
            case FULL -> fs.writeZeros(pos, length);
            default -> {
            }
        }
    }
}
