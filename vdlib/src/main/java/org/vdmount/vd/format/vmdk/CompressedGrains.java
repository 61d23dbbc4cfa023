package org.vdmount.vd.format.vmdk;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.util.zip.DataFormatException;
import java.util.zip.Inflater;
import org.vdmount.vd.Bytes;
import org.vdmount.vd.CorruptImageException;
import org.vdmount.vd.format.common.ChunkCache;
import org.vdmount.vd.storage.Storage;

/**
 * Reads deflate-compressed grains of a stream-optimized extent (VMware "Virtual Disk Format 5.0",
 * "Stream-Optimized Compressed Sparse Extents"): a grain marker (LBA u64, size u32) followed by
 * zlib data. Recently inflated grains are kept in a {@link ChunkCache} keyed by where the grain
 * lies in the file (a grain never moves: the stream writer only appends), so small sequential
 * reads inflate each grain once and nothing is allocated per grain. A grain that inflates short
 * serves the reads within it, as QEMU's vmdk_read_extent does; a read past its end is corrupt.
 */
final class CompressedGrains {
    /** Grains kept inflated. */
    private static final int CACHED_GRAINS = 32;
    private static final ThreadLocal<Inflater> INFLATER = ThreadLocal.withInitial(Inflater::new);

    private final Storage storage;
    private final int grainBytes;
    private final boolean markers;
    private final ChunkCache cache;
    /** Each reading thread's buffer for a grain's marker and compressed bytes (grown to the largest it read). */
    private final ThreadLocal<byte[]> stored = ThreadLocal.withInitial(() -> new byte[Marker.GRAIN_HEADER]);

    CompressedGrains(Storage storage, long grainBytes, boolean markers) {
        this.storage = storage;
        this.grainBytes = (int) grainBytes;
        this.markers = markers;
        this.cache = new ChunkCache(this.grainBytes, (long) CACHED_GRAINS * this.grainBytes, this::inflate);
    }

    /** Most compressed bytes a grain may take (as QEMU: two grains; deflate never needs that much). */
    int maxCompressedBytes() {
        return 2 * grainBytes;
    }

    /** Reads {@code dst.remaining()} bytes of grain {@code grain}, stored at {@code where}, from {@code inGrain}. */
    void read(long where, long grain, long inGrain, ByteBuffer dst) throws IOException {
        int want = dst.remaining();
        int length = cache.read(where, grain, grainBytes, (int) inGrain, want, dst);
        if (inGrain + want > length) {
            throw new CorruptImageException("vmdk", storage.path(), "compressed grain " + grain, where,
                    "inflates to " + length + " bytes, the read needs " + (inGrain + want));
        }
    }

    /** Inflates the grain at {@code where} into {@code out}; answers the bytes it holds (at most {@code size}). */
    private int inflate(long where, long grain, byte[] out, int size) throws IOException {
        long fileSize = storage.size();
        long dataPos = where;
        int dataLen;
        byte[] in = stored.get();
        if (markers) {
            storage.readFully(ByteBuffer.wrap(in, 0, Marker.GRAIN_HEADER), where, "vmdk", "grain marker of grain " + grain);
            long lengthField = Bytes.of(in).u32le(0x08); // 0x00 = LBA, unused here
            if (lengthField == 0 || lengthField > maxCompressedBytes()
                    || where + Marker.GRAIN_HEADER + lengthField > fileSize) {
                throw new CorruptImageException("vmdk", storage.path(), "grain marker of grain " + grain, where,
                        "compressed size " + lengthField + " (limit " + maxCompressedBytes() + ", file size "
                                + fileSize + ")");
            }
            dataPos = where + Marker.GRAIN_HEADER;
            dataLen = (int) lengthField;
        } else {
            dataLen = (int) Math.max(0, Math.min(maxCompressedBytes(), fileSize - where));
        }
        if (in.length < dataLen) {
            in = new byte[dataLen];
            stored.set(in);
        }
        storage.readFully(ByteBuffer.wrap(in, 0, dataLen), dataPos, "vmdk", "compressed grain " + grain);
        int n = 0;
        Inflater inf = INFLATER.get();
        inf.reset();
        inf.setInput(in, 0, dataLen);
        try {
            while (n < size && !inf.finished()) {
                int k = inf.inflate(out, n, size - n);
                if (k == 0 && (inf.needsInput() || inf.needsDictionary())) {
                    break;
                }
                n += k;
            }
        } catch (DataFormatException e) {
            throw new CorruptImageException("vmdk", storage.path(), "compressed grain " + grain, dataPos,
                    "deflate data invalid: " + e.getMessage());
        }
        return n;
    }
}
