package org.vdmount.vd.format.dmg;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.zip.CRC32;
import org.vdmount.vd.Allocation;
import org.vdmount.vd.CorruptImageException;
import org.vdmount.vd.HostLocation;
import org.vdmount.vd.ImageFormat;
import org.vdmount.vd.OrderedRead;
import org.vdmount.vd.ParentReference;
import org.vdmount.vd.ReadOnlyException;
import org.vdmount.vd.Run;
import org.vdmount.vd.StoredChecksum;
import org.vdmount.vd.UnsupportedFeatureException;
import org.vdmount.vd.WriteResult;
import org.vdmount.vd.format.common.ChunkCache;
import org.vdmount.vd.format.common.ImageBase;
import org.vdmount.vd.storage.Storage;

/**
 * An opened UDIF image: read-only. Zero and free ("ignore") chunks and sectors no chunk covers
 * read as zeros; raw chunks are read in place; compressed chunks are decoded whole through their
 * {@link ChunkCodec} and kept in a {@link ChunkCache}. A chunk that does not decode to exactly its
 * sectors fails the reads that touch it, naming file, block table, chunk and offset; other chunks
 * still read.
 */
final class DmgImage extends ImageBase {
    /** Runs never cross a multiple of this (hdiutil's largest chunk, 2048 sectors). */
    static final long BLOCK = 1L << 20;
    /** Decoded chunks kept per image. */
    static final long CACHE_BYTES = 32L << 20;

    private final UdifLayout layout;
    private final ChunkMap chunks;
    private final ChunkCache cache;
    /** Each reading thread's buffer for a chunk's stored bytes (grown to the largest it read). */
    private final ThreadLocal<byte[]> stored = ThreadLocal.withInitial(() -> new byte[0]);

    DmgImage(ImageFormat format, Storage storage, UdifLayout layout) {
        super(format, storage, true, layout.koly().virtualBytes(), BLOCK);
        this.layout = layout;
        this.chunks = layout.chunks();
        this.cache = new ChunkCache((int) largestCompressedChunk(chunks), CACHE_BYTES, (i, tag, out, size) -> {
            decode((int) i, out, size);
            return size;
        });
    }

    /** At most {@link UdifLayout#MAX_CHUNK_BYTES}, checked at open. */
    private static long largestCompressedChunk(ChunkMap m) {
        long max = 512;
        for (int i = 0; i < m.count(); i++) {
            if (m.kind(i).compressed()) {
                max = Math.max(max, m.sectors(i) * 512);
            }
        }
        return max;
    }

    @Override
    public String variant() {
        return layout.koly().variantName();
    }

    @Override
    public ParentReference parent() {
        return null;
    }

    @Override
    public long map(long offset, long maxLength) {
        long sector = offset / 512;
        int i = chunks.find(sector);
        long end;
        boolean data;
        if (i >= 0) {
            end = chunks.endSector(i) * 512;
            data = !chunks.kind(i).zeros();
        } else {
            int next = -i - 1; // no chunk covers it: zeros up to the next chunk
            end = next < chunks.count() ? chunks.firstSector(next) * 512 : virtualSize;
            data = false;
        }
        long blockEnd = (offset / BLOCK + 1) * BLOCK;
        long len = Math.min(Math.min(end, blockEnd) - offset, maxLength);
        return data ? Run.data(len) : Run.zero(len);
    }

    /** Raw chunks lie in the file as they are; compressed and zero ones have no plain host location. */
    @Override
    public HostLocation hostLocation(long offset) {
        int i = chunks.find(offset / 512);
        if (i < 0 || chunks.kind(i) != ChunkKind.RAW) {
            return null;
        }
        return new HostLocation(storage, chunks.fileOffset(i) + offset - chunks.firstSector(i) * 512);
    }

    @Override
    public long allocatedBytes() {
        return chunks.dataBytes();
    }

    @Override
    public void readData(long offset, ByteBuffer dst) throws IOException {
        long pos = offset;
        while (dst.hasRemaining()) {
            int i = chunks.find(pos / 512);
            if (i < 0 || chunks.kind(i).zeros()) {
                throw new IllegalArgumentException("dmg: read at 0x" + Long.toHexString(pos) + " outside a data chunk");
            }
            long in = pos - chunks.firstSector(i) * 512;
            int n = (int) Math.min(dst.remaining(), chunks.sectors(i) * 512 - in);
            if (chunks.kind(i) == ChunkKind.RAW) {
                ByteBuffer part = dst.slice(dst.position(), n);
                storage.readFully(part, chunks.fileOffset(i) + in, "dmg", chunks.name(i));
                dst.position(dst.position() + n);
            } else {
                cache.read(i, (int) (chunks.sectors(i) * 512), (int) in, n, dst);
            }
            pos += n;
        }
    }

    /** Chunk {@code i}'s {@code size} bytes of sectors, decoded from its stored bytes into {@code out}. */
    private void decode(int i, byte[] out, int size) throws IOException {
        ChunkKind kind = chunks.kind(i);
        long at = chunks.fileOffset(i);
        int storedBytes = (int) chunks.storedLength(i);
        byte[] src = stored.get();
        if (src.length < storedBytes) {
            src = new byte[storedBytes];
            stored.set(src);
        }
        storage.readFully(ByteBuffer.wrap(src, 0, storedBytes), at, "dmg", chunks.name(i));
        int n;
        try {
            n = kind.codec.decode(src, storedBytes, out, size);
        } catch (UnsupportedFeatureException e) {
            throw new UnsupportedFeatureException("dmg: " + storage.path() + ": " + chunks.name(i) + " at 0x"
                    + Long.toHexString(at) + ": " + e.getMessage());
        } catch (IOException e) {
            throw new CorruptImageException("dmg", storage.path(), chunks.name(i), at, e.getMessage());
        }
        if (n != size) {
            throw new CorruptImageException("dmg", storage.path(), chunks.name(i), at, kind.label() + " chunk decodes to "
                    + (n < 0 ? "more than " + size : n) + " bytes, its " + chunks.sectors(i) + " sectors are "
                    + size);
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
        return new ReadOnlyException("dmg: " + storage.path() + " is read-only (Apple disk images are never written)");
    }

    /**
     * The data fork's CRC-32 (koly trailer) and each block table's CRC-32 of its decoded sectors,
     * where the image stores them as CRC-32 (type 2); recomputed by reading everything.
     */
    @Override
    public List<StoredChecksum> storedChecksums() throws IOException {
        List<StoredChecksum> out = new ArrayList<>();
        KolyTrailer k = layout.koly();
        if (k.dataChecksum().isCrc32()) {
            CRC32 crc = new CRC32(); // the next pieces are read while this one is summed
            OrderedRead.read((at, dst) -> storage.readFully(dst, at, "dmg", "data fork"), k.dataForkOffset(),
                    k.dataForkOffset() + k.dataForkLength(), OrderedRead.threads(), (piece, end) -> crc.update(piece));
            out.add(new StoredChecksum("data fork crc32", hex(k.dataChecksum().crc32()), hex(crc.getValue())));
        }
        List<BlkxTable> tables = layout.tables();
        for (int t = 0; t < tables.size(); t++) {
            BlkxTable table = tables.get(t);
            if (table.checksum().isCrc32()) {
                out.add(new StoredChecksum("blkx entry " + t + " (" + table.name() + ") crc32",
                        hex(table.checksum().crc32()), hex(mediaCrc(table.firstSector(), table.sectorCount()))));
            }
        }
        return out;
    }

    private static String hex(long v) {
        return String.format("%08x", v);
    }

    /**
     * CRC-32 of {@code count} sectors of the media from {@code first}, as a reader sees them,
     * leaving out free ("ignore", type 2) chunks: hdiutil's table checksums skip them (7-Zip's
     * DmgHandler: "sparse: without file CRC calculation"). The chunks after the one being summed
     * decode on other threads ({@link OrderedRead}); the sum takes them in order.
     */
    private long mediaCrc(long first, long count) throws IOException {
        CRC32 crc = new CRC32();
        long start = first * 512;
        long end = Math.min(virtualSize, start + count * 512);
        OrderedRead.read(this::readMedia, start, end, OrderedRead.threads(), (piece, pieceEnd) -> {
            long base = pieceEnd - piece.remaining();
            for (long pos = base; pos < pieceEnd; ) {
                int len = (int) Run.length(map(pos, pieceEnd - pos));
                int at = chunks.find(pos / 512);
                if (at < 0 || chunks.kind(at) != ChunkKind.IGNORE) {
                    crc.update(piece.slice(piece.position() + (int) (pos - base), len));
                }
                pos += len;
            }
        });
        return crc.getValue();
    }

    /** Fills {@code dst} with the media at {@code offset} as a reader sees it (zeros where no data is). */
    private void readMedia(long offset, ByteBuffer dst) throws IOException {
        for (long pos = offset; dst.hasRemaining(); ) {
            long run = map(pos, dst.remaining());
            int len = (int) Run.length(run);
            ByteBuffer part = dst.slice(dst.position(), len);
            if (Run.kind(run) == Allocation.DATA) {
                readData(pos, part);
            } else {
                int from = dst.arrayOffset() + dst.position();
                Arrays.fill(dst.array(), from, from + len, (byte) 0);
            }
            dst.position(dst.position() + len);
            pos += len;
        }
    }

    @Override
    public Map<String, Object> details() {
        KolyTrailer k = layout.koly();
        Map<String, Object> d = new LinkedHashMap<>();
        d.put("koly-version", k.version());
        d.put("image-type", k.variantName());
        d.put("flags", String.format("0x%x", k.flags()));
        d.put("sector-count", k.sectorCount());
        d.put("data-fork-bytes", k.dataForkLength());
        d.put("data-checksum", k.dataChecksum().describe());
        d.put("master-checksum", k.masterChecksum().describe());
        d.put("block-tables", layout.tables().size());
        Map<String, Object> counts = new LinkedHashMap<>();
        chunks.countsByKind().forEach((kind, n) -> counts.put(kind.label(), n));
        d.put("chunks", counts);
        return d;
    }
}
