package org.vdmount.vd.format.vhd;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import org.vdmount.vd.Bytes;
import org.vdmount.vd.CorruptImageException;
import org.vdmount.vd.OpenOptions;
import org.vdmount.vd.VdException;
import org.vdmount.vd.check.CheckReport;
import org.vdmount.vd.check.ImageChecker;
import org.vdmount.vd.check.Repair;
import org.vdmount.vd.storage.FileStorage;
import org.vdmount.vd.storage.Storage;

/**
 * {@code vd check} for VHD (Virtual Hard Disk Image Format Specification; the checks of
 * VirtualBox's vhdRepair): everything an open validates ({@link VhdLayout#load}: footer and
 * dynamic header checksums, BAT inside the file, blocks inside the data area and clear of the
 * metadata and of each other, parent locators inside the file), plus the footer copy at offset 0
 * of a dynamic image, which must equal the footer at the end. A geometry that disagrees with the
 * current size is a note. VHD has no reference counts, so there are no leaks to report.
 *
 * <p>{@code -r all} repairs what VirtualBox's repair does and no data depends on: a missing or
 * damaged footer (at the end, or its copy at 0) from the other, intact one, and a dynamic header
 * whose fields validate but whose checksum is wrong (the checksum is recomputed). A damaged BAT is
 * left alone: which block is right cannot be proved.
 */
final class VhdCheck implements ImageChecker {

    @Override
    public CheckReport check(Path path, Repair repair) throws IOException {
        try (Storage st = FileStorage.open(path, repair == Repair.NONE)) {
            Examined before = examine(st);
            if (repair != Repair.ALL || before.report.corruptions() == 0) {
                if (repair == Repair.LEAKS && before.report.corruptions() > 0) {
                    before.report.note("vhd: -r leaks repairs nothing in a VHD (it has no reference counts); "
                            + "-r all repairs footers and header checksums");
                }
                return before.report;
            }
            if (!repairFooters(st, before) & !repairHeaderChecksum(st, before)) {
                before.report.note("vhd: not repaired: no intact footer or header to restore from");
                return before.report;
            }
            st.force();
            Examined after = examine(st);
            after.report.repairedFrom(before.report);
            return after.report;
        }
    }

    /** What a check found, with the raw structures a repair needs. */
    private record Examined(CheckReport report, VhdLayout layout, byte[] tail, long tailOffset, byte[] copy,
                            boolean tailOk, boolean copyOk, boolean headerSumBad) {
    }

    private static Examined examine(Storage st) throws IOException {
        CheckReport report = new CheckReport();
        Path file = st.path();
        long size = st.size();
        List<String> warnings = new ArrayList<>();
        OpenOptions options = OpenOptions.defaultReadOnly().withWarnings(warnings::add);

        long tailOffset = Math.max(0, size - VhdFooter.SIZE);
        byte[] tail = read(st, tailOffset, (int) Math.min(size, VhdFooter.SIZE));
        byte[] copy = read(st, 0, (int) Math.min(size, VhdFooter.SIZE));
        boolean tailOk = validFooter(tail);
        boolean copyOk = validFooter(copy);

        VhdLayout layout = null;
        try {
            layout = VhdLayout.load(st, options);
        } catch (CorruptImageException e) {
            report.corruption("vhd", -1, VdException.oneLine(e.getMessage())); // the message names the offset
        }
        boolean headerSumBad = false;
        for (String w : warnings) {
            if (w.contains("dynamic header checksum mismatch")) {
                headerSumBad = true;
                report.corruption("dynamic header", layout == null ? -1 : layout.footer().dataOffsetBytes(), w);
            } else if (w.contains("footer checksum mismatch")) {
                continue; // reported from the footers' bytes below
            } else if (w.contains("parent locator")) {
                report.corruption("parent locator", -1, w);
            } else {
                report.note(w);
            }
        }
        boolean tailPresent = tail.length == VhdFooter.SIZE && VhdFooter.hasCookie(Bytes.of(tail), 0);
        if (tailPresent && !tailOk) {
            report.corruption("footer", tailOffset, "vhd: the footer at the end of " + file
                    + " is damaged (checksum mismatch)");
        }
        boolean fixedImage = tailOk ? footerType(tail) == VhdFooter.TYPE_FIXED
                : layout != null && layout.footer().fixed();
        if (!fixedImage && !tailPresent && copyOk) {
            report.corruption("footer", tailOffset, "vhd: no footer at the end of " + file
                    + " (only the copy at offset 0)");
        } else if (!fixedImage && tailOk && !Arrays.equals(copy, tail)) {
            report.corruption("footer copy", 0, "vhd: the footer copy at offset 0 of " + file
                    + (copyOk ? " differs from the footer at the end" : " is damaged"));
        }
        if (layout != null && !layout.footer().fixed()) {
            long used = Arrays.stream(layout.bat()).filter(e -> (e & 0xFFFF_FFFFL) != VhdDynamicHeader.UNUSED_BAT_ENTRY)
                    .count();
            report.statistics(layout.blockCount(), used, -1, -1, size);
        }
        return new Examined(report, layout, tail, tailOffset, copy, tailOk, copyOk, headerSumBad);
    }

    /** A dynamic image's footers: the intact one is written over the damaged or missing one. */
    private static boolean repairFooters(Storage st, Examined e) throws IOException {
        boolean fixedImage = e.layout != null ? e.layout.footer().fixed() : e.tailOk && footerType(e.tail) == 2;
        if (fixedImage) {
            return false; // the only footer is at the end: nothing to restore it from
        }
        if (e.tailOk && !e.copyOk || e.tailOk && e.copyOk && !Arrays.equals(e.tail, e.copy)) {
            st.write(ByteBuffer.wrap(e.tail), 0); // the footer at the end is the one in use (spec 3.1)
            return true;
        }
        if (!e.tailOk && e.copyOk) {
            long size = st.size();
            // a damaged footer at the end is overwritten; a lost one is appended after the data
            long at = VhdFooter.hasCookie(Bytes.of(e.tail), 0) ? e.tailOffset
                    : (size + VhdGeometry.SECTOR - 1) & -VhdGeometry.SECTOR;
            st.write(ByteBuffer.wrap(e.copy), at);
            return true;
        }
        return false;
    }

    /** A dynamic header whose fields passed every check but whose checksum is wrong: recomputed. */
    private static boolean repairHeaderChecksum(Storage st, Examined e) throws IOException {
        if (!e.headerSumBad || e.layout == null) {
            return false;
        }
        long at = e.layout.footer().dataOffsetBytes();
        byte[] h = read(st, at, VhdDynamicHeader.SIZE);
        Bytes b = Bytes.of(h);
        b.put32be(VhdDynamicHeader.CHECKSUM_OFFSET, VhdFooter.checksum(b, VhdDynamicHeader.SIZE,
                VhdDynamicHeader.CHECKSUM_OFFSET));
        st.write(ByteBuffer.wrap(h), at);
        return true;
    }

    private static boolean validFooter(byte[] f) {
        if (f.length < VhdFooter.SIZE) {
            return false;
        }
        Bytes b = Bytes.of(f);
        return VhdFooter.hasCookie(b, 0)
                && VhdFooter.checksum(b, VhdFooter.SIZE, VhdFooter.CHECKSUM_OFFSET) == b.u32be(VhdFooter.CHECKSUM_OFFSET);
    }

    private static long footerType(byte[] f) {
        return Bytes.of(f).u32be(0x3C);
    }

    private static byte[] read(Storage st, long at, int length) throws IOException {
        ByteBuffer b = ByteBuffer.allocate(Math.max(0, length));
        st.readFully(b, at, VhdLayout.FMT, "check");
        return b.array();
    }
}
