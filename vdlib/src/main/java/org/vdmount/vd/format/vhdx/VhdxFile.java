package org.vdmount.vd.format.vhdx;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.file.Path;
import org.vdmount.vd.TruncatedImageException;
import org.vdmount.vd.storage.Storage;

/**
 * The host file as the VHDX code sees it: reads pass through the in-memory log replay
 * ({@link Overlay}) of a read-only open; metadata writes and flushes pass a test hook so tests
 * can stop the writer at any step, as a crash would.
 */
final class VhdxFile {
    /** Called before every metadata write and every flush; a test throws to simulate a crash. */
    interface Hook {
        void step(String what) throws IOException;
    }

    static final Hook NO_HOOK = what -> { };

    private final Storage storage;
    private volatile Hook hook = NO_HOOK;
    private Overlay overlay;
    /** File size as the replayed log leaves it (read-only replay may extend it past the real end). */
    private long logicalSize;

    VhdxFile(Storage storage) throws IOException {
        this.storage = storage;
        this.logicalSize = storage.size();
    }

    Storage storage() {
        return storage;
    }

    Path path() {
        return storage.path();
    }

    void hook(Hook h) {
        hook = h == null ? NO_HOOK : h;
    }

    /** Installs the in-memory replay of a read-only open. */
    void overlay(Overlay o, long sizeAfterReplay) throws IOException {
        overlay = o.isEmpty() ? null : o;
        logicalSize = Math.max(storage.size(), sizeAfterReplay);
    }

    long size() throws IOException {
        return overlay == null ? storage.size() : logicalSize;
    }

    byte[] read(long pos, int length, String structure) throws IOException {
        ByteBuffer b = ByteBuffer.allocate(length);
        readFully(b, pos, structure);
        return b.array();
    }

    /**
     * Fills {@code dst} with payload (guest data) at {@code pos}: as {@link #readFully}, but a
     * file opened with allowTruncated answers zeros past its end ({@link Storage#readData}).
     */
    void readData(ByteBuffer dst, long pos, String structure) throws IOException {
        if (overlay == null) {
            storage.readData(dst, pos, Vhdx.FORMAT, structure);
        } else {
            readFully(dst, pos, structure);
        }
    }

    /** Fills {@code dst} from its position to its limit with file bytes at {@code pos}. */
    void readFully(ByteBuffer dst, long pos, String structure) throws IOException {
        Overlay o = overlay;
        if (o == null) {
            storage.readFully(dst, pos, Vhdx.FORMAT, structure);
            return;
        }
        int at = dst.position();
        int want = dst.remaining();
        if (pos < 0 || pos + want > logicalSize) {
            throw new TruncatedImageException(Vhdx.FORMAT, storage.path(), structure, pos, want, logicalSize);
        }
        if (pos < storage.size()) {
            storage.read(dst, pos);
        }
        while (dst.hasRemaining()) {
            dst.put((byte) 0); // past the real end, inside the size the log sets: zeros
        }
        o.patch(dst, at, pos, want);
    }

    /** Payload bytes: no hook, these are not metadata. */
    void writeData(ByteBuffer src, long pos) throws IOException {
        storage.write(src, pos);
    }

    void writeMeta(byte[] b, long pos, String step) throws IOException {
        hook.step(step);
        storage.write(ByteBuffer.wrap(b), pos);
    }

    void force(String step) throws IOException {
        hook.step(step);
        storage.force();
    }

    /** Extends the file (sparse) to at least {@code size}. */
    void extend(long size) throws IOException {
        if (storage.size() < size) {
            storage.truncate(size);
        }
    }
}
