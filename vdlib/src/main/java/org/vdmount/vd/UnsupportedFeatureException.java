package org.vdmount.vd;

/** A valid image that uses a feature this library does not implement (or refuses, e.g. encryption). */
public class UnsupportedFeatureException extends VdException {
    private static final long serialVersionUID = 1L;

    public UnsupportedFeatureException(String message) {
        super(message);
    }
}
