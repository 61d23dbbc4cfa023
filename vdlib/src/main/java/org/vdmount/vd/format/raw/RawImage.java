package org.vdmount.vd.format.raw;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.util.Map;
import org.vdmount.vd.HostLocation;
import org.vdmount.vd.ImageFormat;
import org.vdmount.vd.format.common.ByteMappedImage;
import org.vdmount.vd.storage.Storage;

/** A raw layer: virtual byte N is file byte N ({@link ByteMappedImage}); its size is the file's at open. */
final class RawImage extends ByteMappedImage {
    private final String variant;

    RawImage(ImageFormat format, Storage storage, String variant) throws IOException {
        super(format, storage, storage.size(), 1 << 20);
        this.variant = variant;
    }

    @Override
    public String variant() {
        return variant;
    }

    /**
     * A raw file that shrank under us reads as zeros past its end rather than stale buffer bytes:
     * nothing else records its size. (A fixed VHD, whose footer does, reports truncation instead.)
     */
    @Override
    public void readData(long offset, ByteBuffer dst) throws IOException {
        int want = dst.remaining();
        int n = storage.read(dst, offset);
        if (n < want) {
            while (dst.hasRemaining()) {
                dst.put((byte) 0);
            }
        }
    }

    /** Byte N is file byte N; a split set's pieces are not one file, so it names none. */
    @Override
    public HostLocation hostLocation(long offset) {
        return storage.files().size() == 1 ? new HostLocation(storage, offset) : null;
    }

    @Override
    public Map<String, Object> details() {
        return Map.of("files", storage.files().size());
    }
}
