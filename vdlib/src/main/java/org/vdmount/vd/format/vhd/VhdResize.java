package org.vdmount.vd.format.vhd;

import java.io.IOException;
import java.nio.ByteBuffer;
import org.vdmount.vd.Bytes;
import org.vdmount.vd.OpenOptions;
import org.vdmount.vd.UnsupportedFeatureException;
import org.vdmount.vd.storage.Storage;

/**
 * A new virtual size for a VHD (Microsoft VHD specification: "Hard Disk Footer Format", "Dynamic
 * Disk Header Format", appendix "CHS Calculation"). The footer's current size and CHS geometry
 * change, with its checksum. The original size changes too: the specification calls it
 * informational, but libvhdi reads it as the disk's size, so both say the new one; dynamic and differencing images keep a copy of
 * it at offset 0.
 * <ul>
 * <li>Fixed: the footer moves to the new end (written there first, the old one then zeroed when
 *     growing; when shrinking the file is cut after).</li>
 * <li>Dynamic / differencing: the BAT must have an entry per block. New entries are written in
 *     place when the space after the table is free (no block, header or locator data there);
 *     otherwise the table moves to the end of the file, where blocks are appended: a footer copy
 *     is written behind its new place first, then the table, then the dynamic header's table
 *     offset and entry count in one sector. The footer at the end is written last but one, its
 *     copy at offset 0 last.</li>
 * </ul>
 * Every step leaves a valid image of the old or the new size.
 */
final class VhdResize {
    private VhdResize() {
    }

    static void resize(Storage storage, long newSize) throws IOException {
        VhdLayout layout = VhdLayout.load(storage, OpenOptions.defaultReadOnly());
        VhdFooter f = layout.footer();
        if (!layout.tailFooter()) {
            throw new UnsupportedFeatureException("vhd: " + storage.path() + " has no footer at its end; "
                    + "repair it before resizing");
        }
        long chs = VhdGeometry.chsFor(newSize / VhdGeometry.SECTOR);
        VhdFooter nf = new VhdFooter(f.features(), f.formatVersion(), f.dataOffsetBytes(), f.timestamp(),
                f.creatorApp(), f.creatorVersion(), f.creatorOs(), newSize, newSize,
                VhdGeometry.cylinders(chs), VhdGeometry.heads(chs), VhdGeometry.sectorsPerTrack(chs), f.diskType(),
                0, f.uniqueId(), f.savedState());
        ByteBuffer footer = nf.encode().slice(0, VhdFooter.SIZE);
        if (f.fixed()) {
            resizeFixed(storage, layout, newSize, footer);
        } else {
            growBat(storage, layout, newSize);
            footer.rewind();
            storage.write(footer, storage.size() - VhdFooter.SIZE);
            storage.force();
            footer.rewind();
            storage.write(footer, 0);
            storage.force();
        }
    }

    private static void resizeFixed(Storage storage, VhdLayout layout, long newSize, ByteBuffer footer)
            throws IOException {
        long oldEnd = layout.footerOffset();
        storage.write(footer, newSize);
        storage.force();
        if (newSize > oldEnd) {
            storage.writeZeros(oldEnd, Math.min(VhdFooter.SIZE, newSize - oldEnd)); // the old footer, now data
        } else {
            storage.truncate(newSize + VhdFooter.SIZE);
        }
        storage.force();
    }

    /** Makes the BAT hold an entry for every block of {@code newSize}; never shrinks it. */
    private static void growBat(Storage storage, VhdLayout layout, long newSize) throws IOException {
        VhdDynamicHeader h = layout.header();
        long bs = h.blockSizeBytes();
        long need = (newSize + bs - 1) / bs;
        long old = h.maxTableEntries();
        if (need <= old) {
            return;
        }
        if (need > VhdLayout.MAX_BAT_ENTRIES) {
            throw new UnsupportedFeatureException("vhd: " + newSize + " bytes needs " + need + " BAT entries of "
                    + bs + "-byte blocks; at most " + VhdLayout.MAX_BAT_ENTRIES + " are supported: " + storage.path());
        }
        long batOff = h.tableOffsetBytes();
        if (batOff + need * 4 <= freeUntil(layout, batOff)) {
            storage.write(unused(need - old), batOff + old * 4);
            storage.force();
            writeHeaderSector(storage, layout, batOff, need);
            return;
        }
        long at = layout.footerOffset(); // sector aligned: the footer is 512 bytes at the end
        long batBytes = (need * 4 + VhdGeometry.SECTOR - 1) & -VhdGeometry.SECTOR;
        ByteBuffer table = unused(batBytes / 4);
        Bytes tb = Bytes.of(table.array());
        int[] bat = layout.bat();
        for (int i = 0; i < bat.length; i++) {
            tb.put32be(i * 4, Integer.toUnsignedLong(bat[i]));
        }
        // the (old) footer behind the new table first, so the file never ends without one
        storage.write(ByteBuffer.wrap(layout.footerRaw()), at + batBytes);
        storage.force();
        storage.write(table, at);
        storage.force();
        writeHeaderSector(storage, layout, at, need);
    }

    /** Where the first thing after the BAT starts: a block, the dynamic header, locator data, the footer. */
    private static long freeUntil(VhdLayout layout, long batOff) {
        long limit = layout.footerOffset();
        for (int e : layout.bat()) {
            long start = Integer.toUnsignedLong(e) * VhdGeometry.SECTOR;
            if (e != -1 && start >= batOff) {
                limit = Math.min(limit, start);
            }
        }
        long hdr = layout.footer().dataOffsetBytes();
        if (hdr >= batOff) {
            limit = Math.min(limit, hdr);
        }
        for (VhdParentLocator l : layout.header().locators()) {
            if (l.dataOffsetBytes() >= batOff && (l.dataSpaceBytes() > 0 || l.dataLengthBytes() > 0)) {
                limit = Math.min(limit, l.dataOffsetBytes());
            }
        }
        return limit;
    }

    /**
     * The dynamic header's table offset (0x10) and max table entries (0x1C) and its checksum
     * (0x24): all in its first sector, written alone so the update is one sector.
     */
    private static void writeHeaderSector(Storage storage, VhdLayout layout, long batOff, long entries)
            throws IOException {
        long hdrOff = layout.footer().dataOffsetBytes();
        ByteBuffer raw = ByteBuffer.allocate(VhdDynamicHeader.SIZE);
        storage.readFully(raw, hdrOff, VhdLayout.FMT, "dynamic header");
        Bytes b = Bytes.of(raw.array());
        b.put64be(0x10, batOff).put32be(0x1C, entries);
        b.put32be(VhdDynamicHeader.CHECKSUM_OFFSET,
                VhdFooter.checksum(b, VhdDynamicHeader.SIZE, VhdDynamicHeader.CHECKSUM_OFFSET));
        storage.write(ByteBuffer.wrap(raw.array(), 0, VhdGeometry.SECTOR), hdrOff);
        storage.force();
    }

    private static ByteBuffer unused(long entries) {
        byte[] b = new byte[(int) (entries * 4)];
        java.util.Arrays.fill(b, (byte) 0xFF);
        return ByteBuffer.wrap(b);
    }
}
