package org.vdmount.vd.format.vhd;

import static org.vdmount.vd.Capability.*;

import java.io.IOException;
import java.nio.file.Path;
import java.util.List;
import org.vdmount.vd.Bytes;
import org.vdmount.vd.CreateOption;
import org.vdmount.vd.CreateOptions;
import org.vdmount.vd.DeclaredFormat;
import org.vdmount.vd.Image;
import org.vdmount.vd.OpenOptions;
import org.vdmount.vd.ProbeInput;
import org.vdmount.vd.storage.StorageScope;

/**
 * Microsoft Virtual Hard Disk (VHD, Virtual PC / Hyper-V): fixed, dynamic and differencing
 * images. Facts: libyal/libvhdi "Virtual Hard Disk (VHD) image format"; behaviour (virtual size
 * from CHS or current size) as QEMU block/vpc.c.
 *
 * <p>Create options: {@code subformat=dynamic|fixed} (default dynamic; differencing when a parent
 * is given), {@code block_size} (dynamic and differencing, default 2M).
 */
public final class VhdFormat extends DeclaredFormat {

    static final CreateOption SUBFORMAT = CreateOption.choice("subformat", "dynamic",
            "dynamic: blocks allocated on first write; fixed: a flat file with a footer", "dynamic", "fixed");
    static final CreateOption BLOCK_SIZE = CreateOption.size("block_size", "2M",
            "block size of a dynamic or differencing image, a power of two from 4K to 256M");
    /** qemu-img's vpc option; its default there is off, here on (the size asked for is the size made). */
    static final CreateOption FORCE_SIZE = new CreateOption("force_size", CreateOption.Kind.FLAG, "on", List.of(),
            "on: the virtual size is the size asked for; off: rounded up to a whole CHS geometry, as qemu-img "
                    + "rounds it by default");

    public VhdFormat() {
        super("vhd", List.of("vhd", "avhd"),
                reads(WRITE, CREATE, CREATE_FIXED, DIFFERENCING, DISCARD, RESIZE),
                List.of(SUBFORMAT, BLOCK_SIZE, FORCE_SIZE));
    }

    /** qemu calls VHD "vpc" (Virtual PC); {@code -f vpc} and {@code -O vpc} work as in qemu-img. */
    @Override
    public List<String> aliases() {
        return List.of("vpc");
    }

    /**
     * 100 for a footer with a valid checksum at the end (512 or 511 bytes), 90 with a bad
     * checksum, 80 for only the copy at offset 0 (the end lost).
     */
    @Override
    public int probe(ProbeInput in) {
        if (in.directory()) {
            return 0;
        }
        Bytes tail = in.tail();
        int n = tail.size();
        if (n >= VhdFooter.SIZE && VhdFooter.hasCookie(tail, n - VhdFooter.SIZE)) {
            return checksumOk(tail.at(n - VhdFooter.SIZE), VhdFooter.SIZE) ? 100 : 90;
        }
        if (n >= VhdFooter.SHORT_SIZE && VhdFooter.hasCookie(tail, n - VhdFooter.SHORT_SIZE)) {
            return checksumOk(tail.at(n - VhdFooter.SHORT_SIZE), VhdFooter.SHORT_SIZE) ? 100 : 90;
        }
        Bytes head = in.head();
        return head.size() >= VhdFooter.SIZE && VhdFooter.hasCookie(head, 0) ? 80 : 0;
    }

    private static boolean checksumOk(Bytes footer, int length) {
        return VhdFooter.checksum(footer, length, VhdFooter.CHECKSUM_OFFSET) == footer.u32be(VhdFooter.CHECKSUM_OFFSET);
    }

    /** Dynamic and differencing images: zero (or parent-equal) blocks freed, blocks packed, footer moved. */
    @Override
    public java.util.Optional<org.vdmount.vd.compact.ImageCompactor> compactor() {
        return java.util.Optional.of(new VhdCompact());
    }

    @Override
    public java.util.Optional<org.vdmount.vd.check.ImageChecker> checker() {
        return java.util.Optional.of(new VhdCheck());
    }

    @Override
    public Image open(Path path, OpenOptions options) throws IOException {
        return StorageScope.open(path, options, storage -> {
            VhdLayout layout = VhdLayout.load(storage, options);
            return layout.footer().fixed() ? new FixedVhdImage(this, storage, layout)
                    : new DynamicVhdImage(this, storage, layout);
        });
    }

    /** The footer (and the BAT of a dynamic image) for the new size; see {@link VhdResize}. */
    @Override
    public void resize(Image image, long newSize) throws IOException {
        VhdResize.resize(image.storage(), newSize);
    }

    @Override
    public Image createImage(Path path, CreateOptions options) throws IOException {
        VhdCreator.create(path, options);
        return open(path, OpenOptions.defaultReadWrite());
    }
}
