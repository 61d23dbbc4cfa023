package org.vdmount.vd;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.UUID;
import org.vdmount.vd.storage.Storage;

/**
 * An image that passes every call to the image it wraps: the base of wrappers that change a few
 * calls and keep the rest ({@link GatedImage} puts calls behind a lock, a crypto filter changes
 * what reads and writes carry). Subclasses override only what they change.
 */
public abstract class ForwardingImage implements Image {
    /** The wrapped image. */
    protected final Image image;

    protected ForwardingImage(Image image) {
        this.image = image;
    }

    /** The wrapped image. */
    public Image inner() {
        return image;
    }

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
    public long maxWriteBytes() {
        return image.maxWriteBytes();
    }

    @Override
    public long fillUnit() {
        return image.fillUnit();
    }

    @Override
    public long map(long offset, long maxLength) throws IOException {
        return image.map(offset, maxLength);
    }

    @Override
    public void readData(long offset, ByteBuffer dst) throws IOException {
        image.readData(offset, dst);
    }

    @Override
    public HostLocation hostLocation(long offset) throws IOException {
        return image.hostLocation(offset);
    }

    @Override
    public WriteResult write(long offset, ByteBuffer src) throws IOException {
        return image.write(offset, src);
    }

    @Override
    public void discard(long offset, long length) throws IOException {
        image.discard(offset, length);
    }

    @Override
    public void flush() throws IOException {
        image.flush();
    }

    @Override
    public long hostAllocatedBytes() throws IOException {
        return image.hostAllocatedBytes();
    }

    @Override
    public long allocatedBytes() throws IOException {
        return image.allocatedBytes();
    }

    @Override
    public Map<String, String> storedDigests() {
        return image.storedDigests();
    }

    @Override
    public List<StoredChecksum> storedChecksums() throws IOException {
        return image.storedChecksums();
    }

    @Override
    public Set<MetadataField> editableFields() {
        return image.editableFields();
    }

    @Override
    public void edit(MetadataEdit edit) throws IOException {
        image.edit(edit);
    }

    @Override
    public void checkEdit(MetadataEdit edit) throws IOException {
        image.checkEdit(edit);
    }

    @Override
    public Map<String, Object> details() {
        return image.details();
    }

    @Override
    public void close() throws IOException {
        image.close();
    }
}
