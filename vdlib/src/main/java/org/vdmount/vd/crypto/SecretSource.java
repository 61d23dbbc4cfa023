package org.vdmount.vd.crypto;

import java.io.IOException;

/**
 * Where the password of an encrypted image comes from (a file, an interactive prompt). The bytes
 * returned belong to the caller, who zeroes them when done; a source never logs or echoes them.
 */
@FunctionalInterface
public interface SecretSource {

    /**
     * The password for {@code what} (the image file, for a prompt), as bytes (UTF-8 for text).
     * Throws a one-line {@link org.vdmount.vd.VdException} when there is none.
     */
    byte[] password(String what) throws IOException;

    /** The source of options that name none: every encrypted image is refused in one line. */
    SecretSource NONE = what -> {
        throw new org.vdmount.vd.UnsupportedFeatureException(what
                + " is encrypted: give its password with --password-file FILE (or run on a terminal to be asked)");
    };
}
