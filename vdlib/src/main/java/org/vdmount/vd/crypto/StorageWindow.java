package org.vdmount.vd.crypto;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.file.Path;
import java.util.List;
import org.vdmount.vd.ReadOnlyException;
import org.vdmount.vd.TruncatedImageException;
import org.vdmount.vd.storage.Storage;

/**
 * A read-only window [start, start + length) of a storage, seen from offset 0: a LUKS header kept
 * inside another file (qcow2's full disk encryption header extension points at one). Closing it
 * leaves the storage open.
 */
public final class StorageWindow implements Storage {
    private final Storage storage;
    private final long start;
    private final long length;

    public StorageWindow(Storage storage, long start, long length) {
        this.storage = storage;
        this.start = start;
        this.length = length;
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
        return Math.max(0, Math.min(length, storage.size() - start));
    }

    @Override
    public int read(ByteBuffer dst, long pos) throws IOException {
        long n = Math.max(0, Math.min(dst.remaining(), length - pos));
        if (n == 0) {
            return 0;
        }
        ByteBuffer part = dst.duplicate().limit(dst.position() + (int) n);
        int got = storage.read(part, start + pos);
        dst.position(dst.position() + Math.max(0, got));
        return got;
    }

    @Override
    public void readFully(ByteBuffer dst, long pos, String format, String structure) throws IOException {
        if (pos + dst.remaining() > length) {
            throw new TruncatedImageException(format, storage.path(), structure, start + pos, dst.remaining(),
                    start + length);
        }
        storage.readFully(dst, start + pos, format, structure);
    }

    @Override
    public void write(ByteBuffer src, long pos) throws IOException {
        throw new ReadOnlyException(storage.path() + ": the LUKS header window is read-only");
    }

    @Override
    public void truncate(long size) throws IOException {
        throw new ReadOnlyException(storage.path() + ": the LUKS header window is read-only");
    }

    @Override
    public boolean punchHole(long pos, long len) {
        return false;
    }

    @Override
    public void force() {
    }

    @Override
    public long allocatedBytes() {
        return 0;
    }

    @Override
    public void close() {
    }
}
