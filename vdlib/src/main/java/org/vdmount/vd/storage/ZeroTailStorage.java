package org.vdmount.vd.storage;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.file.Path;
import org.vdmount.vd.OpenOptions;

/**
 * The storage of a file that may have been cut short (a partial copy, a dying drive), opened with
 * {@link OpenOptions#allowTruncated()}: it reports the file's real length, answers zeros for guest
 * data past it ({@link #read}, {@link #readData}) and refuses every write. Structures read with
 * {@link #readFully} must still be present: a cut inside the header or the tables stays an error.
 */
public final class ZeroTailStorage extends ReadOnlyStorage {
    private final long realSize;

    private ZeroTailStorage(Storage storage) throws IOException {
        super(storage);
        this.realSize = storage.size();
    }

    @Override
    String refusal() {
        return "opened with --allow-truncated, a truncated image is read-only";
    }

    /** {@code storage} wrapped when the options allow truncated files ({@link OpenOptions#zeroTail()}). */
    public static Storage wrapIf(Storage storage, OpenOptions options) throws IOException {
        if (!options.zeroTail() || !storage.readOnly() || storage instanceof ZeroTailStorage) {
            return storage;
        }
        try {
            return new ZeroTailStorage(storage);
        } catch (IOException | RuntimeException e) {
            storage.close();
            throw e;
        }
    }

    /** Opens {@code path} as the options say, wrapped when they allow truncated files. */
    public static Storage open(Path path, OpenOptions options) throws IOException {
        return wrapIf(FileStorage.open(path, options.readOnly()), options);
    }

    @Override
    public boolean zeroTail() {
        return true;
    }

    /** The real length of the file (what is left of it). */
    @Override
    public long size() {
        return realSize;
    }

    /** Reads what the file holds and zeros past its end: always {@code dst.remaining()} bytes. */
    @Override
    public int read(ByteBuffer dst, long pos) throws IOException {
        int want = dst.remaining();
        if (pos < realSize) {
            ByteBuffer part = dst.duplicate();
            part.limit(part.position() + (int) Math.min(want, realSize - pos));
            int n = storage.read(part, pos);
            dst.position(dst.position() + n);
        }
        ZeroBuffer.fill(dst);
        return want;
    }

    @Override
    public void readData(ByteBuffer dst, long pos, String format, String structure) throws IOException {
        read(dst, pos);
    }

    @Override
    public void close() throws IOException {
        storage.close();
    }
}
