package org.vdmount.vd.format.vhdx;

import java.io.IOException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.UUID;
import org.vdmount.vd.Bytes;
import org.vdmount.vd.CorruptImageException;
import org.vdmount.vd.MetadataEdit;
import org.vdmount.vd.UnsupportedFeatureException;

/**
 * Metadata changes of a VHDX as pages of its metadata region (MS-VHDX 2.6): the Page 83 Data
 * item (the virtual disk id, 2.6.2.5) and the parent locator item (2.6.2.6: parent_linkage,
 * relative_path, absolute_win32_path). Items stay where they are; a parent locator that grew is
 * moved behind the last item of the region, and its table entry (2.6.1.2) follows it. The
 * changed 4 KiB pages are returned for the log ({@link Journal#commitPages}).
 */
final class MetadataEdits {
    static final int PAGE = 4096;
    /** The largest metadata region edited (the specification's regions are 1 MiB by default). */
    static final long MAX_REGION = 16L << 20;

    private MetadataEdits() {
    }

    static List<LogWriter.Page> regionPages(VhdxFile f, RegionTable.Entry region, VhdxMetadata meta, Path path,
                                            MetadataEdit e) throws IOException {
        if (region.lengthBytes() > MAX_REGION || region.lengthBytes() % PAGE != 0) {
            throw new UnsupportedFeatureException("vhdx: " + path + ": metadata region of " + region.lengthBytes()
                    + " bytes cannot be edited (at most " + MAX_REGION + ", whole 4 KiB pages)");
        }
        int len = (int) region.lengthBytes();
        byte[] old = f.read(region.fileOffsetBytes(), len, "metadata region");
        byte[] neu = old.clone();
        Bytes w = Bytes.of(neu);
        int count = w.u16le(0x0A);
        if (VhdxMetadata.TABLE_HEADER_SIZE + (long) count * VhdxMetadata.ENTRY_SIZE > VhdxMetadata.TABLE_SIZE) {
            throw new CorruptImageException(Vhdx.FORMAT, path, "metadata table", region.fileOffsetBytes() + 0x0A,
                    count + " entries do not fit the table");
        }
        int page83 = -1;
        int locator = -1;
        long itemsEnd = VhdxMetadata.TABLE_SIZE;
        for (int i = 0; i < count; i++) {
            int o = VhdxMetadata.TABLE_HEADER_SIZE + i * VhdxMetadata.ENTRY_SIZE;
            UUID id = w.guid(o);
            long off = w.u32le(o + 0x10);
            long length = w.u32le(o + 0x14);
            if (off + length > len || length > 0 && off < VhdxMetadata.TABLE_SIZE) {
                throw new CorruptImageException(Vhdx.FORMAT, path, "metadata table", region.fileOffsetBytes() + o,
                        "item " + id + " at " + off + "+" + length + " lies outside 64 KiB.." + len + " of the region");
            }
            itemsEnd = Math.max(itemsEnd, off + length);
            if (id.equals(Vhdx.PAGE83_DATA) && length >= 16) {
                page83 = o;
            } else if (id.equals(Vhdx.PARENT_LOCATOR)) {
                locator = o;
            }
        }
        if (e.uuid() != null) {
            if (page83 < 0) {
                throw new CorruptImageException(Vhdx.FORMAT, path, "metadata table", region.fileOffsetBytes(),
                        "no Page 83 Data item");
            }
            w.putGuid((int) w.u32le(page83 + 0x10), e.uuid());
        }
        if (e.parentUuid() != null || e.backing() != null) {
            if (locator < 0 || meta.parentLocator() == null) {
                throw new CorruptImageException(Vhdx.FORMAT, path, "metadata table", region.fileOffsetBytes(),
                        "a differencing image without a parent locator item");
            }
            ParentLocator loc;
            if (e.backing() != null) {
                MetadataEdit.Backing b = e.backing();
                loc = VhdxCreator.locator(path, b.resolved(), b.parent().linkUuid());
            } else {
                Map<String, String> m = new LinkedHashMap<>(meta.parentLocator().entries());
                m.put(ParentLocator.PARENT_LINKAGE, ParentLocator.guidText(e.parentUuid()));
                m.remove(ParentLocator.PARENT_LINKAGE2);
                loc = new ParentLocator(meta.parentLocator().type(), m);
            }
            byte[] bytes = loc.write();
            int off = (int) w.u32le(locator + 0x10);
            int oldLen = (int) w.u32le(locator + 0x14);
            if (bytes.length > oldLen) {
                w.fill(off, oldLen, 0);
                off = (int) ((itemsEnd + 7) & ~7L);
                if (off + (long) bytes.length > len) {
                    throw new UnsupportedFeatureException("vhdx: " + path + ": a parent locator of " + bytes.length
                            + " bytes does not fit the metadata region (" + (len - off) + " bytes free)");
                }
            } else {
                w.fill(off, oldLen, 0);
            }
            w.putBytes(off, bytes);
            w.put32le(locator + 0x10, off).put32le(locator + 0x14, bytes.length);
        }
        List<LogWriter.Page> pages = new ArrayList<>();
        for (int p = 0; p < len; p += PAGE) {
            if (Arrays.mismatch(old, p, p + PAGE, neu, p, p + PAGE) >= 0) {
                pages.add(new LogWriter.Page(region.fileOffsetBytes() + p, Arrays.copyOfRange(neu, p, p + PAGE)));
            }
        }
        return pages;
    }
}
