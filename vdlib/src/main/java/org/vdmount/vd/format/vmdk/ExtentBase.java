package org.vdmount.vd.format.vmdk;

import java.io.IOException;
import org.vdmount.vd.storage.Storage;

/**
 * What every extent answers the same way: the file behind it (null for ZERO and NOACCESS), the
 * virtual bytes it covers and its grain (0 for extents without one). Flush does nothing unless the
 * extent caches or buffers something.
 */
abstract class ExtentBase implements Extent {
    protected final Storage storage;
    protected final long sizeBytes;
    protected final long grainBytes;

    ExtentBase(Storage storage, long sizeBytes, long grainBytes) {
        this.storage = storage;
        this.sizeBytes = sizeBytes;
        this.grainBytes = grainBytes;
    }

    @Override
    public final Storage storage() {
        return storage;
    }

    @Override
    public final long sizeBytes() {
        return sizeBytes;
    }

    @Override
    public final long grainBytes() {
        return grainBytes;
    }

    @Override
    public void flush() throws IOException {
    }
}
