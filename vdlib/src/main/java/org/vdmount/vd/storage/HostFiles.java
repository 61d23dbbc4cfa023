package org.vdmount.vd.storage;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;

/** Facts about host files that java.nio does not expose portably. */
final class HostFiles {
    private HostFiles() {
    }

    /** Bytes allocated on the host file system (st_blocks * 512), or the size if unknown. */
    static long allocatedBytes(Path p) throws IOException {
        try {
            Object blocks = Files.getAttribute(p, "unix:blocks");
            if (blocks instanceof Number n) {
                return n.longValue() * 512;
            }
        } catch (UnsupportedOperationException | IllegalArgumentException e) {
            // fall through
        }
        return Files.size(p);
    }
}
