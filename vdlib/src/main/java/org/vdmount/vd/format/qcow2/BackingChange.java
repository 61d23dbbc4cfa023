package org.vdmount.vd.format.qcow2;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import org.vdmount.vd.Bytes;
import org.vdmount.vd.MetadataEdit;
import org.vdmount.vd.UnsupportedFeatureException;

/**
 * Changes the backing file of a qcow2 image, as QEMU's qcow2_change_backing_file does: the
 * backing file name (qcow2.txt "Header", bytes 8-19: offset and size of the name, which lies in
 * the first cluster) and the backing file format extension (0xe2792aca) are rebuilt from the
 * header cluster as it is on disk, and the header area is written back in one write, then forced.
 * Every other extension is kept as it is. Layout: fixed header, backing format extension, the
 * other extensions, end marker, backing file name.
 */
final class BackingChange {

    private BackingChange() {
    }

    /** Writes the header area {@link #build} makes, in one write, and forces it. */
    static void apply(Qcow2Image img, MetadataEdit.Backing backing) throws IOException {
        img.storage().write(ByteBuffer.wrap(build(img, backing)), 0);
        img.storage().force();
    }

    /**
     * The new header area (from offset 0) as it is to be written; refuses a name that does not
     * fit. Reads only.
     */
    static byte[] build(Qcow2Image img, MetadataEdit.Backing backing) throws IOException {
        int limit = (int) Math.min(img.clusterSize, img.storage().size());
        ByteBuffer buf = ByteBuffer.allocate(limit);
        img.storage().readFully(buf, 0, "qcow2", "header cluster");
        Bytes first = Bytes.of(buf.array());
        Qcow2Header h = img.header;
        long oldOffset = first.u64be(0x08);
        long oldSize = first.u32be(0x10);
        int extLimit = oldOffset > 0 && oldOffset < limit ? (int) oldOffset : limit;
        HeaderExtensions ext = HeaderExtensions.parse(first, h.headerEnd(), extLimit, img.path);
        byte[] kept = ext.entriesWithout(first, HeaderExtensions.BACKING_FORMAT);

        String format = backing.formatName() == null ? null : Qcow2Opener.qemuFormatName(backing.formatName());
        byte[] name = backing.recorded().getBytes(StandardCharsets.UTF_8);
        if (name.length > Qcow2Header.MAX_BACKING_NAME) {
            throw new UnsupportedFeatureException("qcow2: " + img.path + ": backing file name of " + name.length
                    + " bytes is longer than " + Qcow2Header.MAX_BACKING_NAME);
        }
        int formatExt = format == null ? 0 : 8 + ((format.getBytes(StandardCharsets.UTF_8).length + 7) & ~7);
        int marker = h.headerEnd() + formatExt + kept.length;
        int nameAt = marker + 8;
        int total = nameAt + name.length;
        if (total > limit) {
            throw new UnsupportedFeatureException("qcow2: " + img.path + ": backing file name of " + name.length
                    + " bytes does not fit the header cluster (" + (total - limit) + " bytes short)");
        }
        int oldEnd = (int) Math.min(limit, Math.max(ext.end() + 8L, oldOffset + oldSize));
        byte[] area = new byte[Math.max(total, oldEnd)];
        System.arraycopy(buf.array(), 0, area, 0, h.headerEnd());
        Bytes out = Bytes.of(area);
        int p = h.headerEnd();
        if (format != null) {
            p = HeaderExtensions.putString(out, p, HeaderExtensions.BACKING_FORMAT, format);
        }
        System.arraycopy(kept, 0, area, p, kept.length);
        // the end marker (type 0, length 0) and the bytes up to the old end stay zero
        if (!backing.none()) {
            System.arraycopy(name, 0, area, nameAt, name.length);
        }
        out.put64be(0x08, backing.none() ? 0 : nameAt);
        out.put32be(0x10, backing.none() ? 0 : name.length);
        return area;
    }
}
