package org.vdmount.vd.storage;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.file.Path;
import java.util.List;
import org.vdmount.vd.ReadOnlyException;

/**
 * A read-only view of a storage opened for writing, for a part of an image that must not write a
 * file another part writes (a VMDK RDONLY extent of a file an RW extent also maps). The file is
 * opened and locked once, by its owner; closing the view leaves the storage open.
 */
public final class ReadOnlyView implements Storage {
    private final Storage storage;

    public ReadOnlyView(Storage storage) {
        this.storage = storage;
    }

    @Override
    public Path path() {
        return storage.path();
    }

    @Override
    public List<Path> files() {
        return storage.files();
    }

    @Override
    public boolean readOnly() {
        return true;
    }

    @Override
    public long size() throws IOException {
        return storage.size();
    }

    @Override
    public int read(ByteBuffer dst, long pos) throws IOException {
        return storage.read(dst, pos);
    }

    @Override
    public void readFully(ByteBuffer dst, long pos, String format, String structure) throws IOException {
        storage.readFully(dst, pos, format, structure);
    }

    @Override
    public void write(ByteBuffer src, long pos) throws IOException {
        throw refused();
    }

    @Override
    public void truncate(long size) throws IOException {
        throw refused();
    }

    @Override
    public boolean punchHole(long pos, long length) throws IOException {
        throw refused();
    }

    @Override
    public void force() {
        // nothing written through the view; the owner forces its own writes
    }

    @Override
    public long allocatedBytes() throws IOException {
        return storage.allocatedBytes();
    }

    @Override
    public void close() {
        // the owner closes the storage
    }

    private ReadOnlyException refused() {
        return new ReadOnlyException("write to " + storage.path() + " refused: mapped read-only here");
    }
}
