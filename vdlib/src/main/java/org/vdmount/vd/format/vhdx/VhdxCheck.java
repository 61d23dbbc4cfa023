package org.vdmount.vd.format.vhdx;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import org.vdmount.vd.CorruptImageException;
import org.vdmount.vd.Image;
import org.vdmount.vd.OpenOptions;
import org.vdmount.vd.VdException;
import org.vdmount.vd.check.CheckReport;
import org.vdmount.vd.check.ImageChecker;
import org.vdmount.vd.check.Repair;
import org.vdmount.vd.storage.FileStorage;
import org.vdmount.vd.storage.Storage;

/**
 * {@code vd check} for VHDX (MS-VHDX 2.2-2.6): both headers (signature, CRC-32C; the current one
 * by sequence number), the log (an unreplayed one is a corruption, as in {@code qemu-img check}),
 * both region tables (checksum, equal, BAT and metadata regions present), the metadata items (as
 * {@link VhdxMetadata#read} validates them) and every BAT entry: a present payload block, or a
 * present sector bitmap block of a differencing image, must be 1 MiB-aligned, past the header
 * section, clear of the log and the regions, inside the file and clear of every other block.
 * Leaked space is not looked for (leaks stay 0).
 *
 * <p>{@code -r all} replays the log through a writable open ({@link VhdxOpener}) and writes the
 * current header over a damaged non-current one. A damaged BAT is never touched.
 */
final class VhdxCheck implements ImageChecker {

    @Override
    public CheckReport check(Path path, Repair repair) throws IOException {
        Examined before;
        try (Storage st = FileStorage.open(path, true)) {
            before = examine(st);
        }
        if (repair != Repair.ALL || before.report.corruptions() == 0) {
            if (repair == Repair.LEAKS && before.report.corruptions() > 0) {
                before.report.note("vhdx: -r leaks repairs nothing in a VHDX; -r all replays the log and "
                        + "restores a damaged header");
            }
            return before.report;
        }
        boolean repaired = false;
        if (before.damagedSlot >= 0 && before.current != null) {
            try (Storage st = FileStorage.open(path, false)) {
                // both slots then hold the current header: equal sequence and contents are valid (2.2.2.1)
                st.write(ByteBuffer.wrap(before.current.write()), Headers.offset(before.damagedSlot));
                st.force();
            }
            repaired = true;
        }
        if (before.logPending) {
            try (Image im = new VhdxFormat().open(path, OpenOptions.defaultReadWrite())) {
                im.flush(); // the writable open replayed the log into the file
            } catch (VdException e) {
                before.report.note("vhdx: log not replayed: " + VdException.oneLine(e.getMessage()));
            }
            repaired = true;
        }
        if (!repaired) {
            before.report.note("vhdx: not repaired: only the log and a non-current header can be repaired");
            return before.report;
        }
        CheckReport after;
        try (Storage st = FileStorage.open(path, true)) {
            after = examine(st).report;
        }
        after.repairedFrom(before.report);
        return after;
    }

    /** What a check found, with what a repair needs. */
    private record Examined(CheckReport report, VhdxHeader current, int damagedSlot, boolean logPending) {
    }

    private static Examined examine(Storage st) throws IOException {
        CheckReport report = new CheckReport();
        Path path = st.path();
        VhdxFile file = new VhdxFile(st);
        long size = st.size();
        if (size < Vhdx.HEADER_SECTION_BYTES) {
            report.corruption("header section", 0, "vhdx: " + path + " is " + size
                    + " bytes, shorter than the 1 MiB header section");
            report.incomplete("truncated header section");
            return new Examined(report, null, -1, false);
        }
        // ---- headers (MS-VHDX 2.2.2)
        VhdxHeader[] h = new VhdxHeader[2];
        for (int slot = 0; slot < 2; slot++) {
            h[slot] = VhdxHeader.parse(file.read(Headers.offset(slot), VhdxHeader.SIZE, "header " + (slot + 1)));
        }
        if (h[0] == null && h[1] == null) {
            report.corruption("header", Vhdx.HEADER1_OFFSET, "vhdx: " + path
                    + ": neither header has a valid signature and checksum");
            report.incomplete("no valid header");
            return new Examined(report, null, -1, false);
        }
        int cur = h[1] == null || h[0] != null && Long.compareUnsigned(h[0].sequence(), h[1].sequence()) >= 0 ? 0 : 1;
        VhdxHeader current = h[cur];
        int damaged = h[1 - cur] == null ? 1 - cur : -1;
        if (damaged >= 0) {
            report.corruption("header " + (damaged + 1), Headers.offset(damaged), "vhdx: " + path + ": header "
                    + (damaged + 1) + " at " + Vhdx.hex(Headers.offset(damaged))
                    + " has a wrong signature or checksum (not the current one)");
        } else if (h[0].sequence() == h[1].sequence() && !h[0].equals(h[1])) {
            report.corruption("header", Vhdx.HEADER1_OFFSET, "vhdx: " + path + ": both headers have sequence "
                    + h[0].sequence() + " but differ");
        }
        // ---- log (MS-VHDX 2.3): entries not yet replayed
        boolean logPending = false;
        try {
            LogReplay.Result r = LogReplay.find(st, current);
            if (r != null) {
                logPending = true;
                report.corruption("log", current.logOffsetBytes(), "vhdx: " + path + ": the log holds "
                        + r.entries() + " unreplayed " + (r.entries() == 1 ? "entry" : "entries") + " ("
                        + r.ops().size() + " writes)");
                file.overlay(LogReplay.toOverlay(st, r), r.lastFileOffset()); // check what a reader sees
            }
        } catch (CorruptImageException e) {
            report.corruption("log", current.logOffsetBytes(), VdException.oneLine(e.getMessage()));
        }
        // ---- region tables (MS-VHDX 2.2.3)
        RegionTable[] t = new RegionTable[2];
        long[] tableAt = {Vhdx.REGION1_OFFSET, Vhdx.REGION2_OFFSET};
        for (int i = 0; i < 2; i++) {
            try {
                t[i] = RegionTable.parse(file.read(tableAt[i], RegionTable.SIZE, "region table"), path, tableAt[i]);
            } catch (CorruptImageException e) {
                report.corruption("region table " + (i + 1), tableAt[i], VdException.oneLine(e.getMessage()));
            }
        }
        if (t[0] != null && t[1] != null && !t[0].equals(t[1])) {
            report.corruption("region table 2", tableAt[1], "vhdx: " + path + ": the two region tables differ");
        }
        RegionTable table = t[0] != null ? t[0] : t[1];
        if (table == null) {
            report.incomplete("no valid region table");
            return new Examined(report, current, damaged, logPending);
        }
        List<long[]> used = new ArrayList<>(); // [start, end) of the header section, log and regions
        used.add(new long[] {0, Vhdx.HEADER_SECTION_BYTES});
        if (current.logLengthBytes() > 0) {
            used.add(new long[] {current.logOffsetBytes(), current.logOffsetBytes() + current.logLengthBytes()});
        }
        RegionTable.Entry batRegion = table.find(Vhdx.BAT_REGION);
        RegionTable.Entry metaRegion = table.find(Vhdx.METADATA_REGION);
        java.util.Set<java.util.UUID> seen = new java.util.HashSet<>();
        for (RegionTable.Entry e : table.entries()) {
            if (!seen.add(e.guid())) {
                report.corruption("region table", tableAt[t[0] != null ? 0 : 1], "vhdx: " + path + ": region "
                        + e.guid() + " appears twice");
            }
            String bad = badRange(e.fileOffsetBytes(), e.lengthBytes(), size, used);
            if (bad != null) {
                report.corruption("region table", tableAt[t[0] != null ? 0 : 1], "vhdx: " + path + ": region "
                        + e.guid() + " at " + Vhdx.hex(e.fileOffsetBytes()) + "+" + e.lengthBytes() + " " + bad);
            }
            used.add(new long[] {e.fileOffsetBytes(), e.end()});
        }
        if (batRegion == null || metaRegion == null) {
            report.corruption("region table", Vhdx.REGION1_OFFSET, "vhdx: " + path + ": no "
                    + (batRegion == null ? "BAT" : "metadata") + " region");
            report.incomplete("region missing");
            return new Examined(report, current, damaged, logPending);
        }
        // ---- metadata (MS-VHDX 2.6) and BAT (2.5)
        VhdxMetadata meta;
        Bat bat;
        try {
            meta = VhdxMetadata.read(file, metaRegion);
            bat = Bat.read(file, batRegion, meta);
        } catch (CorruptImageException e) {
            report.corruption("metadata or BAT", metaRegion.fileOffsetBytes(), VdException.oneLine(e.getMessage()));
            report.incomplete("metadata or BAT unreadable");
            return new Examined(report, current, damaged, logPending);
        }
        checkBat(report, path, bat, meta, size, used);
        return new Examined(report, current, damaged, logPending);
    }

    private static void checkBat(CheckReport report, Path path, Bat bat, VhdxMetadata meta, long size,
                                 List<long[]> used) {
        long present = 0;
        List<long[]> blocks = new ArrayList<>(); // [start, end, entry offset]
        for (long i = 0; i < bat.entryCount; i++) {
            long e = bat.get((int) i);
            int state = Bat.state(e);
            long at = bat.regionOffset + 8 * i;
            long len;
            if (bat.isBitmapIndex(i)) {
                if (state != Bat.SB_NOT_PRESENT && state != Bat.SB_PRESENT) {
                    report.corruption("BAT", at, "vhdx: " + path + ": sector bitmap entry " + i
                            + " has invalid state " + state);
                    continue;
                }
                if (state != Bat.SB_PRESENT || !meta.hasParent()) {
                    continue;
                }
                len = Vhdx.MIB;
            } else {
                if (state == 4 || state == Bat.PARTIALLY_PRESENT && !meta.hasParent()) {
                    report.corruption("BAT", at, "vhdx: " + path + ": payload entry " + i + " has state " + state
                            + ", invalid for a " + (meta.hasParent() ? "differencing" : "non-differencing") + " image");
                    continue;
                }
                if (state != Bat.FULLY_PRESENT && state != Bat.PARTIALLY_PRESENT) {
                    continue;
                }
                present++;
                len = bat.blockSize;
            }
            long off = Bat.offset(e);
            String bad = badRange(off, len, size, used);
            if (bad != null) {
                report.corruption("BAT", at, "vhdx: " + path + ": block of BAT entry " + i + " at "
                        + Vhdx.hex(off) + "+" + len + " " + bad);
            } else {
                blocks.add(new long[] {off, off + len, at});
            }
        }
        blocks.sort((a, b) -> Long.compare(a[0], b[0]));
        long[] prev = null;
        for (long[] b : blocks) {
            if (prev != null && b[0] < prev[1]) {
                report.corruption("BAT", b[2], "vhdx: " + path + ": the block at " + Vhdx.hex(b[0])
                        + " overlaps the block at " + Vhdx.hex(prev[0]) + " (entry at " + Vhdx.hex(prev[2]) + ")");
            }
            if (prev == null || b[1] > prev[1]) {
                prev = b;
            }
        }
        report.statistics(bat.dataBlocks, present, -1, -1, size);
    }

    /** Why [off, off+len) is no valid block or region range, or null if it is one. */
    private static String badRange(long off, long len, long size, List<long[]> used) {
        if (off % Vhdx.MIB != 0 || len <= 0 || len % Vhdx.MIB != 0 || off < Vhdx.HEADER_SECTION_BYTES
                || off > (1L << 60)) {
            return "is not a 1 MiB-aligned range after the header section";
        }
        if (off + len > size) {
            return "ends past the end of the file (" + size + " bytes)";
        }
        for (long[] u : used) {
            if (off < u[1] && off + len > u[0]) {
                return "overlaps the structure at " + Vhdx.hex(u[0]);
            }
        }
        return null;
    }
}
