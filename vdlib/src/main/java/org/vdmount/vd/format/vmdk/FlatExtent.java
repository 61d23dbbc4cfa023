package org.vdmount.vd.format.vmdk;

import java.io.IOException;
import java.nio.ByteBuffer;
import org.vdmount.vd.ReadOnlyException;
import org.vdmount.vd.Run;
import org.vdmount.vd.WriteResult;
import org.vdmount.vd.storage.Storage;

/**
 * A FLAT or VMFS extent: virtual byte N of the extent is byte {@code start + N} of its file. Bytes a
 * short file lacks read as zeros (the opener warns); writes land in place.
 */
final class FlatExtent extends ExtentBase {
    private final long startBytes;
    private final boolean writable;

    FlatExtent(Storage storage, long startBytes, long sizeBytes, boolean writable) {
        super(storage, sizeBytes, 0);
        this.startBytes = startBytes;
        this.writable = writable;
    }

    @Override
    public long map(long offset, long maxLength) {
        return Run.data(maxLength);
    }

    @Override
    public void read(long offset, ByteBuffer dst) throws IOException {
        storage.read(dst, startBytes + offset);
        while (dst.hasRemaining()) {
            dst.put((byte) 0); // past the end of a short flat file
        }
    }

    @Override
    public long hostOffset(long offset) {
        return startBytes + offset;
    }

    @Override
    public WriteResult write(long offset, ByteBuffer src) throws IOException {
        checkWritable();
        storage.write(src, startBytes + offset);
        return WriteResult.DONE;
    }

    @Override
    public void discard(long offset, long length, boolean hideParent) throws IOException {
        checkWritable();
        storage.zeroRange(startBytes + offset, length);
    }

    @Override
    public void flush() throws IOException {
        storage.force();
    }

    @Override
    public String kind() {
        return "FLAT";
    }

    private void checkWritable() throws ReadOnlyException {
        if (!writable || storage.readOnly()) {
            throw new ReadOnlyException("vmdk: extent " + storage.path() + " is read-only");
        }
    }

    /** Makes the file hold {@code newSize} bytes of this extent (sparsely; never cuts), forced. */
    void resizeFile(long newSize) throws IOException {
        if (storage.size() < startBytes + newSize) {
            storage.truncate(startBytes + newSize);
        }
        storage.force();
    }
}
