package org.vdmount.vd;

/** A modification was attempted on an image or disk opened read-only. */
public class ReadOnlyException extends VdException {
    private static final long serialVersionUID = 1L;

    public ReadOnlyException(String message) {
        super(message);
    }
}
