package org.vdmount.mount.cli;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.util.UUID;
import org.vdmount.vd.Image;
import org.vdmount.vd.ImageFormat;
import org.vdmount.vd.ParentReference;
import org.vdmount.vd.WriteResult;
import org.vdmount.vd.storage.Storage;

/** A layer that behaves like {@code inner} but fails every read reaching {@code failAt}. */
final class FailingImage implements Image {
    private final Image inner;
    private final long failAt;

    FailingImage(Image inner, long failAt) {
        this.inner = inner;
        this.failAt = failAt;
    }

    @Override
    public void readData(long offset, ByteBuffer dst) throws IOException {
        if (offset + dst.remaining() > failAt) {
            if (offset < failAt) {
                // the read that meets the bad spot first fails last, so a copy that reports whichever
                // worker failed first (not the lowest failing chunk) names a later offset
                try {
                    Thread.sleep(200);
                } catch (InterruptedException e) {
                    Thread.currentThread().interrupt();
                }
            }
            throw new IOException("injected read error at 0x" + Long.toHexString(Math.max(offset, failAt)));
        }
        inner.readData(offset, dst);
    }

    @Override
    public ImageFormat format() {
        return inner.format();
    }

    @Override
    public String variant() {
        return "failing";
    }

    @Override
    public Storage storage() {
        return inner.storage();
    }

    @Override
    public long virtualSize() {
        return inner.virtualSize();
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
        return true;
    }

    @Override
    public long blockSize() {
        return inner.blockSize();
    }

    @Override
    public long fillUnit() {
        return inner.fillUnit();
    }

    @Override
    public long map(long offset, long maxLength) throws IOException {
        return inner.map(offset, maxLength);
    }

    @Override
    public WriteResult write(long offset, ByteBuffer src) throws IOException {
        return inner.write(offset, src);
    }

    @Override
    public void discard(long offset, long length) throws IOException {
        inner.discard(offset, length);
    }

    @Override
    public void flush() {
    }

    @Override
    public long allocatedBytes() throws IOException {
        return inner.allocatedBytes();
    }

    @Override
    public void close() {
        // the inner image is closed by its own disk
    }
}
