package org.vdmount.vd.format.vdi;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.file.Path;
import org.vdmount.vd.Bytes;
import org.vdmount.vd.CorruptImageException;
import org.vdmount.vd.FormatRegistry;
import org.vdmount.vd.Image;
import org.vdmount.vd.OpenOptions;
import org.vdmount.vd.VdException;
import org.vdmount.vd.check.CheckReport;
import org.vdmount.vd.check.ImageChecker;
import org.vdmount.vd.check.Repair;
import org.vdmount.vd.storage.FileStorage;
import org.vdmount.vd.storage.Storage;

/**
 * {@code vd check} for VDI (VDICore.h; the checks of VirtualBox's vdiRepair and QEMU's vdi_co_check):
 * the header as an open validates it, every block map entry that names a block must name one
 * inside the image's block count and inside the file, no block may be named twice, and the
 * header's allocated-block count must equal the entries that name blocks. {@code -r all} repairs a
 * stale count when it is the only finding (a crash between a block's write and the header's, or
 * after a discard): the image is opened writable, which rewrites the count from the block map
 * (VirtualBox's vdiRepair does the same), and checked again. A damaged block map is left alone:
 * which entry is right cannot be known.
 */
final class VdiCheck implements ImageChecker {

    @Override
    public CheckReport check(Path path, Repair repair) throws IOException {
        CheckReport report = new CheckReport();
        boolean reconcile = false;
        try (Storage storage = FileStorage.open(path, true)) {
            long fileSize = storage.size();
            if (fileSize < VdiHeader.PRE_HEADER_SIZE + 0x10) {
                throw new VdException("vdi: " + path + " is too small for a VDI header (" + fileSize + " bytes)");
            }
            ByteBuffer buf = ByteBuffer.allocate((int) Math.min(fileSize, VdiHeader.SIZE));
            storage.readFully(buf, 0, "vdi", "header");
            Bytes b = Bytes.of(buf.array());
            if (b.u32le(0x40) != VdiHeader.SIGNATURE) {
                throw new VdException("vdi: " + path + " has no VDI signature at 0x40");
            }
            long version = b.u32le(0x44);
            long cbHeader = version == VdiHeader.VERSION_0 ? 0 : b.u32le(0x48);
            if (buf.capacity() < VdiHeader.requiredSize(version, cbHeader)) {
                report.corruption("header", 0, "header truncated: the file has " + fileSize + " bytes");
                return report;
            }
            VdiHeader h = VdiHeader.parse(b);
            try {
                h.validate(path, fileSize);
            } catch (CorruptImageException e) {
                report.corruption("header", 0, "ERROR: " + VdException.oneLine(e.getMessage()));
                return report;
            }
            boolean countOnly = blockMap(storage, h, fileSize, report) && report.corruptions() == 1;
            if (repair == Repair.ALL && countOnly && !h.isV0()) {
                reconcile = true;
            } else if (repair != Repair.NONE && (report.corruptions() > 0 || report.leaks() > 0)) {
                report.note("vdi: " + (repair == Repair.ALL ? "only a stale allocated-block count is repaired here"
                        : "-r leaks repairs nothing in a VDI (a stale allocated-block count needs -r all)")
                        + "; nothing was changed");
            }
        }
        if (!reconcile) {
            return report;
        }
        // the repair VirtualBox's vdiRepair makes, and our writable open: the count from the block map
        try (Image img = FormatRegistry.require("vdi").open(path, OpenOptions.defaultReadWrite()
                .withWarnings(w -> { }))) {
            img.flush();
        }
        CheckReport after = check(path, Repair.NONE);
        after.repairedFrom(report);
        return after;
    }

    /** Checks the block map; returns whether it is sound (the header's count aside). */
    private static boolean blockMap(Storage storage, VdiHeader h, long fileSize, CheckReport report)
            throws IOException {
        long corruptBefore = report.corruptions();
        long blocks = h.blockCount();
        long mapOffset = h.blockMapOffsetBytes();
        long stride = h.strideBytes();
        int[] owner = new int[(int) blocks];           // 1 + the entry that names block i, 0 = none
        long named = 0;
        int chunk = 1 << 18;
        ByteBuffer buf = ByteBuffer.allocate(chunk * 4);
        Bytes m = Bytes.of(buf.array());
        for (long first = 0; first < blocks; first += chunk) {
            int n = (int) Math.min(chunk, blocks - first);
            buf.clear().limit(n * 4);
            storage.readFully(buf, mapOffset + first * 4, "vdi", "block map");
            for (int k = 0; k < n; k++) {
                long entry = m.u32le(k * 4);
                long i = first + k;
                if (!VdiBlockMap.isAllocated((int) entry)) {
                    continue;
                }
                long at = mapOffset + i * 4;
                if (entry >= blocks) {
                    report.corruption("block map", at, "ERROR: block index " + i + " too large, is " + entry);
                    continue;
                }
                named++;
                if (owner[(int) entry] != 0) {
                    report.corruption("block map", at, "ERROR: block index " + i + " also used by "
                            + (owner[(int) entry] - 1) + " (block " + entry + ")");
                    continue;
                }
                owner[(int) entry] = (int) i + 1;
                long end = h.dataOffsetBytes() + (entry + 1) * stride;
                if (end > fileSize) {
                    report.corruption("block map", at, "ERROR: block index " + i + " names block " + entry
                            + " ending at " + end + ", past the end of the file (" + fileSize + " bytes)");
                }
            }
        }
        if (named != h.allocatedBlocks()) {
            report.corruption("header", h.isV0() ? -1 : 0x184, "ERROR: allocated blocks mismatch, is "
                    + named + ", should be " + h.allocatedBlocks()); // QEMU's words: counted, then recorded
        }
        long total = (h.virtualSizeBytes() + h.blockSizeBytes() - 1) / h.blockSizeBytes();
        // no fragmentation or end offset, as qemu-img reports none for VDI
        report.statistics(total, named, -1, -1, -1);
        return report.corruptions() == corruptBefore + (named != h.allocatedBlocks() ? 1 : 0);
    }
}
