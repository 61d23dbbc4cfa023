package org.vdmount.vd.format.vhd;

import java.nio.ByteOrder;
import java.nio.file.Path;
import java.util.List;
import org.vdmount.vd.Bytes;
import org.vdmount.vd.conformance.FixtureBase;
import org.vdmount.vd.conformance.Oracle;
import org.vdmount.vd.conformance.Region;
import org.vdmount.vd.conformance.Regions;
import org.vdmount.vd.conformance.Variant;

/** VHD for the conformance kit: dynamic images of 128 KiB and 4 KiB blocks, and fixed ones. */
public class VhdFixture extends FixtureBase {
    public VhdFixture() {
        super("vhd", ByteOrder.BIG_ENDIAN, false);
    }

    @Override
    public List<Variant> variants() {
        return List.of(Variant.of("dynamic-128k", "block_size=128K").children("block_size=128K"),
                Variant.of("dynamic-4k", "block_size=4K").children("block_size=4K"),
                Variant.fixed("fixed", "subformat=fixed").children("block_size=64K"));
    }

    /** The footer (and its copy, dynamic header, BAT, locators and first bitmaps of a dynamic image). */
    @Override
    public List<Region> regions(Path file, byte[] b) {
        Regions r = new Regions(b.length);
        r.add("footer", b.length - 512L, 512);
        r.add("footer size and type fields", b.length - 512L + 0x28, 0x18);
        if (b.length < 1536 || !VhdFooter.hasCookie(Bytes.of(b), 0)) {
            return r.list();
        }
        VhdDynamicHeader h = VhdDynamicHeader.parse(Bytes.of(b).at(512));
        long bat = h.tableOffsetBytes();
        long batLength = h.maxTableEntries() * 4;
        r.add("footer copy", 0, 512);
        r.add("dynamic header", 512, 1024);
        r.add("BAT", bat, batLength);
        r.add("parent locators", (bat + batLength + 511) & ~511L, 2048);
        int bitmaps = 0;
        for (long i = 0; i < h.maxTableEntries() && bitmaps < 3 && bat + 4 * i + 4 <= b.length; i++) {
            long sector = Bytes.of(b).u32be((int) (bat + 4 * i));
            if (sector != 0xFFFF_FFFFL) {
                r.add("sector bitmap of block " + i, sector * 512, 512);
                bitmaps++;
            }
        }
        r.add("whole file", 0, b.length);
        return r.list();
    }

    /** The footer at the end, and for a dynamic image its copy at 0 and the dynamic header. */
    @Override
    public void fixChecksums(byte[] b, int length) {
        if (length >= 512 && VhdFooter.hasCookie(Bytes.of(b), length - 512)) {
            Bytes f = Bytes.of(b).at(length - 512);
            f.put32be(VhdFooter.CHECKSUM_OFFSET, VhdFooter.checksum(f, 512, VhdFooter.CHECKSUM_OFFSET));
        }
        if (length >= 1536 && VhdFooter.hasCookie(Bytes.of(b), 0)) {
            Bytes f = Bytes.of(b);
            f.put32be(VhdFooter.CHECKSUM_OFFSET, VhdFooter.checksum(f, 512, VhdFooter.CHECKSUM_OFFSET));
            Bytes h = Bytes.of(b).at(512);
            h.put32be(VhdDynamicHeader.CHECKSUM_OFFSET, VhdFooter.checksum(h, 1024, VhdDynamicHeader.CHECKSUM_OFFSET));
        }
    }

    /**
     * QEMU's vpc driver reads dynamic and fixed images but has no check, and reads a differencing
     * image as if it were dynamic (wrong data). libvhdi (vhdimount 20210425) misreads partially
     * present blocks: after a set bit of the sector bitmap it takes the rest of that bitmap byte
     * from the child too (a 3-sector write shows sectors 3-7 of the child's zeros, not the
     * parent's bytes), so it cannot check chains with unaligned writes.
     */
    @Override
    public Oracle oracle(Variant variant, int layers) {
        return layers == 1 ? Oracle.qemuCompareOnly("vpc", "QEMU's vpc driver has no check")
                : Oracle.none("QEMU ignores a VHD's parent; vhdimount 20210425 misreads partially present blocks");
    }

    @Override
    public int mutationCases() {
        return 4500;
    }
}
