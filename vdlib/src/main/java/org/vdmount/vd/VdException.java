package org.vdmount.vd;

import java.io.IOException;

/** Root of the library's checked exceptions. Messages are one line and name file, structure and offset. */
public class VdException extends IOException {
    private static final long serialVersionUID = 1L;

    public VdException(String message) {
        super(message);
    }

    public VdException(String message, Throwable cause) {
        super(message, cause);
    }
}
