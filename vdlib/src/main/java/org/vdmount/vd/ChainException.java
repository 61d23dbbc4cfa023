package org.vdmount.vd;

/** A differencing chain cannot be assembled: parent missing, UUID mismatch, cycle, too deep. */
public class ChainException extends VdException {
    private static final long serialVersionUID = 1L;

    public ChainException(String message) {
        super(message);
    }
}
