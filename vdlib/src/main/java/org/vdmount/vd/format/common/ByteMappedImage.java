package org.vdmount.vd.format.common;

import java.io.IOException;
import java.nio.ByteBuffer;
import org.vdmount.vd.ImageFormat;
import org.vdmount.vd.ParentReference;
import org.vdmount.vd.Run;
import org.vdmount.vd.WriteResult;
import org.vdmount.vd.storage.Storage;

/**
 * An image whose virtual byte N is byte N of its storage (raw files, fixed VHD): every byte is DATA,
 * writes land in place, discard zeroes the range (punching where the host can), and there is no
 * parent. Runs are cut at {@link #blockSize()} only to keep requests bounded. Where the file is
 * shorter than the data a read asks for, the formats differ on purpose: see each
 * {@link #readData}.
 */
public abstract class ByteMappedImage extends ImageBase {

    protected ByteMappedImage(ImageFormat format, Storage storage, long virtualSize, long blockSize) {
        super(format, storage, storage.readOnly(), virtualSize, blockSize);
    }

    @Override
    public ParentReference parent() {
        return null;
    }

    /** Any byte can be written alone. */
    @Override
    public long fillUnit() {
        return 1;
    }

    @Override
    public long map(long offset, long maxLength) {
        return Run.data(Math.min(maxLength, blockSize - (offset & (blockSize - 1))));
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

    /** Nothing is cached here: closing just closes the storage. */
    @Override
    protected void closeImage() throws IOException {
        storage.close();
    }
}
