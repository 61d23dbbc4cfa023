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
final class GatedImage implements Image {
    private final Image image;
    private final Lock readLock;
    private final Lock writeLock;

    private GatedImage(Image image, boolean serializeReads) {
        this.image = image;
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

    /** The image behind the gate. */
    Image inner() {
        return image;
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
    public java.util.Set<MetadataField> editableFields() {
        return image.editableFields();
    }

    @Override
    public void checkEdit(MetadataEdit edit) throws IOException {
        image.checkEdit(edit);
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
    public long hostAllocatedBytes() throws IOException {
        return image.hostAllocatedBytes(); // host st_blocks: no image state read
    }

    @Override
    public void close() throws IOException {
        through(writeLock, () -> {
            image.close();
            return null;
        });
    }

    // ---- facts fixed at open: no gate needed ---------------------------------------------------

    @Override
    public ImageFormat format() {
        return image.format();
    }

    @Override
    public String variant() {
        return image.variant();
    }

    @Override
    public Storage storage() {
        return image.storage();
    }

    @Override
    public List<Path> files() {
        return image.files();
    }

    @Override
    public long virtualSize() {
        return image.virtualSize();
    }

    @Override
    public int logicalSectorSize() {
        return image.logicalSectorSize();
    }

    @Override
    public int physicalSectorSize() {
        return image.physicalSectorSize();
    }

    @Override
    public UUID uuid() {
        return image.uuid();
    }

    @Override
    public UUID linkUuid() {
        return image.linkUuid();
    }

    @Override
    public ParentReference parent() {
        return image.parent();
    }

    @Override
    public boolean readOnly() {
        return image.readOnly();
    }

    @Override
    public long blockSize() {
        return image.blockSize();
    }

    @Override
    public long fillUnit() {
        return image.fillUnit();
    }

    @Override
    public Map<String, Object> details() {
        return image.details();
    }

    @Override
    public Map<String, String> storedDigests() {
        return image.storedDigests();
    }

    @Override
    public List<StoredChecksum> storedChecksums() throws IOException {
        return image.storedChecksums();
    }
}
