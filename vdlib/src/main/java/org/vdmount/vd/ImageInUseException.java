package org.vdmount.vd;

/**
 * An image file is in use by someone whose QEMU-style locks conflict with the open asked for (a
 * writer while we read, any user while we write), or an output would replace a file in use.
 */
public class ImageInUseException extends VdException {
    private static final long serialVersionUID = 1L;

    public ImageInUseException(String message) {
        super(message);
    }
}
