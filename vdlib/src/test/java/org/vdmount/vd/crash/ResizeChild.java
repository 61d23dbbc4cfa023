package org.vdmount.vd.crash;

import java.nio.file.Path;
import org.vdmount.vd.ImageResize;
import org.vdmount.vd.OpenOptions;
import org.vdmount.vd.storage.WriteFault;

/**
 * {@code vd resize} in its own JVM, armed by {@link WriteFault#HALT_PROPERTY} so it dies by
 * {@code Runtime.halt} (what kill -9 does) at the chosen host write. Arguments: IMAGE SIZE.
 * Exits 0 only if the fault never fired.
 */
public final class ResizeChild {
    private ResizeChild() {
    }

    public static void main(String[] args) throws Exception {
        ImageResize.resize(Path.of(args[0]), null, args[1], false, OpenOptions.defaultReadOnly());
    }
}
