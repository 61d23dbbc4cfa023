package org.vdmount.vd.crash;

import java.nio.file.Path;
import org.vdmount.vd.ImageSnapshots;
import org.vdmount.vd.OpenOptions;
import org.vdmount.vd.storage.WriteFault;

/**
 * {@code vd snapshot -c/-a/-d} in its own JVM, armed by {@link WriteFault#HALT_PROPERTY} so it
 * dies by {@code Runtime.halt} (what kill -9 does) at the chosen host write. Arguments: IMAGE
 * OP NAME, OP one of CREATE, APPLY, DELETE. Exits 0 only if the fault never fired.
 */
public final class SnapshotChild {
    private SnapshotChild() {
    }

    public static void main(String[] args) throws Exception {
        ImageSnapshots.change(Path.of(args[0]), null, ImageSnapshots.Op.valueOf(args[1]), args[2],
                OpenOptions.defaultReadOnly());
    }
}
