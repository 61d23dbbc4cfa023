package org.vdmount.mount.fuse;

import java.io.IOException;
import java.nio.file.Path;
import java.util.List;

/** A FUSE library binding: mounts {@link FuseOps} and serves requests until unmounted. */
public interface FuseBinding {

    /**
     * Mounts at {@code mountpoint} with the given {@code -o} options and serves requests on
     * several threads until the file system is unmounted. Returns the library's status (0 = clean).
     * Throws when the mount cannot be made; the message is one line for the user.
     */
    int serve(Path mountpoint, List<String> options, FuseOps ops) throws IOException;
}
