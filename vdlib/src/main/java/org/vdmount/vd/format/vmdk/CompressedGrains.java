package org.vdmount.vd.format.vmdk;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.util.concurrent.atomic.AtomicReferenceArray;
import java.util.zip.DataFormatException;
import java.util.zip.Inflater;
import org.vdmount.vd.Bytes;
import org.vdmount.vd.CorruptImageException;
import org.vdmount.vd.storage.Storage;

/**
 * Reads deflate-compressed grains of a stream-optimized extent (VMware "Virtual Disk Format 5.0",
 * "Stream-Optimized Compressed Sparse Extents"): a grain marker (LBA u64, size u32) followed by
 * zlib data. Recently inflated grains are kept, so small sequential reads inflate each grain once.
 */
final class CompressedGrains {
    private static final int CACHE_SLOTS = 32;
    private static final ThreadLocal<Inflater> INFLATER = ThreadLocal.withInitial(Inflater::new);

    private record Slot(long where, byte[] data, int length) {
    }

    private final Storage storage;
    private final int grainBytes;
    private final boolean markers;
    private final AtomicReferenceArray<Slot> cache = new AtomicReferenceArray<>(CACHE_SLOTS);

    CompressedGrains(Storage storage, long grainBytes, boolean markers) {
        this.storage = storage;
        this.grainBytes = (int) grainBytes;
        this.markers = markers;
    }

    /** Most compressed bytes a grain may take (as QEMU: two grains; deflate never needs that much). */
    int maxCompressedBytes() {
        return 2 * grainBytes;
    }

    void read(long where, long grain, long inGrain, ByteBuffer dst) throws IOException {
        int slotIndex = (int) (grain % CACHE_SLOTS);
        Slot s = cache.get(slotIndex);
        if (s == null || s.where != where) {
            s = inflate(where, grain);
            cache.set(slotIndex, s);
        }
        int want = dst.remaining();
        if (inGrain + want > s.length) {
            throw new CorruptImageException("vmdk", storage.path(), "compressed grain " + grain, where,
                    "inflates to " + s.length + " bytes, the read needs " + (inGrain + want));
        }
        dst.put(s.data, (int) inGrain, want);
    }

    private Slot inflate(long where, long grain) throws IOException {
        long fileSize = storage.size();
        long dataPos = where;
        int dataLen;
        if (markers) {
            ByteBuffer head = ByteBuffer.allocate(Marker.GRAIN_HEADER);
            storage.readFully(head, where, "vmdk", "grain marker of grain " + grain);
            long size = Bytes.of(head.array()).u32le(0x08); // 0x00 = LBA, unused here
            if (size == 0 || size > maxCompressedBytes() || where + Marker.GRAIN_HEADER + size > fileSize) {
                throw new CorruptImageException("vmdk", storage.path(), "grain marker of grain " + grain, where,
                        "compressed size " + size + " (limit " + maxCompressedBytes() + ", file size "
                                + fileSize + ")");
            }
            dataPos = where + Marker.GRAIN_HEADER;
            dataLen = (int) size;
        } else {
            dataLen = (int) Math.max(0, Math.min(maxCompressedBytes(), fileSize - where));
        }
        byte[] in = new byte[dataLen];
        ByteBuffer inBuf = ByteBuffer.wrap(in);
        storage.readFully(inBuf, dataPos, "vmdk", "compressed grain " + grain);
        byte[] out = new byte[grainBytes];
        int n = 0;
        Inflater inf = INFLATER.get();
        inf.reset();
        inf.setInput(in);
        try {
            while (n < out.length && !inf.finished()) {
                int k = inf.inflate(out, n, out.length - n);
                if (k == 0 && (inf.needsInput() || inf.needsDictionary())) {
                    break;
                }
                n += k;
            }
        } catch (DataFormatException e) {
            throw new CorruptImageException("vmdk", storage.path(), "compressed grain " + grain, dataPos,
                    "deflate data invalid: " + e.getMessage());
        }
        return new Slot(where, out, n);
    }
}
