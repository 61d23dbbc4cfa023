package org.vdmount.vd.storage;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import jnr.posix.POSIX;
import jnr.posix.POSIXFactory;

/** Facts about host files that java.nio does not expose portably. */
final class HostFiles {
    private static volatile POSIX posix;
    private static volatile boolean unavailable;

    private HostFiles() {
    }

    /**
     * Bytes allocated on the host file system (stat(2) st_blocks * 512), or the size if unknown.
     * java.nio has no st_blocks ("unix:blocks" is not an attribute), so this goes through libc.
     */
    static long allocatedBytes(Path p) throws IOException {
        POSIX px = posix();
        if (px != null) {
            try {
                return px.stat(p.toString()).blocks() * 512;
            } catch (RuntimeException e) {
                // stat failed (the handler throws): report the size as below
            }
        }
        return Files.size(p);
    }

    private static POSIX posix() {
        if (posix == null && !unavailable) {
            synchronized (HostFiles.class) {
                if (posix == null && !unavailable) {
                    try {
                        POSIX px = POSIXFactory.getNativePOSIX();
                        if (px.isNative()) {
                            posix = px;
                        } else {
                            unavailable = true;
                        }
                    } catch (RuntimeException | LinkageError e) {
                        unavailable = true;
                    }
                }
            }
        }
        return posix;
    }
}
