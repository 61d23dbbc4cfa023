package org.vdmount.vd;

import java.nio.file.Path;

/**
 * A structure of the image is inconsistent. The message reads
 * {@code <format>: corrupt <structure> in <file> at 0x<offset>: <detail>}.
 */
public class CorruptImageException extends VdException {
    private static final long serialVersionUID = 1L;

    public CorruptImageException(String message) {
        super(message);
    }

    public CorruptImageException(String format, Path file, String structure, long offset, String detail) {
        super(format + ": corrupt " + structure + " in " + file + " at 0x" + Long.toHexString(offset) + ": " + detail);
    }
}
