package org.vdmount.vd;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.file.Path;
import java.util.EnumSet;
import java.util.List;
import java.util.Set;
import java.util.UUID;
import java.util.concurrent.ConcurrentHashMap;
import org.vdmount.vd.storage.Storage;

/**
 * An in-memory block-allocating layer for testing the Disk's chain logic independently of any
 * format: blocks are absent (UNALLOCATED), ZERO, or hold bytes. Whole-block fill unit, like VDI.
 */
class MemImage implements Image {
    private static final byte[] ZERO_MARK = new byte[0];

    final ConcurrentHashMap<Long, byte[]> blocks = new ConcurrentHashMap<>();
    private final long size;
    private final int blockSize;
    private final boolean differencing;

    MemImage(long size, int blockSize, boolean differencing) {
        this.size = size;
        this.blockSize = blockSize;
        this.differencing = differencing;
    }

    @Override
    public ImageFormat format() {
        return new ImageFormat() {
            @Override
            public String name() {
                return "mem";
            }

            @Override
            public List<String> extensions() {
                return List.of();
            }

            @Override
            public Set<Capability> capabilities() {
                return EnumSet.of(Capability.READ, Capability.WRITE, Capability.DIFFERENCING, Capability.DISCARD);
            }

            @Override
            public int probe(ProbeInput in) {
                return 0;
            }

            @Override
            public Image open(Path path, OpenOptions options) {
                throw new UnsupportedOperationException("in-memory test layer");
            }
        };
    }

    @Override
    public String variant() {
        return differencing ? "differencing" : "dynamic";
    }

    @Override
    public Storage storage() {
        return null;
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
        return false;
    }

    @Override
    public long blockSize() {
        return blockSize;
    }

    @Override
    public long fillUnit() {
        return blockSize;
    }

    @Override
    public long map(long offset, long maxLength) {
        long idx = offset / blockSize;
        long len = Math.min(maxLength, blockSize - offset % blockSize);
        byte[] b = blocks.get(idx);
        if (b == null) {
            return Run.unallocated(len);
        }
        return b == ZERO_MARK ? Run.zero(len) : Run.data(len);
    }

    @Override
    public void readData(long offset, ByteBuffer dst) {
        byte[] b = blocks.get(offset / blockSize);
        dst.put(b, (int) (offset % blockSize), dst.remaining());
    }

    @Override
    public WriteResult write(long offset, ByteBuffer src) {
        long idx = offset / blockSize;
        int in = (int) (offset % blockSize);
        byte[] b = blocks.get(idx);
        if (b == null || b == ZERO_MARK) {
            if (in != 0 || src.remaining() != Math.min(blockSize, size - idx * blockSize)) {
                return WriteResult.NEEDS_FILL;
            }
            byte[] fresh = new byte[blockSize];
            src.get(fresh, 0, src.remaining());
            blocks.put(idx, fresh);
            return WriteResult.DONE;
        }
        synchronized (b) {
            src.get(b, in, src.remaining());
        }
        return WriteResult.DONE;
    }

    @Override
    public void discard(long offset, long length) {
        for (long o = offset; o < offset + length; o += blockSize) {
            if (differencing) {
                blocks.put(o / blockSize, ZERO_MARK);
            } else {
                blocks.remove(o / blockSize);
            }
        }
    }

    @Override
    public void flush() {
    }

    @Override
    public long allocatedBytes() {
        return blocks.values().stream().filter(b -> b != ZERO_MARK).count() * blockSize;
    }

    @Override
    public void close() {
    }

    /** Test setup: mark a block as ZERO. */
    void zeroBlock(long index) {
        blocks.put(index, ZERO_MARK);
    }

    static Disk chain(MemImage... layersBaseFirst) {
        return Disk.of(List.of(layersBaseFirst));
    }

    static void fillPattern(Disk d, long off, int len, int seed) throws IOException {
        byte[] b = new byte[len];
        new java.util.Random(seed).nextBytes(b);
        d.write(off, ByteBuffer.wrap(b));
    }
}
