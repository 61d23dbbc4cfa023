package org.vdmount.vd;

/**
 * A piece of an image's recorded metadata that {@link Image#edit} can change (VirtualBox's
 * VDSetUuid, VDSetParentUuid, VDSetComment, VDSetPCHSGeometry; QEMU's
 * bdrv_change_backing_file). Which ones a format stores is {@link Image#editableFields()}.
 */
public enum MetadataField {
    /** The image's own identity (VHD unique id, VDI uuidCreate, VHDX virtual disk id). */
    UUID("uuid"),
    /** The identity recorded for the parent (VHD parent unique id, VDI uuidLinkage). */
    PARENT_UUID("parent-uuid"),
    /** A free-text comment (VDI szComment). */
    COMMENT("comment"),
    /** The BIOS CHS geometry (VHD footer, VDI legacy geometry). */
    GEOMETRY("geometry"),
    /** The parent reference as a whole: path, format, identity, timestamp (rebase). */
    BACKING("backing"),
    /** qcow2's lazy refcounts feature bit (compat 1.1; qemu-img amend -o lazy_refcounts=on|off). */
    LAZY_REFCOUNTS("lazy_refcounts");

    private final String key;

    MetadataField(String key) {
        this.key = key;
    }

    /** The {@code vd amend -o} key. */
    public String key() {
        return key;
    }
}
