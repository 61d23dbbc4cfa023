package org.vdmount.vd.format.vmdk;

import java.io.IOException;
import java.nio.ByteBuffer;
import org.vdmount.vd.Bytes;
import org.vdmount.vd.CorruptImageException;
import org.vdmount.vd.TruncatedImageException;
import org.vdmount.vd.UnsupportedFeatureException;
import org.vdmount.vd.storage.Storage;
import org.vdmount.vd.table.TableCache;

/**
 * An ESXi seSparse extent (see {@link SeSparseHeader}). Read-only; an image whose journal must be
 * replayed is refused. Checks follow QEMU's: the format is not officially documented, so only the
 * layout seen in the wild (4 KiB grains, 4096-entry tables) is accepted.
 */
final class SeSparseExtent extends GrainMapExtent {
    private static final long BAD = -1;
    private static final long GD_ALLOCATED = 0x1000_0000L;

    final SeSparseHeader header;
    private final long[] gd; // byte offset of each table, 0 = none, BAD
    private final int gtEntries;
    private final long fileSize;
    private final TableCache<long[]> cache;

    private SeSparseExtent(Storage storage, long sizeBytes, SeSparseHeader h, long[] gd, long fileSize) {
        super(storage, sizeBytes, h.grainSectors() * 512);
        this.header = h;
        this.gd = gd;
        this.gtEntries = (int) (h.gtSectors() * 512 / 8);
        this.fileSize = fileSize;
        this.cache = new TableCache<>(cachedTables(gd.length, h.gtSectors() * 512), this::loadTable);
    }

    static SeSparseExtent open(Storage storage, long sizeBytes) throws IOException {
        long fileSize = storage.size();
        SeSparseHeader h = SeSparseHeader.parse(readHeader(storage, SeSparseHeader.SIZE, "seSparse",
                SeSparseHeader::hasMagic));
        if (h.grainSectors() != 8 || h.gtSectors() != 64 || h.flags() != 0 || !h.reservedZero()) {
            throw new UnsupportedFeatureException("vmdk: seSparse layout of " + storage.path() + " (grain "
                    + h.grainSectors() + " sectors, table " + h.gtSectors() + " sectors, flags 0x"
                    + Long.toHexString(h.flags()) + ") is not the known one (8, 64, 0)");
        }
        if (h.volatileHeaderOffset() <= 0 || h.volatileHeaderOffset() > fileSize / 512 - 1) {
            throw new TruncatedImageException("vmdk", storage.path(), "seSparse volatile header",
                    h.volatileHeaderOffset() * 512, 512, fileSize);
        }
        ByteBuffer vb = ByteBuffer.allocate(512);
        storage.readFully(vb, h.volatileHeaderOffset() * 512, "vmdk", "seSparse volatile header");
        Bytes v = Bytes.of(vb.array());
        if (v.u64le(0) != SeSparseHeader.VOLATILE_MAGIC) {
            throw new CorruptImageException("vmdk", storage.path(), "seSparse volatile header",
                    h.volatileHeaderOffset() * 512, "bad magic 0x" + Long.toHexString(v.u64le(0)));
        }
        if (v.u64le(0x18) != 0) {
            throw new UnsupportedFeatureException("vmdk: seSparse journal of " + storage.path()
                    + " must be replayed (image not closed cleanly by ESXi)");
        }
        if (h.gdSectors() < 0 || h.gdSectors() > MAX_GD_ENTRIES / 64) {
            throw new CorruptImageException("vmdk", storage.path(), "seSparse header", 0x88,
                    "grain directory of " + h.gdSectors() + " sectors (limit " + MAX_GD_ENTRIES / 64 + ")");
        }
        long entries = h.gdSectors() * 64;
        if (h.gdOffset() == 0 || !sectorInside(h.gdOffset(), fileSize) || h.gdOffset() * 512 + entries * 8 > fileSize) {
            throw new TruncatedImageException("vmdk", storage.path(), "seSparse grain directory",
                    h.gdOffset() * 512, entries * 8, fileSize);
        }
        if (h.grainsOffset() == 0 || !sectorInside(h.grainsOffset(), fileSize) || !sectorInside(h.gtOffset(), fileSize)) {
            throw new CorruptImageException("vmdk", storage.path(), "seSparse header", 0x90,
                    "table area at sector " + h.gtOffset() + " or grain area at sector " + h.grainsOffset()
                            + " outside the file");
        }
        long[] gd = readU64s(storage, h.gdOffset() * 512, (int) entries, "seSparse grain directory");
        long gtBytes = h.gtSectors() * 512;
        for (int i = 0; i < entries; i++) {
            long e = gd[i];
            if (e == 0) {
                continue;
            }
            long index = e & 0xFFFF_FFFFL;
            long pos = h.gtOffset() * 512 + index * gtBytes;
            gd[i] = e >>> 32 != GD_ALLOCATED || pos + gtBytes > fileSize ? BAD : pos;
        }
        long size = sizeBytes < 0 ? h.capacitySectors() * 512 : sizeBytes;
        if (size < 0 || size > (1L << 50)) {
            throw new CorruptImageException("vmdk", storage.path(), "seSparse header", 0x10,
                    "capacity " + h.capacitySectors() + " sectors");
        }
        return new SeSparseExtent(storage, size, h, gd, fileSize);
    }

    private long[] loadTable(long i) throws IOException {
        return readU64s(storage, gd[(int) i], gtEntries, "seSparse grain table " + i);
    }

    @Override
    long lookup(long grain) throws IOException {
        long gi = grain / gtEntries;
        if (gi >= gd.length || gd[(int) gi] == 0) {
            return UNALLOCATED;
        }
        if (gd[(int) gi] == BAD) {
            throw corrupt("seSparse grain directory", header.gdOffset() * 512 + gi * 8,
                    "entry " + gi + " is invalid or points past the end of the file");
        }
        int idx = (int) (grain % gtEntries);
        long e = cache.get((int) gi)[idx];
        long tablePos = gd[(int) gi];
        switch ((int) (e >>> 60)) {
            case 0 -> {
                if (e != 0) {
                    throw corrupt("seSparse grain table " + gi, tablePos + idx * 8L, "invalid entry 0x" + Long.toHexString(e));
                }
                return UNALLOCATED;
            }
            case 1, 2 -> {
                return ZERO; // 1 = unmapped (SCSI UNMAP), 2 = zeroed
            }
            case 3 -> {
                long cluster = (e & 0x0FFF_0000_0000_0000L) >>> 48 | (e & 0x0000_FFFF_FFFF_FFFFL) << 12;
                long maxCluster = fileSize / grainBytes;
                long pos = header.grainsOffset() * 512 + cluster * grainBytes;
                if (cluster > maxCluster || pos >= fileSize) {
                    throw corrupt("seSparse grain table " + gi, tablePos + idx * 8L,
                            "grain " + grain + " lies past the end of the file");
                }
                return pos;
            }
            default -> throw corrupt("seSparse grain table " + gi, tablePos + idx * 8L,
                    "invalid entry 0x" + Long.toHexString(e));
        }
    }

    @Override
    public String kind() {
        return "SESPARSE";
    }
}
