package org.vdmount.vd.format.vhdx;

import java.io.IOException;
import java.nio.file.Path;
import java.util.HashMap;
import java.util.Map;
import java.util.UUID;
import org.vdmount.vd.Bytes;
import org.vdmount.vd.CorruptImageException;
import org.vdmount.vd.UnsupportedFeatureException;

/**
 * The metadata region (MS-VHDX 2.6): a 64 KiB table (0x00 "metadata", 0x0A entry count u16 &lt;=
 * 2047, entries of 32 bytes from 0x20: 0x00 item GUID, 0x10 offset u32 from the region start (&gt;=
 * 64 KiB), 0x14 length u32 (&lt;= 1 MiB), 0x18 flags: bit 0 IsUser, bit 1 IsVirtualDisk, bit 2
 * IsRequired) followed by the items.
 *
 * @param blockSizeBytes       file parameters 0x00 u32: power of two, 1 MiB..256 MiB
 * @param leaveBlocksAllocated file parameters 0x04 bit 0 (fixed disks)
 * @param hasParent            file parameters 0x04 bit 1 (differencing)
 * @param virtualSizeBytes     virtual disk size u64, multiple of the logical sector size
 * @param logicalSectorSize    512 or 4096
 * @param physicalSectorSize   512 or 4096
 * @param page83               virtual disk id (SCSI page 83)
 * @param parentLocator        null unless {@code hasParent}
 */
record VhdxMetadata(long blockSizeBytes, boolean leaveBlocksAllocated, boolean hasParent, long virtualSizeBytes,
                    int logicalSectorSize, int physicalSectorSize, UUID page83, ParentLocator parentLocator) {
    static final int TABLE_SIZE = 64 * 1024;
    static final long SIGNATURE = 0x6174_6164_6174_656DL; // "metadata"
    static final int TABLE_HEADER_SIZE = 32;
    static final int ENTRY_SIZE = 32;
    static final int MAX_ENTRIES = 2047;
    static final long MAX_ITEM = Vhdx.MIB;

    static final int FLAG_USER = 1;
    static final int FLAG_VIRTUAL_DISK = 2;
    static final int FLAG_REQUIRED = 4;

    private record Item(long offset, long length) {
    }

    static VhdxMetadata read(VhdxFile f, RegionTable.Entry region) throws IOException {
        Path file = f.path();
        long base = region.fileOffsetBytes();
        if (region.lengthBytes() < TABLE_SIZE) {
            throw corrupt(file, base, "region of " + region.lengthBytes() + " bytes cannot hold the 64 KiB table");
        }
        Bytes t = Bytes.of(f.read(base, TABLE_SIZE, "metadata table"));
        if (t.u64le(0) != SIGNATURE) {
            throw corrupt(file, base, "signature is not 'metadata'");
        }
        int count = t.u16le(0x0A);
        if (count > MAX_ENTRIES) {
            throw corrupt(file, base, "entry count " + count + " > " + MAX_ENTRIES);
        }
        Map<UUID, Item> items = new HashMap<>();
        for (int i = 0; i < count; i++) {
            int o = TABLE_HEADER_SIZE + i * ENTRY_SIZE;
            UUID id = t.guid(o);
            long off = t.u32le(o + 0x10);
            long len = t.u32le(o + 0x14);
            long flags = t.u32le(o + 0x18);
            boolean known = id.equals(Vhdx.FILE_PARAMETERS) || id.equals(Vhdx.VIRTUAL_DISK_SIZE)
                    || id.equals(Vhdx.PAGE83_DATA) || id.equals(Vhdx.LOGICAL_SECTOR_SIZE)
                    || id.equals(Vhdx.PHYSICAL_SECTOR_SIZE) || id.equals(Vhdx.PARENT_LOCATOR);
            if (!known) {
                if ((flags & FLAG_REQUIRED) != 0) {
                    throw new UnsupportedFeatureException("vhdx: " + file + " needs metadata item " + id
                            + " which is marked required and not supported");
                }
                continue;
            }
            if (len > MAX_ITEM || len > 0 && (off < TABLE_SIZE || off + len > region.lengthBytes())) {
                throw corrupt(file, base + o, "item " + id + " at " + Vhdx.hex(off) + "+" + len
                        + " is outside the metadata region of " + region.lengthBytes() + " bytes");
            }
            if (items.put(id, new Item(off, len)) != null) {
                throw corrupt(file, base + o, "item " + id + " appears twice");
            }
        }
        Bytes params = item(f, base, items, Vhdx.FILE_PARAMETERS, "file parameters", 8);
        long blockSize = params.u32le(0);
        long flags = params.u32le(4);
        boolean hasParent = (flags & 2) != 0;
        if (blockSize < Vhdx.MIN_BLOCK_SIZE || blockSize > Vhdx.MAX_BLOCK_SIZE || Long.bitCount(blockSize) != 1) {
            throw corrupt(file, base, "block size " + blockSize + " is not a power of two in 1 MiB..256 MiB");
        }
        int logical = sectorSize(item(f, base, items, Vhdx.LOGICAL_SECTOR_SIZE, "logical sector size", 4), file,
                base, "logical");
        int physical = sectorSize(item(f, base, items, Vhdx.PHYSICAL_SECTOR_SIZE, "physical sector size", 4), file,
                base, "physical");
        long size = item(f, base, items, Vhdx.VIRTUAL_DISK_SIZE, "virtual disk size", 8).u64le(0);
        if (size <= 0 || size > Vhdx.MAX_VIRTUAL_SIZE || size % logical != 0) {
            throw corrupt(file, base, "virtual disk size " + size + " is not a multiple of " + logical
                    + " in 1.." + Vhdx.MAX_VIRTUAL_SIZE);
        }
        UUID page83 = item(f, base, items, Vhdx.PAGE83_DATA, "page 83 data", 16).guid(0);
        ParentLocator locator = null;
        Item pl = items.get(Vhdx.PARENT_LOCATOR);
        if (hasParent) {
            if (pl == null || pl.length() == 0) {
                throw corrupt(file, base, "has-parent is set but there is no parent locator");
            }
            locator = ParentLocator.parse(f.read(base + pl.offset(), (int) pl.length(), "parent locator"), file,
                    base + pl.offset());
        }
        return new VhdxMetadata(blockSize, (flags & 1) != 0, hasParent, size, logical, physical, page83, locator);
    }

    private static Bytes item(VhdxFile f, long base, Map<UUID, Item> items, UUID id, String name, int size)
            throws IOException {
        Item it = items.get(id);
        if (it == null) {
            throw corrupt(f.path(), base, "required item '" + name + "' is missing");
        }
        if (it.length() < size) {
            throw corrupt(f.path(), base + it.offset(), "item '" + name + "' has " + it.length()
                    + " bytes, needs " + size);
        }
        return Bytes.of(f.read(base + it.offset(), size, "metadata item " + name));
    }

    private static int sectorSize(Bytes b, Path file, long at, String which) throws CorruptImageException {
        long v = b.u32le(0);
        if (v != 512 && v != 4096) {
            throw corrupt(file, at, which + " sector size " + v + " is neither 512 nor 4096");
        }
        return (int) v;
    }

    private static CorruptImageException corrupt(Path file, long at, String detail) {
        return new CorruptImageException(Vhdx.FORMAT, file, "metadata", at, detail);
    }

    /** The metadata region of a new image: table at 0, items packed from 64 KiB (qemu's layout). */
    byte[] writeRegion(int regionBytes) {
        byte[] b = new byte[regionBytes];
        Bytes w = Bytes.of(b);
        w.put64le(0, SIGNATURE);
        byte[] locator = parentLocator == null ? null : parentLocator.write();
        int count = locator == null ? 5 : 6;
        w.put16le(0x0A, count);
        ItemWriter put = new ItemWriter(w);
        int p = put.add(Vhdx.FILE_PARAMETERS, 8, FLAG_REQUIRED);
        w.put32le(p, blockSizeBytes).put32le(p + 4, (leaveBlocksAllocated ? 1 : 0) | (hasParent ? 2 : 0));
        w.put64le(put.add(Vhdx.VIRTUAL_DISK_SIZE, 8, FLAG_VIRTUAL_DISK | FLAG_REQUIRED), virtualSizeBytes);
        w.putGuid(put.add(Vhdx.PAGE83_DATA, 16, FLAG_VIRTUAL_DISK | FLAG_REQUIRED), page83);
        w.put32le(put.add(Vhdx.LOGICAL_SECTOR_SIZE, 4, FLAG_VIRTUAL_DISK | FLAG_REQUIRED), logicalSectorSize);
        w.put32le(put.add(Vhdx.PHYSICAL_SECTOR_SIZE, 4, FLAG_VIRTUAL_DISK | FLAG_REQUIRED), physicalSectorSize);
        if (locator != null) {
            w.putBytes(put.add(Vhdx.PARENT_LOCATOR, locator.length, FLAG_REQUIRED), locator);
        }
        return b;
    }

    /** Appends table entries and hands out item offsets, packed from 64 KiB. */
    private static final class ItemWriter {
        private final Bytes w;
        private int next = TABLE_SIZE;
        private int index;

        ItemWriter(Bytes w) {
            this.w = w;
        }

        int add(UUID id, int length, int flags) {
            int o = TABLE_HEADER_SIZE + index++ * ENTRY_SIZE;
            w.putGuid(o, id).put32le(o + 0x10, next).put32le(o + 0x14, length).put32le(o + 0x18, flags);
            int at = next;
            next += length;
            return at;
        }
    }

    long chunkRatio() {
        return Vhdx.SECTORS_PER_BITMAP_BLOCK * logicalSectorSize / blockSizeBytes;
    }
}
