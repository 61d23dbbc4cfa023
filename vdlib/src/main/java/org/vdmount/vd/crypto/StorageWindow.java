package org.vdmount.vd.crypto;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.file.Path;
import java.util.List;
import org.vdmount.vd.ReadOnlyException;
import org.vdmount.vd.TruncatedImageException;
import org.vdmount.vd.storage.Storage;

/**
 * A window [start, start + length) of a storage, seen from offset 0: a LUKS header kept inside
 * another file (qcow2's full disk encryption header extension points at one). Read-only unless
 * made {@link #writable} (to write a new header); writes never leave the window. Closing it leaves
 * the storage open.
 */
public final class StorageWindow implements Storage {
    private final Storage storage;
    private final long start;
    private final long length;
    private final boolean writable;

    public StorageWindow(Storage storage, long start, long length) {
        this(storage, start, length, false);
    }

    private StorageWindow(Storage storage, long start, long length, boolean writable) {
        this.storage = storage;
        this.start = start;
        this.length = length;
        this.writable = writable;
    }

    /** A window that takes writes inside it (a new LUKS header being written). */
    public static StorageWindow writable(Storage storage, long start, long length) {
        return new StorageWindow(storage, start, length, true);
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
        return !writable;
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
        if (!writable || pos < 0 || pos + src.remaining() > length) {
            throw new ReadOnlyException(storage.path() + ": write of " + src.remaining() + " bytes at " + pos
                    + " outside the writable LUKS header window of " + (writable ? length : 0) + " bytes");
        }
        storage.write(src, start + pos);
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
    public void force() throws IOException {
        if (writable) {
            storage.force();
        }
    }

    @Override
    public long allocatedBytes() {
        return 0;
    }

    @Override
    public void close() {
    }
}
