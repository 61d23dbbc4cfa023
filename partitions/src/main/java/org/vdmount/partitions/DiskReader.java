package org.vdmount.partitions;

import java.io.IOException;
import java.nio.ByteBuffer;

/** Bounds-checked reads from a {@link BlockSource}: nothing is read or allocated past the disk's end. */
final class DiskReader {
    private final BlockSource source;
    private final long sizeBytes;

    DiskReader(BlockSource source) {
        this.source = source;
        this.sizeBytes = Math.max(0, source.size());
    }

    long sizeBytes() {
        return sizeBytes;
    }

    /** Whether {@code [offset, offset + length)} lies inside the disk (overflow-safe). */
    boolean contains(long offset, long length) {
        return offset >= 0 && length >= 0 && offset <= sizeBytes && length <= sizeBytes - offset;
    }

    /** {@code length} bytes at {@code offset}, or null when that range is not inside the disk. */
    byte[] read(long offset, int length) throws IOException {
        if (!contains(offset, length)) {
            return null;
        }
        byte[] out = new byte[length];
        source.read(offset, ByteBuffer.wrap(out));
        return out;
    }
}
