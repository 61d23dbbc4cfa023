package org.vdmount.vd.format.common;

import java.io.IOException;
import java.util.UUID;
import org.vdmount.vd.Image;
import org.vdmount.vd.ImageFormat;
import org.vdmount.vd.ReadOnlyException;
import org.vdmount.vd.storage.Storage;

/**
 * What every image answers the same way: its format, primary storage, virtual size, block size and
 * read-only flag; the "opened read-only" refusal; flush does nothing for an image opened read-only;
 * close = flush, then close the storage. A format overrides what it answers differently (identity,
 * fill unit, allocation, flush of a writable image, close).
 */
public abstract class ImageBase implements Image {
    protected final ImageFormat format;
    protected final Storage storage;
    protected final boolean readOnly;
    protected final long virtualSize;
    protected final long blockSize;
    private boolean closed;

    protected ImageBase(ImageFormat format, Storage storage, boolean readOnly, long virtualSize, long blockSize) {
        this.format = format;
        this.storage = storage;
        this.readOnly = readOnly;
        this.virtualSize = virtualSize;
        this.blockSize = blockSize;
    }

    @Override
    public ImageFormat format() {
        return format;
    }

    @Override
    public Storage storage() {
        return storage;
    }

    @Override
    public boolean readOnly() {
        return readOnly;
    }

    @Override
    public long virtualSize() {
        return virtualSize;
    }

    @Override
    public long blockSize() {
        return blockSize;
    }

    /** The whole block, unless the format fills less (sectors, subclusters, single bytes). */
    @Override
    public long fillUnit() {
        return blockSize;
    }

    /** No identity unless the format records one. */
    @Override
    public UUID uuid() {
        return null;
    }

    /** What the host allocated for the storage, at most the virtual size. */
    @Override
    public long allocatedBytes() throws IOException {
        return Math.min(storage.allocatedBytes(), virtualSize);
    }

    /** Refuses a modification of an image opened read-only, naming the format and the file. */
    protected final void checkWritable() throws ReadOnlyException {
        if (readOnly) {
            throw new ReadOnlyException(format.name() + ": " + storage.path() + " is opened read-only");
        }
    }

    /** Nothing to make durable in an image opened read-only; otherwise {@link #flushWritable}. */
    @Override
    public void flush() throws IOException {
        if (!readOnly) {
            flushWritable();
        }
    }

    /** The flush of an image opened for writing: the storage is forced; formats with metadata write it. */
    protected void flushWritable() throws IOException {
        storage.force();
    }

    @Override
    public final void close() throws IOException {
        if (markClosed()) {
            closeImage(); // Closeable: a second close does nothing (a Disk and the image's owner may both close it)
        }
    }

    /** Marks the image closed; true if it was open (a crash-simulating test hook drops it this way). */
    protected final synchronized boolean markClosed() {
        boolean wasOpen = !closed;
        closed = true;
        return wasOpen;
    }

    /** Closes once: flush, then the storage. Formats with more to release override this. */
    protected void closeImage() throws IOException {
        try {
            flush();
        } finally {
            storage.close();
        }
    }
}
