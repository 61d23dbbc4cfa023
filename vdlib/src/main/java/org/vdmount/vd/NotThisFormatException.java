package org.vdmount.vd;

/** The file is not an image of the format that was asked to open it. */
public class NotThisFormatException extends VdException {
    private static final long serialVersionUID = 1L;

    public NotThisFormatException(String message) {
        super(message);
    }
}
