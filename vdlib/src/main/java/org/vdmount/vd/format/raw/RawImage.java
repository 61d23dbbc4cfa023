package org.vdmount.vd.format.raw;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.util.Map;
import java.util.UUID;
import org.vdmount.vd.Image;
import org.vdmount.vd.ImageFormat;
import org.vdmount.vd.ParentReference;
import org.vdmount.vd.Run;
import org.vdmount.vd.WriteResult;
import org.vdmount.vd.storage.Storage;

/** A raw layer: virtual byte N is file byte N. Every byte is DATA. */
final class RawImage implements Image {
    private static final long BLOCK = 1 << 20;

    private final ImageFormat format;
    private final Storage storage;
    private final String variant;
    private final long size;

    RawImage(ImageFormat format, Storage storage, String variant) throws IOException {
        this.format = format;
        this.storage = storage;
        this.variant = variant;
        this.size = storage.size();
    }

    @Override
    public ImageFormat format() {
        return format;
    }

    @Override
    public String variant() {
        return variant;
    }

    @Override
    public Storage storage() {
        return storage;
    }

    @Override
    public long virtualSize() {
        return size;
    }

    @Override
    public UUID uuid() {
        return null;
    }

    @Override
    public ParentReference parent() {
        return null;
    }

    @Override
    public boolean readOnly() {
        return storage.readOnly();
    }

    @Override
    public long blockSize() {
        return BLOCK;
    }

    @Override
    public long fillUnit() {
        return 1;
    }

    @Override
    public long map(long offset, long maxLength) {
        return Run.data(Math.min(maxLength, BLOCK - (offset & (BLOCK - 1))));
    }

    @Override
    public void readData(long offset, ByteBuffer dst) throws IOException {
        int want = dst.remaining();
        int n = storage.read(dst, offset);
        if (n < want) {
            // the file shrank under us: the rest reads as zeros rather than stale buffer bytes
            while (dst.hasRemaining()) {
                dst.put((byte) 0);
            }
        }
    }

    @Override
    public WriteResult write(long offset, ByteBuffer src) throws IOException {
        storage.write(src, offset);
        return WriteResult.DONE;
    }

    @Override
    public void discard(long offset, long length) throws IOException {
        storage.zeroRange(offset, length);
    }

    @Override
    public void flush() throws IOException {
        storage.force();
    }

    @Override
    public long allocatedBytes() throws IOException {
        return Math.min(storage.allocatedBytes(), size);
    }

    @Override
    public Map<String, Object> details() {
        return Map.of("files", storage.files().size());
    }

    @Override
    public void close() throws IOException {
        storage.close();
    }
}
