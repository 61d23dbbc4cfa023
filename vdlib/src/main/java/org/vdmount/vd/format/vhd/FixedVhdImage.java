package org.vdmount.vd.format.vhd;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.util.EnumSet;
import java.util.Map;
import java.util.Set;
import java.util.UUID;
import org.vdmount.vd.HostLocation;
import org.vdmount.vd.ImageFormat;
import org.vdmount.vd.MetadataEdit;
import org.vdmount.vd.MetadataField;
import org.vdmount.vd.format.common.ByteMappedImage;
import org.vdmount.vd.storage.Storage;

/** A fixed VHD: virtual byte N is file byte N ({@link ByteMappedImage}); the footer follows the data. */
final class FixedVhdImage extends ByteMappedImage {
    private final VhdLayout layout;

    FixedVhdImage(ImageFormat format, Storage storage, VhdLayout layout) {
        super(format, storage, layout.virtualSize(), 2L << 20);
        this.layout = layout;
    }

    @Override
    public String variant() {
        return "fixed";
    }

    @Override
    public UUID uuid() {
        return layout.footer().uniqueId();
    }

    /**
     * The footer fixes the size, so data the file lacks is reported as truncation. (A raw file,
     * which has no other record of its size, reads as zeros instead.)
     */
    @Override
    public void readData(long offset, ByteBuffer dst) throws IOException {
        storage.readData(dst, offset, VhdLayout.FMT, "fixed data");
    }

    @Override
    public HostLocation hostLocation(long offset) {
        return new HostLocation(storage, offset);
    }

    /** The footer holds the identity and the geometry; a fixed VHD has no parent. */
    @Override
    public Set<MetadataField> editableFields() {
        return !layout.tailFooter() ? Set.of() : EnumSet.of(MetadataField.UUID, MetadataField.GEOMETRY);
    }

    /** Flushes the data, then rewrites the footer behind it (with its checksum) and forces it. */
    @Override
    public void checkEdit(MetadataEdit edit) throws IOException {
        edit.checkSupported(this);
        VhdEdits.check(this, edit);
    }

    @Override
    public void edit(MetadataEdit edit) throws IOException {
        checkEdit(edit);
        flush();
        VhdFooter f = VhdEdits.footer(layout.footer(), edit);
        storage.write(f.encode().buffer(), layout.footerOffset());
        storage.force();
    }

    @Override
    public Map<String, Object> details() {
        return VhdDetails.of(layout);
    }
}
