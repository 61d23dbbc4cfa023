package org.vdmount.vd.format.vhdx;

import java.io.IOException;
import java.util.ArrayList;
import java.util.List;
import org.vdmount.vd.Bytes;
import org.vdmount.vd.CorruptImageException;
import org.vdmount.vd.UnsupportedFeatureException;

/**
 * A new virtual size for a dynamic or differencing VHDX (MS-VHDX 2.6.2.2 "Virtual Disk Size",
 * 2.5 "BAT"). The BAT needs {@link Bat#entriesNeeded} entries for the new size (payload entries
 * interleaved with one sector bitmap entry per chunk); the new ones must read "not present"
 * (zero). Those BAT pages and the metadata page holding the Virtual Disk Size item are written as
 * one log entry and then in place (2.3), so a crash replays the whole change or none of it. The
 * BAT region keeps its place and length: a size whose table does not fit it is refused, naming the
 * size it reaches. Shrinking writes the size item only (entries past the end stay, unused). Fixed
 * images are refused.
 */
final class VhdxResize {
    private static final int ENTRY_OFFSET = 0x10; // metadata table entry: item id, then offset u32, length u32

    private VhdxResize() {
    }

    static void resize(VhdxImage img, long newSize) throws IOException {
        VhdxFile file = img.file;
        VhdxMetadata m = img.meta;
        if (m.leaveBlocksAllocated()) {
            throw new UnsupportedFeatureException("resize is not supported by fixed VHDX images: " + file.path()
                    + " (convert it to a dynamic one with 'vd convert -O vhdx')");
        }
        RegionTable regions = RegionTable.parse(file.read(Vhdx.REGION1_OFFSET, RegionTable.SIZE, "region table"),
                file.path(), Vhdx.REGION1_OFFSET);
        RegionTable.Entry batRegion = regions.find(Vhdx.BAT_REGION);
        RegionTable.Entry metaRegion = regions.find(Vhdx.METADATA_REGION);
        VhdxMetadata grown = new VhdxMetadata(m.blockSizeBytes(), m.leaveBlocksAllocated(), m.hasParent(), newSize,
                m.logicalSectorSize(), m.physicalSectorSize(), m.page83(), m.parentLocator());
        long oldEntries = Bat.entriesNeeded(m);
        long newEntries = Bat.entriesNeeded(grown);
        if (newEntries * 8 > batRegion.lengthBytes()) {
            long fits = batRegion.lengthBytes() / 8;
            throw new UnsupportedFeatureException("vhdx: " + file.path() + " cannot grow to " + newSize
                    + " bytes: its BAT needs " + newEntries + " entries and the BAT region at "
                    + Vhdx.hex(batRegion.fileOffsetBytes()) + " holds " + fits + " (moving the BAT region is not "
                    + "supported; convert it to a new image instead)");
        }
        img.writer.flush();
        List<LogWriter.Page> pages = new ArrayList<>();
        if (newEntries > oldEntries) {
            int firstPage = (int) (oldEntries / Bat.ENTRIES_PER_PAGE);
            int lastPage = (int) ((newEntries - 1) / Bat.ENTRIES_PER_PAGE);
            for (int p = firstPage; p <= lastPage; p++) {
                long at = batRegion.fileOffsetBytes() + (long) p * Vhdx.LOG_SECTOR;
                byte[] page = file.read(at, Vhdx.LOG_SECTOR, "BAT");
                Bytes b = Bytes.of(page);
                for (int i = 0; i < Bat.ENTRIES_PER_PAGE; i++) {
                    long index = (long) p * Bat.ENTRIES_PER_PAGE + i;
                    if (index >= oldEntries && index < newEntries) {
                        b.put64le(i * 8, 0); // PAYLOAD_BLOCK_NOT_PRESENT / SB_BLOCK_NOT_PRESENT
                    }
                }
                pages.add(new LogWriter.Page(at, page));
            }
        }
        long item = sizeItemOffset(file, metaRegion);
        long pageAt = item & -Vhdx.LOG_SECTOR;
        byte[] page = file.read(pageAt, Vhdx.LOG_SECTOR, "metadata");
        Bytes.of(page).put64le((int) (item - pageAt), newSize);
        pages.add(new LogWriter.Page(pageAt, page));
        if (pages.size() > img.journal.maxPagesPerEntry()) {
            throw new UnsupportedFeatureException("vhdx: " + file.path() + ": growing to " + newSize + " bytes "
                    + "changes " + pages.size() + " pages, more than one entry of its log holds ("
                    + img.journal.maxPagesPerEntry() + "); grow it in smaller steps");
        }
        img.journal.begin();
        img.journal.throughLog(pages);
    }

    /** File offset of the Virtual Disk Size item (8 bytes), found in the metadata table. */
    private static long sizeItemOffset(VhdxFile file, RegionTable.Entry region) throws IOException {
        long base = region.fileOffsetBytes();
        Bytes t = Bytes.of(file.read(base, VhdxMetadata.TABLE_SIZE, "metadata table"));
        int count = Math.min(t.u16le(0x0A), VhdxMetadata.MAX_ENTRIES);
        for (int i = 0; i < count; i++) {
            int o = VhdxMetadata.TABLE_HEADER_SIZE + i * VhdxMetadata.ENTRY_SIZE;
            if (t.guid(o).equals(Vhdx.VIRTUAL_DISK_SIZE)) {
                return base + t.u32le(o + ENTRY_OFFSET);
            }
        }
        throw new CorruptImageException(Vhdx.FORMAT, file.path(), "metadata table", base,
                "no Virtual Disk Size item");
    }
}
