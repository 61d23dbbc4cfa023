package org.vdmount.vd.storage;

/**
 * A read-only view of a storage opened for writing, for a part of an image that must not write a
 * file another part writes (a VMDK RDONLY extent of a file an RW extent also maps). The file is
 * opened and locked once, by its owner; closing the view leaves the storage open.
 */
public final class ReadOnlyView extends ReadOnlyStorage {

    public ReadOnlyView(Storage storage) {
        super(storage);
    }

    @Override
    String refusal() {
        return "mapped read-only here";
    }

    @Override
    public void close() {
        // the owner closes the storage
    }
}
