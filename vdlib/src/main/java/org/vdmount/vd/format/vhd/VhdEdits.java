package org.vdmount.vd.format.vhd;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import java.util.UUID;
import org.vdmount.vd.Bytes;
import org.vdmount.vd.Image;
import org.vdmount.vd.MetadataEdit;
import org.vdmount.vd.UnsupportedFeatureException;
import org.vdmount.vd.storage.Storage;

/**
 * Metadata changes of a VHD (VirtualBox's VHD.cpp vhdSetUuid / vhdSetParentUuid /
 * vhdSetPCHSGeometry / vhdSetParentFilename): the footer's unique id and CHS geometry (with its
 * checksum, at the end of the file and in the copy at 0), and the dynamic header's parent unique
 * id, parent time stamp, parent name and parent locators (with its checksum).
 */
final class VhdEdits {

    private VhdEdits() {
    }

    /** Refuses what {@link #footer} and {@link #writeHeader} would refuse; writes nothing. */
    static void check(Image image, MetadataEdit e) throws IOException {
        if (e.geometry() != null) {
            MetadataEdit.Geometry g = e.geometry();
            if (g.cylinders() > 0xFFFF || g.heads() > 0xFF || g.sectors() > 0xFF) {
                throw new UnsupportedFeatureException("vhd: " + image.storage().path() + ": geometry " + g
                        + " does not fit the footer at 0x38 (cylinders <= 65535, heads <= 255, sectors <= 255)");
            }
        }
        MetadataEdit.Backing b = e.backing();
        if (b != null) {
            if (b.none()) {
                throw new UnsupportedFeatureException("vhd: " + image.storage().path() + ": a differencing VHD "
                        + "cannot be made standalone in place (its sector bitmaps cover only its own sectors); "
                        + "use vd convert");
            }
            VhdParentLink.of(image.storage().path(), b.resolved(), b.requireParent(image));
        }
    }

    /** Whether the edit changes the footer. */
    static boolean touchesFooter(MetadataEdit e) {
        return e.uuid() != null || e.geometry() != null;
    }

    /** Whether the edit changes the dynamic header. */
    static boolean touchesHeader(MetadataEdit e) {
        return e.parentUuid() != null || e.backing() != null;
    }

    /** {@code f} with the edit's unique id and geometry (VHD specification: cylinders u16, heads u8, sectors u8). */
    static VhdFooter footer(VhdFooter f, MetadataEdit e) {
        UUID id = e.uuid() != null ? e.uuid() : f.uniqueId();
        int c = f.cylinders();
        int h = f.heads();
        int s = f.sectorsPerTrack();
        if (e.geometry() != null) {
            MetadataEdit.Geometry g = e.geometry();
            c = (int) g.cylinders();
            h = (int) g.heads();
            s = (int) g.sectors();
        }
        return new VhdFooter(f.features(), f.formatVersion(), f.dataOffsetBytes(), f.timestamp(), f.creatorApp(),
                f.creatorVersion(), f.creatorOs(), f.originalSizeBytes(), f.currentSizeBytes(), c, h, s, f.diskType(),
                0, id, f.savedState());
    }

    /**
     * Writes the dynamic header of a differencing image changed by {@code e}. A new parent's
     * locator data is appended at {@code tail}, where the footer lies: {@code footer} is first
     * written behind the new data, then the data, then the header that points to it, each write
     * forced before the next, so the file is a valid VHD linked to the old parent or the new at
     * every instant. Returns the footer's new offset.
     */
    static long writeHeader(Image image, Storage st, long headerOffset, long tail, byte[] footer, MetadataEdit e)
            throws IOException {
        ByteBuffer raw = ByteBuffer.allocate(VhdDynamicHeader.SIZE);
        st.readFully(raw, headerOffset, VhdLayout.FMT, "dynamic header");
        VhdDynamicHeader h = VhdDynamicHeader.parse(Bytes.of(raw.array()));
        UUID parentUuid = h.parentUuid();
        long parentTime = h.parentTimestamp();
        String parentName = h.parentName();
        List<VhdParentLocator> locators = h.locators();
        if (e.backing() != null) {
            MetadataEdit.Backing b = e.backing();
            VhdParentLink link = VhdParentLink.of(st.path(), b.resolved(), b.requireParent(image));
            List<byte[]> data = new ArrayList<>();
            locators = new ArrayList<>();
            long pos = tail;
            for (String[] p : link.locatorPaths()) {
                byte[] d = p[1].getBytes(StandardCharsets.UTF_16LE);
                long space = VhdParentLink.space(d);
                locators.add(new VhdParentLocator(p[0], space, d.length, pos));
                data.add(d);
                pos += space;
            }
            while (locators.size() < VhdDynamicHeader.LOCATOR_COUNT) {
                locators.add(new VhdParentLocator("\0\0\0\0", 0, 0, 0));
            }
            st.write(ByteBuffer.wrap(footer), pos);
            st.force();
            for (int i = 0; i < data.size(); i++) {
                ByteBuffer d = ByteBuffer.allocate((int) locators.get(i).dataSpaceBytes());
                d.put(data.get(i)).clear();
                st.write(d, locators.get(i).dataOffsetBytes());
            }
            st.force();
            tail = pos;
            parentUuid = link.uuid();
            parentTime = link.timestamp();
            parentName = link.name();
        }
        if (e.parentUuid() != null) {
            parentUuid = e.parentUuid();
        }
        VhdDynamicHeader edited = new VhdDynamicHeader(h.dataOffsetBytes(), h.tableOffsetBytes(), h.headerVersion(),
                h.maxTableEntries(), h.blockSizeBytes(), 0, parentUuid, parentTime, parentName, locators);
        st.write(edited.encode().buffer(), headerOffset);
        st.force();
        return tail;
    }
}
