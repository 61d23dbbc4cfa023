package org.vdmount.vd.format.vmdk;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.BitSet;
import org.vdmount.vd.Bytes;
import org.vdmount.vd.VdException;
import org.vdmount.vd.check.CheckReport;
import org.vdmount.vd.check.ImageChecker;
import org.vdmount.vd.check.Repair;
import org.vdmount.vd.storage.FileStorage;
import org.vdmount.vd.storage.Storage;

/**
 * {@code vd check} for VMDK (VMware "Virtual Disk Format" 1.1/5.0, "Hosted Sparse Extents"; the
 * checks of QEMU's vmdk_co_check and VirtualBox's vmdkRepair): the descriptor parses, every extent
 * file exists with the size the descriptor gives, and per hosted sparse extent the header validates,
 * every grain directory entry names a grain table inside the file, the redundant directory's tables
 * hold the same entries as the primary's, and every grain entry names a whole grain inside the
 * file, after the metadata, grain-aligned, named once. COWD and seSparse extents are refused
 * (reported incomplete). {@code -r all} rewrites a redundant grain table that differs
 * from its primary, only when the extent has no other corruption: the primary, which reads use, is
 * never written, so a crash mid-repair leaves the data as it was (and the mismatch for the next run).
 * Stream-optimized extents get the checks of {@link #stream}; nothing is repaired in them.
 */
final class VmdkCheck implements ImageChecker {
    private long totalGrains;
    private long allocatedGrains;
    private long compressedGrains = -1;
    private int sparseExtents;
    private Repair repair = Repair.NONE;
    private boolean repaired;

    @Override
    public CheckReport check(Path path, Repair repair) throws IOException {
        this.repair = repair;
        CheckReport report = new CheckReport();
        try (Storage main = FileStorage.open(path, repair != Repair.ALL)) { // -r all may rewrite redundant tables
            long size = main.size();
            ByteBuffer head = ByteBuffer.allocate((int) Math.min(size, 512));
            main.read(head, 0);
            Bytes hb = Bytes.of(head.array());
            if (size >= 512 && SparseHeader.hasMagic(hb) && SparseHeader.parse(hb).capacitySectors() != 0) {
                sparse(main, report);
            } else if (size >= 512 && (CowdHeader.hasMagic(hb) || SeSparseHeader.hasMagic(hb))) {
                report.incomplete("vmdk: check is not supported for vmfsSparse/seSparse extents (" + path + ")");
            } else {
                descriptor(main, path, report);
            }
        }
        if (report.incompleteReason() == null && sparseExtents > 0) { // flat extents have no grains
            report.statistics(totalGrains, allocatedGrains, -1, compressedGrains, -1);
        }
        if (repaired) {
            CheckReport after = new VmdkCheck().check(path, Repair.NONE);
            after.repairedFrom(report);
            return after;
        }
        if (repair != Repair.NONE && (report.corruptions() > 0 || report.leaks() > 0)) {
            report.note("vmdk: nothing was changed (-r all only rewrites redundant grain tables from a primary"
                    + " directory and tables without other corruptions)");
        }
        return report;
    }

    /** A text descriptor, or one embedded in a sparse container: each extent file and its size. */
    private void descriptor(Storage main, Path path, CheckReport report) throws IOException {
        long size = main.size();
        String text;
        if (size >= 512 && SparseHeader.hasMagic(Bytes.of(readAt(main, 0, 512)))) {
            SparseHeader h = SparseHeader.parse(Bytes.of(readAt(main, 0, 512)));
            long off = h.descriptorOffset() * 512;
            long len = h.descriptorSectors() * 512;
            if (off <= 0 || len <= 0 || len > Descriptor.MAX_BYTES || off + len > size) {
                report.corruption("sparse header", 0x1C, "ERROR: capacity 0 and no embedded descriptor inside the file");
                return;
            }
            text = Descriptor.decode(readAt(main, off, (int) len), (int) len);
        } else if (size > Descriptor.MAX_BYTES) {
            report.corruption("descriptor", 0, "ERROR: neither a sparse extent nor a descriptor of at most "
                    + Descriptor.MAX_BYTES + " bytes");
            return;
        } else {
            text = Descriptor.decode(readAt(main, 0, (int) size), (int) size);
        }
        Descriptor d;
        try {
            d = Descriptor.parse(text, path.toString());
        } catch (VdException e) {
            report.corruption("descriptor", 0, "ERROR: " + VdException.oneLine(e.getMessage()));
            return;
        }
        Path dir = path.toAbsolutePath().normalize().getParent();
        int n = 0;
        for (ExtentLine line : d.extents()) {
            n++;
            if (line.type().equals("ZERO") || line.sectors() == 0 || line.access() == ExtentLine.Access.NOACCESS) {
                continue;
            }
            String name = line.fileName();
            if (name.contains("/") || name.contains("\\")) {
                report.note("vmdk: extent " + n + " (" + name + ") lies outside the descriptor's directory; not checked");
                continue;
            }
            Path f = dir.resolve(name);
            if (!Files.isRegularFile(f)) {
                report.corruption("descriptor", -1, "ERROR: extent " + n + " file " + f + " not found");
                continue;
            }
            switch (line.type()) {
                case "FLAT", "VMFS" -> {
                    long need = (line.offsetSectors() + line.sectors()) * 512;
                    long have = Files.size(f);
                    if (have < need) {
                        report.corruption("extent " + n, -1, "ERROR: flat extent " + f + " has " + have
                                + " bytes, the descriptor needs " + need);
                    }
                }
                case "SPARSE" -> {
                    try (Storage st = FileStorage.open(f, repair != Repair.ALL)) {
                        if (st.size() < 512 || !SparseHeader.hasMagic(Bytes.of(readAt(st, 0, 512)))) {
                            report.incomplete("vmdk: check is not supported for extent " + n + " (" + f
                                    + "): no hosted sparse (KDMV) extent");
                            return;
                        }
                        long cap = SparseHeader.parse(Bytes.of(readAt(st, 0, 512))).capacitySectors();
                        if (cap < line.sectors()) {
                            report.corruption("extent " + n, 0x0C, "ERROR: sparse extent " + f + " holds " + cap
                                    + " sectors, the descriptor says " + line.sectors());
                        }
                        sparse(st, report);
                    }
                }
                default -> {
                    report.incomplete("vmdk: check is not supported for " + line.type() + " extents (" + f + ")");
                    return;
                }
            }
            if (report.incompleteReason() != null) {
                return;
            }
        }
    }

    /** One hosted sparse extent: header, both directories, every grain table and grain entry. */
    private void sparse(Storage st, CheckReport report) throws IOException {
        long fileSize = st.size();
        SparseHeader raw = SparseHeader.parse(Bytes.of(readAt(st, 0, 512)));
        if (raw.gdOffset() == SparseHeader.GD_AT_END || raw.compressed() || raw.has(SparseHeader.FLAG_MARKERS)) {
            stream(st, report);
            return;
        }
        SparseHeader h;
        try {
            h = SparseHeader.read(st, fileSize);
        } catch (VdException e) {
            report.corruption("sparse header", 0, "ERROR: " + VdException.oneLine(e.getMessage()));
            return;
        }
        if (h.uncleanShutdown() != 0) {
            report.note("vmdk: " + st.path() + " was not closed cleanly (unclean shutdown flag at 0x48)");
        }
        int gtEntries = (int) h.gtEntries();
        long gtBytes = gtEntries * 4L;
        long grainSectors = h.grainSectors();
        long grainBytes = grainSectors * 512;
        long coverage = gtEntries * grainSectors;
        int gdCount = (int) ((h.capacitySectors() + coverage - 1) / coverage);
        long metaEnd = h.overheadSectors() * 512;
        sparseExtents++;
        totalGrains += (h.capacitySectors() + grainSectors - 1) / grainSectors;
        int[] gd = GrainMapExtent.readU32s(st, h.gdOffset() * 512, gdCount, "grain directory");
        int[] rgd = null;
        if (h.has(SparseHeader.FLAG_RGD) && h.rgdOffset() != 0) {
            if (h.rgdOffset() * 512 + gdCount * 4L > fileSize) {
                report.corruption("sparse header", 0x30, "ERROR: redundant grain directory at sector "
                        + h.rgdOffset() + " lies past the end of the file (" + fileSize + " bytes)");
            } else {
                rgd = GrainMapExtent.readU32s(st, h.rgdOffset() * 512, gdCount, "redundant grain directory");
            }
        }
        long corruptionsBefore = report.corruptions();
        java.util.Map<Long, int[]> stale = new java.util.LinkedHashMap<>(); // redundant table position -> primary
        BitSet used = new BitSet((int) Math.min(Integer.MAX_VALUE, fileSize / grainBytes + 1));
        // tables that do not overlap add up to at most the file twice (both copies): more means
        // directory entries naming the same tables again and again; stop rather than loop for hours
        long budget = 2 * fileSize;
        for (int i = 0; i < gdCount; i++) {
            budget -= (gd[i] != 0 ? gtBytes : 0) + (rgd != null && rgd[i] != 0 ? gtBytes : 0);
            if (budget < 0) {
                report.incomplete("vmdk: grain directory of " + st.path() + " names more grain tables than the file"
                        + " holds (entry " + i + "); tables overlap, check stopped");
                return;
            }
            long gdAt = h.gdOffset() * 512 + i * 4L;
            int[] primary = table(st, gd[i], gtBytes, gtEntries, fileSize, "grain directory", gdAt, i, report);
            int[] red = null;
            if (rgd != null) {
                red = table(st, rgd[i], gtBytes, gtEntries, fileSize, "redundant grain directory",
                        h.rgdOffset() * 512 + i * 4L, i, report);
                boolean emptyP = gd[i] == 0;
                boolean emptyR = rgd[i] == 0;
                if (emptyP != emptyR) {
                    report.corruption("redundant grain directory", h.rgdOffset() * 512 + i * 4L, "ERROR: grain tables vs"
                            + " redundant copy: entry " + i + " is " + (emptyP ? "empty" : "set") + " in the primary, "
                            + (emptyR ? "empty" : "set") + " in the redundant directory");
                }
            }
            if (primary == null) {
                continue;
            }
            long gtAt = Integer.toUnsignedLong(gd[i]) * 512;
            if (red != null) {
                for (int k = 0; k < gtEntries; k++) {
                    if (primary[k] != red[k]) {
                        report.corruption("redundant grain table " + i, Integer.toUnsignedLong(rgd[i]) * 512 + k * 4L,
                                "ERROR: grain tables vs redundant copy: entry " + k + " is "
                                        + Integer.toUnsignedLong(primary[k]) + " in the primary, "
                                        + Integer.toUnsignedLong(red[k]) + " in the redundant copy");
                        stale.put(Integer.toUnsignedLong(rgd[i]) * 512, primary);
                        break;
                    }
                }
            }
            for (int k = 0; k < gtEntries; k++) {
                long s = Integer.toUnsignedLong(primary[k]);
                if (s == 0 || s == 1 && h.zeroGrainEntries()) {
                    continue;
                }
                long at = gtAt + k * 4L;
                long grain = (long) i * gtEntries + k;
                long pos = s * 512;
                if (pos + grainBytes > fileSize) {
                    report.corruption("grain table " + i, at, "ERROR: grain " + grain + " (guest sector "
                            + grain * grainSectors + ") at sector " + s + " points past the end of the file ("
                            + fileSize + " bytes)"); // QEMU: "cluster offset for sector N points after EOF"
                } else if (pos < metaEnd) {
                    report.corruption("grain table " + i, at, "ERROR: grain " + grain + " at sector " + s
                            + " lies inside the metadata (first grain at sector " + h.overheadSectors() + ")");
                } else if (s % grainSectors != 0) {
                    report.corruption("grain table " + i, at, "ERROR: grain " + grain + " at sector " + s
                            + " is not grain-aligned (" + grainSectors + " sectors)");
                } else if (used.get((int) (s / grainSectors))) {
                    report.corruption("grain table " + i, at, "ERROR: grain " + grain + " at sector " + s
                            + " names a grain another entry names too");
                } else {
                    used.set((int) (s / grainSectors));
                    allocatedGrains++;
                }
            }
        }
        if (repair == Repair.ALL && !stale.isEmpty()) {
            if (report.corruptions() - corruptionsBefore > stale.size()) {
                report.note("vmdk: redundant grain tables of " + st.path() + " not rewritten: the primary directory"
                        + " or tables have corruptions of their own");
            } else {
                rewriteRedundant(st, stale, gtEntries);
                report.note("vmdk: " + stale.size() + " redundant grain table(s) of " + st.path()
                        + " rewritten from the primary");
            }
        }
    }

    /**
     * A stream-optimized (compressed) extent, VMware "Virtual Disk Format 5.0", "Stream-Optimized
     * Compressed Sparse Extents": the footer and its directory, every grain table inside the file,
     * and every grain: its marker inside the file after the metadata, the marker's LBA the grain's
     * own, its compressed size within bounds, no two grains overlapping, and its deflate data
     * inflating to the whole grain (QEMU's check stops at "points after EOF"; a bad grain here is
     * a read error later). Nothing is repaired: tables of a stream are written once, at its end.
     */
    private void stream(Storage st, CheckReport report) throws IOException {
        long fileSize = st.size();
        SparseHeader h;
        try {
            h = SparseHeader.read(st, fileSize);
        } catch (VdException e) {
            report.corruption("stream footer", -1, "ERROR: " + VdException.oneLine(e.getMessage()));
            return;
        }
        boolean markers = h.has(SparseHeader.FLAG_MARKERS);
        int gtEntries = (int) h.gtEntries();
        long gtBytes = gtEntries * 4L;
        long grainSectors = h.grainSectors();
        long grainBytes = grainSectors * 512;
        long coverage = gtEntries * grainSectors;
        long grains = (h.capacitySectors() + grainSectors - 1) / grainSectors;
        if (grains > Integer.MAX_VALUE) {
            report.incomplete("vmdk: " + st.path() + " has " + grains + " grains; check is limited to 2^31");
            return;
        }
        int gdCount = (int) ((h.capacitySectors() + coverage - 1) / coverage);
        long metaEnd = h.overheadSectors() * 512;
        sparseExtents++;
        totalGrains += grains;
        if (h.gdOffset() * 512 + gdCount * 4L > fileSize) {
            report.corruption("stream footer", -1, "ERROR: grain directory at sector " + h.gdOffset()
                    + " (" + gdCount + " entries) lies past the end of the file (" + fileSize + " bytes)");
            return;
        }
        int[] gd = GrainMapExtent.readU32s(st, h.gdOffset() * 512, gdCount, "grain directory");
        // (sector << 31 | grain) of every allocated grain: at most one per marker head in the file
        long limit = fileSize / Marker.GRAIN_HEADER + 1;
        long[] found = new long[(int) Math.min(1024, limit)];
        int n = 0;
        long budget = fileSize; // grain tables of a stream never overlap: more than the file means a loop
        for (int i = 0; i < gdCount; i++) {
            budget -= gd[i] != 0 ? gtBytes : 0;
            if (budget < 0) {
                report.incomplete("vmdk: grain directory of " + st.path() + " names more grain tables than the file"
                        + " holds (entry " + i + "); tables overlap, check stopped");
                return;
            }
            int[] table = table(st, gd[i], gtBytes, gtEntries, fileSize, "grain directory",
                    h.gdOffset() * 512 + i * 4L, i, report);
            if (table == null) {
                continue;
            }
            long gtAt = Integer.toUnsignedLong(gd[i]) * 512;
            for (int k = 0; k < gtEntries; k++) {
                long s = Integer.toUnsignedLong(table[k]);
                long grain = (long) i * gtEntries + k;
                if (s == 0 || s == 1 && h.zeroGrainEntries() || grain >= grains) {
                    continue;
                }
                long pos = s * 512;
                if (pos < metaEnd) {
                    report.corruption("grain table " + i, gtAt + k * 4L, "ERROR: grain " + grain + " at sector " + s
                            + " lies inside the metadata (first grain at sector " + h.overheadSectors() + ")");
                } else if (pos + Marker.GRAIN_HEADER > fileSize) {
                    report.corruption("grain table " + i, gtAt + k * 4L, "ERROR: grain " + grain + " (guest sector "
                            + grain * grainSectors + ") at sector " + s + " points past the end of the file ("
                            + fileSize + " bytes)");
                } else if (n == limit) {
                    report.incomplete("vmdk: " + st.path() + " names more grains than the file can hold;"
                            + " check stopped at grain table " + i);
                    return;
                } else {
                    if (n == found.length) {
                        found = java.util.Arrays.copyOf(found, (int) Math.min(limit, 2L * n));
                    }
                    found[n++] = s << 31 | grain;
                }
            }
        }
        java.util.Arrays.sort(found, 0, n);
        CompressedGrains reader = new CompressedGrains(st, grainBytes, markers);
        ByteBuffer out = ByteBuffer.allocate((int) grainBytes);
        long prevEnd = 0;
        long prevGrain = -1;
        for (int j = 0; j < n; j++) {
            long pos = (found[j] >>> 31) * 512;
            long grain = found[j] & Integer.MAX_VALUE;
            String where = "grain " + grain + " (guest sector " + grain * grainSectors + ")";
            if (pos < prevEnd) {
                report.corruption("grain marker", pos, "ERROR: " + where + " at sector " + pos / 512
                        + " overlaps grain " + prevGrain);
                continue;
            }
            if (markers) {
                ByteBuffer head = ByteBuffer.allocate(Marker.GRAIN_HEADER);
                st.readFully(head, pos, "vmdk", "grain marker of grain " + grain);
                Bytes m = Bytes.of(head.array());
                long lba = m.u64le(0x00);
                long size = m.u32le(0x08);
                if (lba != grain * grainSectors) {
                    report.corruption("grain marker", pos, "ERROR: " + where + " has a marker for sector " + lba);
                    continue;
                }
                if (size == 0 || size > reader.maxCompressedBytes() || pos + Marker.GRAIN_HEADER + size > fileSize) {
                    report.corruption("grain marker", pos + 8, "ERROR: " + where + " has compressed size " + size
                            + " (limit " + reader.maxCompressedBytes() + ", file size " + fileSize + ")");
                    continue;
                }
                prevEnd = pos + Marker.GRAIN_HEADER + size;
            } else {
                prevEnd = pos + 1;
            }
            prevGrain = grain;
            out.clear().limit((int) Math.min(grainBytes, (h.capacitySectors() - grain * grainSectors) * 512));
            try {
                reader.read(pos, grain, 0, out);
            } catch (VdException e) {
                report.corruption("compressed grain", pos, "ERROR: " + where + ": "
                        + VdException.oneLine(e.getMessage()));
            }
        }
        allocatedGrains += n;
        compressedGrains = Math.max(0, compressedGrains) + n;
    }

    /** -r all: the redundant copies take the primary tables' entries (the primary, which reads use, is untouched). */
    private void rewriteRedundant(Storage st, java.util.Map<Long, int[]> stale, int gtEntries) throws IOException {
        for (var e : stale.entrySet()) {
            byte[] raw = new byte[gtEntries * 4];
            Bytes b = Bytes.of(raw);
            for (int k = 0; k < gtEntries; k++) {
                b.put32le(k * 4, Integer.toUnsignedLong(e.getValue()[k]));
            }
            st.write(ByteBuffer.wrap(raw), e.getKey());
        }
        st.force();
        repaired = true;
    }

    /** The grain table a directory entry names, or null if none or it lies outside the file. */
    private static int[] table(Storage st, int entry, long gtBytes, int gtEntries, long fileSize, String dirName,
                               long dirAt, int i, CheckReport report) throws IOException {
        long s = Integer.toUnsignedLong(entry);
        if (s == 0) {
            return null;
        }
        if (s * 512 + gtBytes > fileSize) {
            report.corruption(dirName, dirAt, "ERROR: entry " + i + " names a grain table at sector " + s
                    + " past the end of the file (" + fileSize + " bytes)");
            return null;
        }
        return GrainMapExtent.readU32s(st, s * 512, gtEntries, "grain table " + i);
    }

    private static byte[] readAt(Storage st, long pos, int len) throws IOException {
        ByteBuffer b = ByteBuffer.allocate(len);
        st.readFully(b, pos, "vmdk", "header");
        return b.array();
    }
}
