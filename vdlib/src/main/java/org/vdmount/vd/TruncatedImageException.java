package org.vdmount.vd;

import java.nio.file.Path;

/** A structure or data block lies (partly) beyond the end of the file. */
public class TruncatedImageException extends CorruptImageException {
    private static final long serialVersionUID = 1L;

    public TruncatedImageException(String message) {
        super(message);
    }

    public TruncatedImageException(String format, Path file, String structure, long offset, long length, long fileSize) {
        super(format + ": truncated " + structure + " in " + file + " at 0x" + Long.toHexString(offset)
                + ": needs " + length + " bytes, file ends at 0x" + Long.toHexString(fileSize));
    }
}
