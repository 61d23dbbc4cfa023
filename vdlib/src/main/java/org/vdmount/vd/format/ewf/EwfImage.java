package org.vdmount.vd.format.ewf;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.zip.Adler32;
import org.vdmount.vd.Bytes;
import org.vdmount.vd.CorruptImageException;
import org.vdmount.vd.ImageFormat;
import org.vdmount.vd.ParentReference;
import org.vdmount.vd.ReadOnlyException;
import org.vdmount.vd.Run;
import org.vdmount.vd.WriteResult;
import org.vdmount.vd.format.common.ChunkCache;
import org.vdmount.vd.format.common.ImageBase;
import org.vdmount.vd.format.common.Zlib;
import org.vdmount.vd.storage.SplitStorage;

/**
 * An opened E01 set: read-only, every byte DATA, read chunk by chunk (spec: "Chunk" under "Sectors section": a chunk is
 * zlib-compressed, or stored followed by its Adler-32). A chunk that fails its checksum or does
 * not inflate to exactly its size fails the reads that touch it, naming segment, chunk and
 * offset; other chunks still read.
 */
final class EwfImage extends ImageBase {
    /** Decoded chunks kept per image. */
    static final long CACHE_BYTES = 8L << 20;

    private final SplitStorage segments;
    private final SectionWalker.Layout layout;
    private final VolumeSection volume;
    private final ChunkCache cache;
    /** Each reading thread's buffer for a chunk's stored bytes (a chunk plus its checksum or slack). */
    private final ThreadLocal<byte[]> raw;

    EwfImage(ImageFormat format, SplitStorage segments, SectionWalker.Layout layout) {
        super(format, segments, true, layout.volume().mediaBytes(), layout.volume().chunkBytes());
        this.segments = segments;
        this.layout = layout;
        this.volume = layout.volume();
        this.cache = new ChunkCache((int) volume.chunkBytes(), CACHE_BYTES, (chunk, tag, out, size) -> {
            decode(chunk, out, size);
            return size;
        });
        int rawBytes = (int) volume.chunkBytes() + SectionWalker.CHUNK_SLACK;
        this.raw = ThreadLocal.withInitial(() -> new byte[rawBytes]);
    }

    @Override
    public String variant() {
        return "ewf1";
    }

    @Override
    public int logicalSectorSize() {
        return (int) volume.bytesPerSector();
    }

    @Override
    public ParentReference parent() {
        return null;
    }

    @Override
    public long map(long offset, long maxLength) {
        return Run.data(Math.min(maxLength, blockSize - (offset & (blockSize - 1))));
    }

    @Override
    public long allocatedBytes() {
        return virtualSize;
    }

    @Override
    public void readData(long offset, ByteBuffer dst) throws IOException {
        long pos = offset;
        while (dst.hasRemaining()) {
            long chunk = pos / blockSize;
            int in = (int) (pos - chunk * blockSize);
            int size = chunkBytes(chunk);
            int n = Math.min(dst.remaining(), size - in);
            if (n <= 0) {
                throw new IllegalArgumentException("ewf: read at 0x" + Long.toHexString(pos) + " past the media's end");
            }
            cache.read(chunk, size, in, n, dst);
            pos += n;
        }
    }

    /** Chunk {@code chunk}'s size: the last one is short when the media does not fill it. */
    private int chunkBytes(long chunk) {
        return (int) Math.max(0, Math.min(blockSize, virtualSize - chunk * blockSize));
    }

    /** The segment file holding chunk {@code chunk} and the chunk's offset in it. */
    record ChunkLocation(Path file, long offset) {
    }

    ChunkLocation locate(long chunk) throws IOException {
        long address = layout.chunks().chunk(chunk).address();
        int seg = segments.partAt(address);
        return new ChunkLocation(segments.files().get(seg), address - segments.partStart(seg));
    }

    /** Decodes the chunk's {@code expected} bytes (its size) into {@code out}. */
    private void decode(long chunk, byte[] out, int expected) throws IOException {
        ChunkTable.Chunk c = layout.chunks().chunk(chunk);
        long address = c.address();
        int seg = segments.partAt(address);
        Path file = segments.files().get(seg);
        long at = address - segments.partStart(seg);
        int stored = c.storedBytes();
        String what = "chunk " + chunk;
        if (stored < 0) {
            throw new CorruptImageException("ewf", file, what, at, "its table entries give no valid size");
        }
        if (!c.compressed() && stored < expected + 4) {
            throw new CorruptImageException("ewf", file, what, at, "stored chunk of " + stored + " bytes, needs "
                    + expected + " plus a 4-byte checksum");
        }
        long segmentEnd = segments.partStart(seg + 1);
        int want = c.compressed() ? stored : expected + 4;
        if (address + want > segmentEnd) {
            throw new CorruptImageException("ewf", file, what, at, want + " bytes run past the segment's end 0x"
                    + Long.toHexString(segmentEnd - segments.partStart(seg)));
        }
        byte[] src = raw.get();
        segments.readFully(ByteBuffer.wrap(src, 0, want), address, "ewf", what);
        if (c.compressed()) {
            inflate(src, want, out, expected, file, what, at);
        } else {
            verify(src, expected, file, what, at);
            System.arraycopy(src, 0, out, 0, expected);
        }
    }

    /** A stored chunk: its bytes, then the Adler-32 of them. */
    private static void verify(byte[] raw, int expected, Path file, String what, long at) throws CorruptImageException {
        Adler32 a = new Adler32();
        a.update(raw, 0, expected);
        long stored = Bytes.of(raw).u32le(expected);
        if (stored != a.getValue()) {
            throw new CorruptImageException("ewf", file, what, at, "checksum 0x" + Long.toHexString(stored)
                    + ", computed 0x" + Long.toHexString(a.getValue()));
        }
    }

    private static void inflate(byte[] raw, int rawLength, byte[] out, int expected, Path file, String what, long at)
            throws CorruptImageException {
        int n;
        try {
            n = Zlib.inflate(raw, rawLength, out, expected);
        } catch (IOException e) {
            throw new CorruptImageException("ewf", file, what, at, e.getMessage() + ", expected " + expected);
        }
        if (n != expected) {
            throw new CorruptImageException("ewf", file, what, at, "inflates to " + (n < 0 ? "more than " + expected
                    : n) + " bytes, expected " + expected);
        }
    }

    @Override
    public WriteResult write(long offset, ByteBuffer src) throws IOException {
        throw refusal();
    }

    @Override
    public void discard(long offset, long length) throws IOException {
        throw refusal();
    }

    private ReadOnlyException refusal() {
        return new ReadOnlyException("ewf: " + storage.path() + " is read-only (E01 sets are never written)");
    }

    @Override
    public Map<String, String> storedDigests() {
        Map<String, String> m = new LinkedHashMap<>();
        if (layout.md5() != null) {
            m.put("MD5", layout.md5());
        }
        if (layout.sha1() != null) {
            m.put("SHA-1", layout.sha1());
        }
        return m;
    }

    @Override
    public Map<String, Object> details() {
        Map<String, Object> d = new LinkedHashMap<>();
        d.put("segments", layout.segments());
        d.put("chunk-size", volume.chunkBytes());
        d.put("sectors-per-chunk", volume.sectorsPerChunk());
        d.put("bytes-per-sector", volume.bytesPerSector());
        d.put("sector-count", volume.sectorCount());
        d.put("compression", volume.compressionName());
        d.put("compressed-chunks", layout.chunks().compressedCount());
        d.put("media-type", volume.mediaTypeName());
        d.put("physical", (volume.mediaFlags() & 0x02) != 0);
        if (layout.md5() != null) {
            d.put("md5", layout.md5());
        }
        if (layout.sha1() != null) {
            d.put("sha1", layout.sha1());
        }
        d.putAll(layout.caseInfo());
        return d;
    }
}
