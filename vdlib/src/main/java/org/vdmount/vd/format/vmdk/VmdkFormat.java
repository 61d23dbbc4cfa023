package org.vdmount.vd.format.vmdk;

import static org.vdmount.vd.Capability.*;

import java.io.IOException;
import java.nio.file.Path;
import java.util.List;
import org.vdmount.vd.Bytes;
import org.vdmount.vd.CreateOptions;
import org.vdmount.vd.DeclaredFormat;
import org.vdmount.vd.Image;
import org.vdmount.vd.OpenOptions;
import org.vdmount.vd.ProbeInput;

/**
 * VMware virtual disks (VMDK): text descriptors with FLAT / SPARSE / ZERO / VMFS / VMFSSPARSE /
 * SESPARSE extents, hosted sparse files with embedded descriptors (monolithicSparse,
 * streamOptimized), bare COWD and seSparse extents; snapshot chains through
 * {@code parentFileNameHint} with the parent's CID checked (the CID is mapped into a UUID as
 * {@code 00000000-0000-0000-0000-0000xxxxxxxx}).
 *
 * <p>Creates monolithicSparse (default), twoGbMaxExtentSparse, monolithicFlat, twoGbMaxExtentFlat
 * and streamOptimized ({@code -o subformat=...}); sparse subformats may have a VMDK parent.
 */
public final class VmdkFormat extends DeclaredFormat {

    public VmdkFormat() {
        super("vmdk", List.of("vmdk"),
                reads(WRITE, CREATE, CREATE_FIXED, DIFFERENCING, DISCARD, ZERO_BLOCKS, MULTI_FILE, RESIZE),
                VmdkCreator.OPTIONS);
    }

    /** Single-extent images: see {@link VmdkImage#resize}. */
    @Override
    public void resize(Image image, long newSize) throws IOException {
        ((VmdkImage) image).resize(newSize);
    }

    @Override
    public int probe(ProbeInput in) {
        if (in.directory()) {
            return 0;
        }
        Bytes h = in.head();
        if (SparseHeader.hasMagic(h) || CowdHeader.hasMagic(h) || SeSparseHeader.hasMagic(h)) {
            return 100;
        }
        if (in.size() > Descriptor.MAX_BYTES || h.size() == 0) {
            return 0;
        }
        String text = Descriptor.decode(h.bytes(0, h.size()), h.size());
        return Descriptor.looksLikeDescriptor(text) ? 100 : 0;
    }

    @Override
    public Image open(Path path, OpenOptions options) throws IOException {
        return VmdkOpener.open(this, path, options);
    }

    @Override
    public Image createImage(Path path, CreateOptions options) throws IOException {
        return VmdkCreator.create(this, path, options);
    }

    /** Hosted sparse extents (monolithicSparse, twoGbMaxExtentSparse, their children): see {@link VmdkCompact}. */
    @Override
    public java.util.Optional<org.vdmount.vd.compact.ImageCompactor> compactor() {
        return java.util.Optional.of(new VmdkCompact());
    }

    /** Descriptor, extent files and sizes; hosted sparse headers, both directories, grain tables. */
    @Override
    public java.util.Optional<org.vdmount.vd.check.ImageChecker> checker() {
        return java.util.Optional.of(new VmdkCheck());
    }
}
