package org.vdmount.vd;

import java.nio.file.Path;
import java.util.EnumSet;
import java.util.Set;
import java.util.UUID;

/**
 * Changes to an image's recorded metadata, applied at once by {@link Image#edit}. A null
 * component is left as it is.
 *
 * @param uuid       new identity of the image
 * @param parentUuid new identity recorded for the parent
 * @param comment    new comment
 * @param geometry   new CHS geometry
 * @param backing    new parent reference (rebase), or {@link Backing#NONE} to make it standalone
 * @param lazyRefcounts qcow2's lazy refcounts feature on or off
 */
public record MetadataEdit(UUID uuid, UUID parentUuid, String comment, Geometry geometry, Backing backing,
                           Boolean lazyRefcounts) {

    /** A BIOS CHS geometry: cylinders / heads / sectors per track. */
    public record Geometry(long cylinders, long heads, long sectors) {
        /** Parses {@code C/H/S}; {@code what} names the input in the message. */
        public static Geometry parse(String s, String what) throws UnsupportedFeatureException {
            String[] p = s.split("/", -1);
            try {
                if (p.length == 3) {
                    Geometry g = new Geometry(Long.parseLong(p[0].strip()), Long.parseLong(p[1].strip()),
                            Long.parseLong(p[2].strip()));
                    if (g.cylinders >= 0 && g.heads >= 0 && g.sectors >= 0) {
                        return g;
                    }
                }
            } catch (NumberFormatException e) {
                // falls through to the message below
            }
            throw new UnsupportedFeatureException(what + " must be CYLINDERS/HEADS/SECTORS, not '" + s + "'");
        }

        @Override
        public String toString() {
            return cylinders + "/" + heads + "/" + sectors;
        }
    }

    /**
     * A new parent reference.
     *
     * @param recorded   the path to record, as the user gave it (relative to the child's
     *                   directory); empty for {@link #NONE}
     * @param resolved   where that path leads from the child's directory; null for {@link #NONE}
     * @param parent     the new parent's top layer, open (its identity and mtime are recorded);
     *                   null for {@link #NONE} or for an unsafe rebase onto a file that does not
     *                   exist (formats that link by identity refuse that)
     * @param formatName the parent's format name ({@link ImageFormat#name()}), null for none
     */
    public record Backing(String recorded, Path resolved, Image parent, String formatName) {
        /** No parent: the image becomes a base image. */
        public static final Backing NONE = new Backing("", null, null, null);

        public static Backing to(String recorded, Path resolved, Image parent) {
            return new Backing(recorded, resolved, parent, parent.format().name());
        }

        public boolean none() {
            return recorded.isEmpty();
        }

        /** The open parent; refuses, naming the format, when the new parent was not opened. */
        public Image requireParent(Image child) throws UnsupportedFeatureException {
            if (parent == null) {
                throw new UnsupportedFeatureException(child.format().name() + ": " + child.storage().path()
                        + ": records its parent's identity, so the new backing file " + recorded + " must exist");
            }
            return parent;
        }
    }

    public static MetadataEdit ofBacking(Backing backing) {
        return new MetadataEdit(null, null, null, null, backing, null);
    }

    /** The fields this edit changes. */
    public Set<MetadataField> fields() {
        Set<MetadataField> s = EnumSet.noneOf(MetadataField.class);
        if (uuid != null) {
            s.add(MetadataField.UUID);
        }
        if (parentUuid != null) {
            s.add(MetadataField.PARENT_UUID);
        }
        if (comment != null) {
            s.add(MetadataField.COMMENT);
        }
        if (geometry != null) {
            s.add(MetadataField.GEOMETRY);
        }
        if (backing != null) {
            s.add(MetadataField.BACKING);
        }
        if (lazyRefcounts != null) {
            s.add(MetadataField.LAZY_REFCOUNTS);
        }
        return s;
    }

    /**
     * Refuses, in one line naming the format and the field, a field {@code image} does not store;
     * formats call this first in {@link Image#edit}.
     */
    public void checkSupported(Image image) throws VdException {
        if (image.readOnly()) {
            throw new ReadOnlyException(image.format().name() + ": " + image.storage().path() + " is opened read-only");
        }
        for (MetadataField f : fields()) {
            if (!image.editableFields().contains(f)) {
                throw new UnsupportedFeatureException(image.format().name() + ": " + image.storage().path()
                        + ": the format does not store '" + f.key() + "'");
            }
        }
    }
}
