package org.vdmount.vd;

/**
 * A path named inside an image (parent locator, extent, data file) really points outside the
 * allowed directories ({@link PathPolicy}); followed only with --allow-absolute-parents.
 */
public class ContainmentException extends ChainException {
    private static final long serialVersionUID = 1L;

    public ContainmentException(String message) {
        super(message);
    }
}
