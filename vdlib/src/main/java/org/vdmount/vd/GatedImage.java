package org.vdmount.vd;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.UUID;
import java.util.concurrent.locks.Lock;
import java.util.concurrent.locks.ReentrantReadWriteLock;
import org.vdmount.vd.storage.Storage;

/**
 * How the {@link Disk} honours a format's {@link ThreadModel} other than PARALLEL: every call
 * into the image passes one read-write lock. {@link ThreadModel#SERIALIZE_WRITES} lets reads share
 * it; {@link ThreadModel#SERIALIZE_ALL} takes it exclusively for reads too. Images of PARALLEL
 * formats are never wrapped, so their read path stays lock-free.
 */
final class GatedImage extends ForwardingImage {
    private final Lock readLock;
    private final Lock writeLock;

    private GatedImage(Image image, boolean serializeReads) {
        super(image);
        ReentrantReadWriteLock rw = new ReentrantReadWriteLock();
        this.writeLock = rw.writeLock();
        this.readLock = serializeReads ? writeLock : rw.readLock();
    }

    /** {@code image} itself if its format is PARALLEL, else the image behind the gate its model asks. */
    static Image honour(Image image) {
        if (image instanceof GatedImage) {
            return image;
        }
        return switch (image.format().threadModel()) {
            case PARALLEL -> image;
            case SERIALIZE_WRITES -> new GatedImage(image, false);
            case SERIALIZE_ALL -> new GatedImage(image, true);
        };
    }

    @FunctionalInterface
    private interface Call<T> {
        T run() throws IOException;
    }

    private <T> T through(Lock lock, Call<T> call) throws IOException {
        lock.lock();
        try {
            return call.run();
        } finally {
            lock.unlock();
        }
    }

    @Override
    public long map(long offset, long maxLength) throws IOException {
        return through(readLock, () -> image.map(offset, maxLength));
    }

    @Override
    public HostLocation hostLocation(long offset) throws IOException {
        return through(readLock, () -> image.hostLocation(offset));
    }

    @Override
    public void readData(long offset, ByteBuffer dst) throws IOException {
        through(readLock, () -> {
            image.readData(offset, dst);
            return null;
        });
    }

    @Override
    public WriteResult write(long offset, ByteBuffer src) throws IOException {
        return through(writeLock, () -> image.write(offset, src));
    }

    @Override
    public void discard(long offset, long length) throws IOException {
        through(writeLock, () -> {
            image.discard(offset, length);
            return null;
        });
    }

    @Override
    public void flush() throws IOException {
        through(writeLock, () -> {
            image.flush();
            return null;
        });
    }



    @Override
    public void edit(MetadataEdit edit) throws IOException {
        through(writeLock, () -> {
            image.edit(edit);
            return null;
        });
    }

    @Override
    public long allocatedBytes() throws IOException {
        return through(readLock, image::allocatedBytes);
    }


    @Override
    public void close() throws IOException {
        through(writeLock, () -> {
            image.close();
            return null;
        });
    }

    // facts fixed at open, editableFields, checkEdit and hostAllocatedBytes (host st_blocks, no
    // image state) pass through ungated (ForwardingImage)
















}
