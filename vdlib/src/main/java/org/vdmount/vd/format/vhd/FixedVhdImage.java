package org.vdmount.vd.format.vhd;

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

/** A fixed VHD: virtual byte N is file byte N; the footer follows the data. Every byte is DATA. */
final class FixedVhdImage implements Image {
    private static final long BLOCK = 2L << 20;

    private final ImageFormat format;
    private final Storage storage;
    private final VhdLayout layout;

    FixedVhdImage(ImageFormat format, Storage storage, VhdLayout layout) {
        this.format = format;
        this.storage = storage;
        this.layout = layout;
    }

    @Override
    public ImageFormat format() {
        return format;
    }

    @Override
    public String variant() {
        return "fixed";
    }

    @Override
    public Storage storage() {
        return storage;
    }

    @Override
    public long virtualSize() {
        return layout.virtualSize();
    }

    @Override
    public UUID uuid() {
        return layout.footer().uniqueId();
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
        storage.readFully(dst, offset, VhdLayout.FMT, "fixed data");
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
        return Math.min(storage.allocatedBytes(), layout.virtualSize());
    }

    @Override
    public Map<String, Object> details() {
        return VhdDetails.of(layout);
    }

    @Override
    public void close() throws IOException {
        storage.close();
    }
}
