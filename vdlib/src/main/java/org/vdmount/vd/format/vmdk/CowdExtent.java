package org.vdmount.vd.format.vmdk;

import java.io.IOException;
import org.vdmount.vd.CorruptImageException;
import org.vdmount.vd.TruncatedImageException;
import org.vdmount.vd.UnsupportedFeatureException;
import org.vdmount.vd.storage.Storage;
import org.vdmount.vd.table.TableCache;

/**
 * An ESX Server sparse extent, "COWD" (vmfsSparse redo logs of ESX 3): a grain directory of 32-bit
 * table sectors, tables of 4096 32-bit grain sectors, 0 = unallocated. Read-only.
 */
final class CowdExtent extends GrainMapExtent {
    private static final int BAD = -1;

    final CowdHeader header;
    private final int[] gd;
    private final long fileSize;
    private final TableCache<int[]> cache;

    private CowdExtent(Storage storage, long sizeBytes, CowdHeader h, int[] gd, long fileSize) {
        super(storage, sizeBytes, h.grainSectors() * 512);
        this.header = h;
        this.gd = gd;
        this.fileSize = fileSize;
        this.cache = new TableCache<>(cachedTables(gd.length, CowdHeader.GT_ENTRIES * 4L), this::loadTable);
    }

    static CowdExtent open(Storage storage, long sizeBytes) throws IOException {
        long fileSize = storage.size();
        CowdHeader h = CowdHeader.parse(readHeader(storage, CowdHeader.SIZE, "COWD", CowdHeader::hasMagic));
        if (h.version() != 1) {
            throw new UnsupportedFeatureException("vmdk: COWD version " + h.version() + " in " + storage.path());
        }
        long g = h.grainSectors();
        if (g == 0 || g * 512 > MAX_GRAIN_BYTES || !powerOfTwo(g)) {
            throw new CorruptImageException("vmdk", storage.path(), "COWD header", 0x10,
                    "grain size " + g + " sectors (a power of two up to " + MAX_GRAIN_BYTES / 512 + ")");
        }
        long n = h.gdEntries();
        if (n > MAX_GD_ENTRIES) {
            throw new CorruptImageException("vmdk", storage.path(), "COWD header", 0x18,
                    "grain directory of " + n + " entries (limit " + MAX_GD_ENTRIES + ")");
        }
        if (h.gdOffset() == 0 || h.gdOffset() * 512 + n * 4 > fileSize) {
            throw new TruncatedImageException("vmdk", storage.path(), "COWD grain directory", h.gdOffset() * 512,
                    n * 4, fileSize);
        }
        int[] gd = readU32s(storage, h.gdOffset() * 512, (int) n, "COWD grain directory");
        for (int i = 0; i < n; i++) {
            long s = Integer.toUnsignedLong(gd[i]);
            gd[i] = s != 0 && s * 512 + CowdHeader.GT_ENTRIES * 4L > fileSize ? BAD : (int) s;
        }
        long size = sizeBytes < 0 ? h.capacitySectors() * 512 : sizeBytes;
        return new CowdExtent(storage, size, h, gd, fileSize);
    }

    private int[] loadTable(long i) throws IOException {
        long pos = Integer.toUnsignedLong(gd[(int) i]) * 512;
        return readU32s(storage, pos, CowdHeader.GT_ENTRIES, "COWD grain table " + i);
    }

    @Override
    long lookup(long grain) throws IOException {
        long gi = grain / CowdHeader.GT_ENTRIES;
        if (gi >= gd.length || gd[(int) gi] == 0) {
            return UNALLOCATED;
        }
        if (gd[(int) gi] == BAD) {
            throw corrupt("COWD grain directory", header.gdOffset() * 512 + gi * 4,
                    "entry " + gi + " points past the end of the file");
        }
        int idx = (int) (grain % CowdHeader.GT_ENTRIES);
        long s = Integer.toUnsignedLong(cache.get((int) gi)[idx]);
        if (s == 0) {
            return UNALLOCATED;
        }
        if (s * 512 >= fileSize) {
            throw corrupt("COWD grain table " + gi, Integer.toUnsignedLong(gd[(int) gi]) * 512 + idx * 4L,
                    "grain " + grain + " at sector " + s + " lies past the end of the file");
        }
        return s * 512;
    }

    @Override
    public String kind() {
        return "VMFSSPARSE";
    }
}
