package org.vdmount.vd.format.qcow2;

import static org.vdmount.vd.Capability.*;

import java.io.IOException;
import java.nio.file.Path;
import java.util.List;
import org.vdmount.vd.CreateOptions;
import org.vdmount.vd.DeclaredFormat;
import org.vdmount.vd.Image;
import org.vdmount.vd.OpenOptions;
import org.vdmount.vd.ProbeInput;
import org.vdmount.vd.storage.Preallocation;

/**
 * QEMU copy-on-write version 2 and 3 images (docs/interop/qcow2.txt): backing files of any
 * format, zero clusters, zlib and zstd compression, extended L2 entries (subclusters), external
 * data files, internal snapshots (listed in {@code details()}, opened with {@link #openSnapshot}).
 * A writable open of an image with the dirty bit (lazy refcounts, not closed cleanly) rebuilds its
 * refcounts first and reports it through {@link OpenOptions#warn}; a read-only open never writes.
 * Encrypted images are refused.
 */
public final class Qcow2Format extends DeclaredFormat {

    public Qcow2Format() {
        super("qcow2", List.of("qcow2", "qcow2c", "qcow3"),
                reads(WRITE, CREATE, DIFFERENCING, INTERNAL_SNAPSHOTS, DISCARD, ZERO_BLOCKS, REPAIR_ON_OPEN, RESIZE),
                Qcow2Creator.OPTIONS);
    }

    @Override
    public int probe(ProbeInput in) {
        if (in.directory() || in.head().size() < 8 || !Qcow2Header.hasMagic(in.head())) {
            return 0;
        }
        int version = in.head().s32be(4);
        // Version 1 is format.qcow's. Any other version is still QEMU's container: claimed with a
        // low score so that opening it names the version instead of showing its bytes as raw.
        return version == 2 || version == 3 ? 100 : version == 1 ? 0 : 50;
    }

    @Override
    public Image open(Path path, OpenOptions options) throws IOException {
        return Qcow2Opener.open(this, path, options, null);
    }

    /** Refcounts against the metadata, leaks and corruptions as qemu-img check counts them. */
    @Override
    public java.util.Optional<org.vdmount.vd.check.ImageChecker> checker() {
        return java.util.Optional.of(new Qcow2Check());
    }

    /** Zero (or backing-equal) clusters freed, data clusters and L2 tables packed, file cut. */
    @Override
    public java.util.Optional<org.vdmount.vd.compact.ImageCompactor> compactor() {
        return java.util.Optional.of(new Qcow2Compact());
    }

    /**
     * Opens internal snapshot {@code idOrName} (matched by id first, then by name, as QEMU does)
     * read-only: an image whose L1 table is the snapshot's, of the snapshot's virtual size, with
     * the image's backing file as parent. {@code options.readOnly()} is ignored.
     */
    @Override
    public Image openSnapshot(Path path, String idOrName, OpenOptions options) throws IOException {
        return Qcow2Opener.open(this, path, options.withReadOnly(true), idOrName);
    }

    /** Grows (or shrinks) the active L1 table's reach and the size field; see {@link Qcow2Resize}. */
    @Override
    public void resize(Image image, long newSize) throws IOException {
        Qcow2Resize.resize((Qcow2Image) image, newSize);
    }

    /** qemu's modes for a grown qcow2: every one (see {@link Qcow2Writer#preallocate}). */
    @Override
    public java.util.Set<Preallocation> preallocationModes() {
        return java.util.EnumSet.allOf(Preallocation.class);
    }

    @Override
    public void preallocate(Image image, long offset, long length, Preallocation mode) throws IOException {
        if (mode != Preallocation.OFF) {
            ((Qcow2Image) image).preallocate(offset, length, mode);
        }
    }

    /** A sequential writer of compressed clusters; see {@link Qcow2CompressedWriter}. */
    @Override
    public org.vdmount.vd.CompressedWriter createCompressed(Path path, CreateOptions options) throws IOException {
        return Qcow2CompressedWriter.create(path, options.validate(this));
    }

    /** Creates, applies or deletes an internal snapshot; see {@link Qcow2Snapshots}. */
    @Override
    public String changeSnapshot(Image image, char op, String name) throws IOException {
        Qcow2Image img = (Qcow2Image) image;
        return switch (op) {
            case 'c' -> Qcow2Snapshots.create(img, name);
            case 'a' -> Qcow2Snapshots.apply(img, name);
            case 'd' -> Qcow2Snapshots.delete(img, name);
            default -> throw new IllegalArgumentException("snapshot operation " + op);
        };
    }

    @Override
    public Image createImage(Path path, CreateOptions options) throws IOException {
        Qcow2Creator.create(path, options);
        return open(path, OpenOptions.defaultReadWrite().withSecrets(options.secrets()));
    }
}
