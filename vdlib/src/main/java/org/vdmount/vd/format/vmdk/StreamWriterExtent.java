package org.vdmount.vd.format.vmdk;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.util.zip.Deflater;
import org.vdmount.vd.Bytes;
import org.vdmount.vd.Run;
import org.vdmount.vd.UnsupportedFeatureException;
import org.vdmount.vd.VdException;
import org.vdmount.vd.WriteResult;
import org.vdmount.vd.storage.Storage;

/**
 * Writes a new stream-optimized extent front to back (VMware "Virtual Disk Format 5.0",
 * "Stream-Optimized Compressed Sparse Extents"): each grain is compressed behind a grain marker as
 * soon as a later grain is written; all-zero grains are left out. {@link #close} appends the grain
 * tables, the grain directory, the footer and the end-of-stream marker. Writes must come in grain
 * order (the grain being filled may be written piecemeal); going back is refused.
 */
final class StreamWriterExtent extends ExtentBase {
    private final int gtEntries;
    private final SparseHeader header;
    private final int[][] tables;
    private final byte[] pending;
    private final CompressedGrains reader;
    private final Deflater deflater = new Deflater(Deflater.DEFAULT_COMPRESSION);
    private final byte[] packed;
    private long pendingGrain = -1;
    private long nextPos;
    private boolean finished;

    /** {@code header} is the one at sector 0 (GD_AT_END); grains start at its overhead. */
    StreamWriterExtent(Storage storage, SparseHeader header) {
        super(storage, header.capacitySectors() * 512, header.grainSectors() * 512);
        this.header = header;
        this.gtEntries = (int) header.gtEntries();
        long grains = (sizeBytes + grainBytes - 1) / grainBytes;
        this.tables = new int[(int) ((grains + gtEntries - 1) / gtEntries)][];
        this.pending = new byte[(int) grainBytes];
        this.packed = new byte[Marker.GRAIN_HEADER + 2 * (int) grainBytes];
        this.reader = new CompressedGrains(storage, grainBytes, true);
        this.nextPos = header.overheadSectors() * 512;
    }

    private long entry(long grain) {
        int[] t = tables[(int) (grain / gtEntries)];
        return t == null ? 0 : Integer.toUnsignedLong(t[(int) (grain % gtEntries)]);
    }

    @Override
    public synchronized long map(long offset, long maxLength) {
        long grain = offset / grainBytes;
        long len = Math.min(maxLength, grainBytes - offset % grainBytes);
        return grain == pendingGrain || entry(grain) != 0 ? Run.data(len) : Run.unallocated(len);
    }

    @Override
    public synchronized void read(long offset, ByteBuffer dst) throws IOException {
        long grain = offset / grainBytes;
        int in = (int) (offset % grainBytes);
        if (grain == pendingGrain) {
            dst.put(pending, in, dst.remaining());
        } else {
            reader.read(entry(grain) * 512, grain, in, dst);
        }
    }

    @Override
    public synchronized WriteResult write(long offset, ByteBuffer src) throws IOException {
        checkOpen();
        long grain = offset / grainBytes;
        int in = (int) (offset % grainBytes);
        if (grain != pendingGrain) {
            if (grain < pendingGrain || entry(grain) != 0) {
                throw new UnsupportedFeatureException("vmdk: a streamOptimized image is written front to back;"
                        + " grain " + grain + " comes after grain " + pendingGrain + " (" + storage.path() + ")");
            }
            if (in != 0 || src.remaining() < Math.min(grainBytes, sizeBytes - grain * grainBytes)) {
                return WriteResult.NEEDS_FILL;
            }
            commitPending();
            pendingGrain = grain;
            java.util.Arrays.fill(pending, (byte) 0);
        }
        src.get(pending, in, src.remaining());
        return WriteResult.DONE;
    }

    @Override
    public synchronized void discard(long offset, long length, boolean hideParent) throws IOException {
        checkOpen();
        for (long g = offset / grainBytes; g * grainBytes < offset + length; g++) {
            if (g == pendingGrain) {
                java.util.Arrays.fill(pending, (byte) 0);
            } else if (g < pendingGrain && entry(g) != 0) {
                throw new UnsupportedFeatureException("vmdk: cannot discard grain " + g
                        + " already streamed to " + storage.path());
            }
        }
    }

    /** Compresses the grain being filled behind a grain marker, unless it is all zeros. */
    private void commitPending() throws IOException {
        if (pendingGrain < 0) {
            return;
        }
        int len = (int) Math.min(grainBytes, sizeBytes - pendingGrain * grainBytes);
        if (!Bytes.of(pending).isZero(0, len)) {
            deflater.reset();
            deflater.setInput(pending, 0, len);
            deflater.finish();
            int n = 0;
            int room = packed.length - Marker.GRAIN_HEADER;
            while (!deflater.finished() && n < room) {
                n += deflater.deflate(packed, Marker.GRAIN_HEADER + n, room - n);
            }
            if (!deflater.finished()) {
                throw new VdException("vmdk: grain " + pendingGrain + " does not compress into two grains");
            }
            Marker.writeGrain(Bytes.of(packed), pendingGrain * (grainBytes / 512), n);
            int total = (Marker.GRAIN_HEADER + n + 511) & ~511;
            ByteBuffer out = ByteBuffer.allocate(total);
            out.put(packed, 0, Marker.GRAIN_HEADER + n).clear();
            checkSector(nextPos + total);
            storage.write(out, nextPos);
            int gi = (int) (pendingGrain / gtEntries);
            if (tables[gi] == null) {
                tables[gi] = new int[gtEntries];
            }
            tables[gi][(int) (pendingGrain % gtEntries)] = (int) (nextPos >>> 9);
            nextPos += total;
        }
    }

    private void checkSector(long end) throws VdException {
        if ((end >>> 9) > 0xFFFF_FFFEL) {
            throw new VdException("vmdk: stream " + storage.path() + " outgrows 32-bit sector offsets (2 TiB)");
        }
    }

    private void checkOpen() throws VdException {
        if (finished) {
            throw new VdException("vmdk: stream " + storage.path() + " is already finished");
        }
    }

    @Override
    public synchronized void flush() throws IOException {
        storage.force();
    }

    /** Appends tables, directory, footer and end-of-stream marker. */
    @Override
    public synchronized void close() throws IOException {
        if (finished) {
            return;
        }
        commitPending();
        finished = true;
        int gtSectors = (gtEntries * 4 + 511) / 512;
        int[] gd = new int[tables.length];
        for (int i = 0; i < tables.length; i++) {
            if (tables[i] == null) {
                continue;
            }
            ByteBuffer b = ByteBuffer.allocate(512 + gtSectors * 512);
            Bytes bytes = Bytes.of(b.array());
            Marker.writeMeta(bytes, gtSectors, Marker.GRAIN_TABLE);
            for (int k = 0; k < gtEntries; k++) {
                bytes.put32le(512 + k * 4, tables[i][k]);
            }
            checkSector(nextPos + b.capacity());
            storage.write(b, nextPos);
            gd[i] = (int) ((nextPos + 512) >>> 9);
            nextPos += b.capacity();
        }
        int gdSectors = (tables.length * 4 + 511) / 512;
        ByteBuffer g = ByteBuffer.allocate(512 + gdSectors * 512);
        Bytes gb = Bytes.of(g.array());
        Marker.writeMeta(gb, gdSectors, Marker.GRAIN_DIRECTORY);
        for (int i = 0; i < gd.length; i++) {
            gb.put32le(512 + i * 4, gd[i]);
        }
        storage.write(g, nextPos);
        long gdOffset = (nextPos + 512) >>> 9;
        nextPos += g.capacity();
        ByteBuffer tail = ByteBuffer.allocate(3 * 512);
        Bytes tb = Bytes.of(tail.array());
        Marker.writeMeta(tb, 1, Marker.FOOTER);
        header.withGdOffset(gdOffset).write(tb.at(512));
        Marker.writeMeta(tb.at(1024), 0, Marker.EOS);
        storage.write(tail, nextPos);
        nextPos += tail.capacity();
        storage.force();
        deflater.end();
    }

    @Override
    public String kind() {
        return "SPARSE (stream-optimized, being written)";
    }
}
