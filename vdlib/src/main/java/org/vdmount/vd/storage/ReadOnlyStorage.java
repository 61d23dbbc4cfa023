package org.vdmount.vd.storage;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.file.Path;
import java.util.List;
import org.vdmount.vd.ReadOnlyException;

/**
 * A storage that reads through another one and refuses every write, truncate and hole punch with
 * a {@link ReadOnlyException} saying why ({@link #refusal}). The views differ in what they read
 * (all of it, or zeros past a cut) and in who closes the storage underneath.
 */
abstract class ReadOnlyStorage implements Storage {
    final Storage storage;

    ReadOnlyStorage(Storage storage) {
        this.storage = storage;
    }

    /** Why writes are refused, after "write to FILE refused: ". */
    abstract String refusal();

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
        // nothing is written through this storage
    }

    @Override
    public long allocatedBytes() throws IOException {
        return storage.allocatedBytes();
    }

    private ReadOnlyException refused() {
        return new ReadOnlyException("write to " + storage.path() + " refused: " + refusal());
    }
}
