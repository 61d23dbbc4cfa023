package org.vdmount.vd.format.qed;

import java.io.IOException;
import java.nio.file.Path;
import java.util.BitSet;
import org.vdmount.vd.Bytes;
import org.vdmount.vd.CorruptImageException;
import org.vdmount.vd.VdException;
import org.vdmount.vd.check.CheckReport;
import org.vdmount.vd.check.ImageChecker;
import org.vdmount.vd.check.Repair;
import org.vdmount.vd.storage.FileStorage;
import org.vdmount.vd.storage.Storage;

/**
 * {@code vd check} for QED (qed_spec.rst, "Consistency checking"; counted as QEMU's qed-check
 * counts, so the numbers agree with {@code qemu-img check}): every L1 entry must name a whole
 * table, and every L2 entry a cluster, cluster-aligned after the header and inside the file (a
 * corruption each); a cluster named twice is a corruption; a cluster of the file nothing names
 * is a leak. The need-check bit is a note.
 *
 * <p>The repair is the one a writable open makes ({@link QedCheck#repair}): invalid entries are
 * cleared (their data never reached the file), leaked clusters at the end are cut off. A cluster
 * named twice, or leaks in the middle of the file, are left (as QEMU leaves them).
 */
final class QedChecker implements ImageChecker {

    @Override
    public CheckReport check(Path path, Repair repair) throws IOException {
        try (Storage st = FileStorage.open(path, repair == Repair.NONE)) {
            QedHeader h = header(st);
            CheckReport before = scan(st, h);
            boolean wanted = repair == Repair.ALL && (before.corruptions() > 0 || before.leaks() > 0)
                    || repair == Repair.LEAKS && before.leaks() > 0 && before.corruptions() == 0;
            if (!wanted) {
                if (repair == Repair.LEAKS && before.corruptions() > 0) {
                    before.note("qed: leaks not repaired: the image has corruptions (repair them with -r all)");
                }
                return before;
            }
            long[] l1 = QedImage.readTable(st, h.l1TableOffset(), h.tableEntries());
            try {
                QedCheck.repair(st, h, l1);
            } catch (CorruptImageException e) {
                before.note("qed: not repaired: " + VdException.oneLine(e.getMessage()));
                return before;
            }
            st.force();
            if ((h.features() & QedHeader.F_NEED_CHECK) != 0) {
                QedCheck.writeFeatures(st, h.features() & ~QedHeader.F_NEED_CHECK);
            }
            CheckReport after = scan(st, header(st));
            after.repairedFrom(before);
            if (after.leaks() > 0) {
                after.note("qed: leaked clusters before the last one in use stay (QED cannot give them back)");
            }
            return after;
        }
    }

    private static QedHeader header(Storage st) throws IOException {
        Bytes head = st.readPrefix(QedHeader.SIZE);
        if (head.size() < QedHeader.SIZE) {
            throw new VdException("qed: " + st.path() + " is too small for a QED header (" + st.size() + " bytes)");
        }
        QedHeader h = QedHeader.parse(head, st.path());
        h.validate(st.path(), st.size());
        return h;
    }

    private static CheckReport scan(Storage st, QedHeader h) throws IOException {
        CheckReport report = new CheckReport();
        long cs = h.clusterSizeBytes();
        long fileSize = st.size();
        long clusters = (fileSize + cs - 1) / cs;
        if (clusters > Integer.MAX_VALUE) {
            report.incomplete("qed: " + st.path() + " has too many clusters to check");
            return report;
        }
        BitSet used = new BitSet((int) clusters);
        long headerEnd = h.headerSizeClusters() * cs;
        long tableBytes = h.tableBytes();
        mark(report, used, 0, headerEnd, cs, "header", 0);
        mark(report, used, h.l1TableOffset(), tableBytes, cs, "L1 table", h.l1TableOffset());
        long[] l1 = QedImage.readTable(st, h.l1TableOffset(), h.tableEntries());
        long allocated = 0;
        long fragmented = 0;
        for (int i = 0; i < l1.length; i++) {
            long t = l1[i];
            if (t == 0) {
                continue;
            }
            long at = h.l1TableOffset() + i * 8L;
            if (!validCluster(t, cs, headerEnd, fileSize) || !validCluster(t + tableBytes - 1, 1, headerEnd, fileSize)) {
                report.corruption("L1 table", at, "ERROR: invalid L2 table offset 0x" + Long.toHexString(t)
                        + " in L1 entry " + i);
                continue;
            }
            if (!mark(report, used, t, tableBytes, cs, "L1 table", at)) {
                continue;
            }
            long[] table = QedImage.readTable(st, t, h.tableEntries());
            long last = 0;
            for (int k = 0; k < table.length; k++) {
                long e = table[k];
                if (e <= QedImage.ZERO_CLUSTER) {
                    continue;
                }
                allocated++;
                if (last != 0 && last + cs != e) {
                    fragmented++;
                }
                last = e;
                long entryAt = t + k * 8L;
                if (!validCluster(e, cs, headerEnd, fileSize)) {
                    report.corruption("L2 table", entryAt, "ERROR: invalid cluster offset 0x" + Long.toHexString(e)
                            + " in L2 entry " + k + " of the table at 0x" + Long.toHexString(t));
                    continue;
                }
                mark(report, used, e, cs, cs, "L2 table", entryAt);
            }
        }
        for (long c = headerEnd / cs; c < clusters; c++) {
            if (!used.get((int) c)) {
                report.leak("cluster", c * cs, "Leaked cluster at 0x" + Long.toHexString(c * cs));
            }
        }
        if ((h.features() & QedHeader.F_NEED_CHECK) != 0) {
            report.note("qed: the need-check bit is set (the image was not closed cleanly)");
        }
        long total = (h.imageSizeBytes() + cs - 1) / cs;
        report.statistics(total, allocated, fragmented, -1, -1); // qemu-img reports no end offset for QED
        return report;
    }

    /** qed_check_cluster_offset: aligned, after the header, inside the file. */
    private static boolean validCluster(long offset, long align, long headerEnd, long fileSize) {
        return (offset & (align - 1)) == 0 && offset >= headerEnd && offset < fileSize;
    }

    /** Marks clusters used; a cluster already used is a corruption (returns false then). */
    private static boolean mark(CheckReport report, BitSet used, long offset, long bytes, long cs, String structure,
                                long at) {
        boolean ok = true;
        for (long c = offset / cs; c < (offset + bytes + cs - 1) / cs; c++) {
            if (c >= Integer.MAX_VALUE) {
                break;
            }
            if (used.get((int) c)) {
                report.corruption(structure, at, "ERROR: cluster 0x" + Long.toHexString(c * cs)
                        + " is referenced twice");
                ok = false;
            }
            used.set((int) c);
        }
        return ok;
    }
}
