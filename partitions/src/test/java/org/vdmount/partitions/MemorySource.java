package org.vdmount.partitions;

import java.io.IOException;
import java.nio.ByteBuffer;

/**
 * An in-memory disk of {@code size} bytes whose content is {@code head} at offset 0, {@code tail} at
 * the end and zeros between (tests only). Counts the bytes read so tests can bound the work done.
 */
final class MemorySource implements BlockSource {
    final byte[] head;
    final byte[] tail;
    private final long size;
    long bytesRead;
    int reads;

    MemorySource(byte[] head, byte[] tail, long size) {
        this.head = head;
        this.tail = tail;
        this.size = size;
    }

    MemorySource(byte[] whole) {
        this(whole, new byte[0], whole.length);
    }

    @Override
    public long size() {
        return size;
    }

    @Override
    public void read(long offset, ByteBuffer dst) throws IOException {
        int len = dst.remaining();
        if (offset < 0 || offset + len > size) {
            throw new IOException("read [" + offset + ", +" + len + ") outside " + size);
        }
        bytesRead += len;
        reads++;
        long tailStart = size - tail.length;
        if (offset + len <= head.length) {
            dst.put(head, (int) offset, len);
            return;
        }
        for (int i = 0; i < len; i++) {
            long p = offset + i;
            byte v = p < head.length ? head[(int) p] : p >= tailStart ? tail[(int) (p - tailStart)] : 0;
            dst.put(v);
        }
    }
}
