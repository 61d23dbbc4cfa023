package org.vdmount.mount.fuse;

import java.io.IOException;

/** No FUSE binding can serve the mount; the message is one line for the user. */
public final class FuseBindingException extends IOException {
    private static final long serialVersionUID = 1L;

    /** Why the choice failed. */
    public enum Reason {
        /** {@code --fuse NAME} names no installed binding (a usage error). */
        UNKNOWN_NAME,
        /** The binding named by {@code --fuse} cannot run on this host. */
        UNAVAILABLE,
        /** Without {@code --fuse}: no installed binding can run on this host. */
        NONE_AVAILABLE
    }

    private final Reason reason;

    FuseBindingException(Reason reason, String message) {
        super(message);
        this.reason = reason;
    }

    public Reason reason() {
        return reason;
    }
}
