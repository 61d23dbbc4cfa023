package org.vdmount.vd.format.vmdk;

import java.io.IOException;
import java.nio.file.Path;
import java.util.EnumSet;
import java.util.List;
import java.util.Set;
import org.vdmount.vd.Bytes;
import org.vdmount.vd.Capability;
import org.vdmount.vd.CreateOption;
import org.vdmount.vd.CreateOptions;
import org.vdmount.vd.Image;
import org.vdmount.vd.ImageFormat;
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
public final class VmdkFormat implements ImageFormat {

    @Override
    public String name() {
        return "vmdk";
    }

    @Override
    public List<String> extensions() {
        return List.of("vmdk");
    }

    @Override
    public Set<Capability> capabilities() {
        return EnumSet.of(Capability.READ, Capability.WRITE, Capability.CREATE, Capability.CREATE_FIXED,
                Capability.DIFFERENCING, Capability.DISCARD, Capability.ZERO_BLOCKS, Capability.MULTI_FILE);
    }

    @Override
    public List<CreateOption> createOptions() {
        return VmdkCreator.OPTIONS;
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
}
