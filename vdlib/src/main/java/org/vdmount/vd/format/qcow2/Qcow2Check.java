package org.vdmount.vd.format.qcow2;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.file.Path;
import java.util.List;
import org.vdmount.vd.Bytes;
import org.vdmount.vd.VdException;
import org.vdmount.vd.check.CheckReport;
import org.vdmount.vd.check.ImageChecker;
import org.vdmount.vd.check.Repair;
import org.vdmount.vd.storage.FileStorage;
import org.vdmount.vd.storage.Storage;

/**
 * {@code vd check} for qcow2 (qcow2.txt "Host cluster management"): every host cluster's refcount
 * on disk against the references the metadata makes ({@link ClusterCensus}: header, L1/L2 tables
 * of the active image and of every snapshot, data and compressed clusters, snapshot table,
 * bitmaps) plus the refcount table and blocks themselves. A refcount below the references is a
 * corruption (the cluster could be handed out again while in use), one above them a leak, as
 * {@code qemu-img check} counts them. Metadata the census refuses (a cluster used twice, an
 * offset past the end, reserved bits) is a corruption no repair here touches.
 *
 * <p>Repair rebuilds the refcount structure from the census ({@link RefcountRebuild}: new table
 * and blocks past the end of the file, then the header switches): it only lowers counts of
 * clusters nothing references and raises those of clusters in use, so no data is dropped.
 * {@link Repair#LEAKS} does it only when the refcounts show no corruption.
 */
final class Qcow2Check implements ImageChecker {

    @Override
    public CheckReport check(Path path, Repair repair) throws IOException {
        CheckReport before;
        try (Storage storage = FileStorage.open(path, repair == Repair.NONE)) {
            Loaded l = load(storage);
            before = examine(storage, l);
            boolean fixable = before.findings().stream().allMatch(f -> f.structure().equals("refcount"));
            boolean wanted = repair == Repair.ALL && (before.corruptions() > 0 || before.leaks() > 0)
                    || repair == Repair.LEAKS && before.leaks() > 0 && before.corruptions() == 0;
            if (repair == Repair.NONE || !wanted) {
                if (repair == Repair.LEAKS && before.corruptions() > 0 && before.leaks() > 0) {
                    before.note("leaks not repaired: the image has corruptions (repair them with -r all)");
                }
                return before;
            }
            if (!fixable) {
                before.note("not repaired: damaged metadata (not only refcounts) cannot be repaired safely");
                return before;
            }
            RefcountRebuild.run(storage, l.header, l.ext, l.snapshots);
            storage.force();
            CheckReport after = examine(storage, load(storage));
            after.repairedFrom(before);
            return after;
        }
    }

    /** The header, its extensions and the snapshot table, validated as an open validates them. */
    private record Loaded(Qcow2Header header, HeaderExtensions ext, List<Qcow2Snapshot> snapshots) {
    }

    private static Loaded load(Storage storage) throws IOException {
        Path path = storage.path();
        long fileSize = storage.size();
        ByteBuffer head = ByteBuffer.allocate((int) Math.min(fileSize, 4096));
        storage.read(head, 0);
        head.flip();
        if (head.remaining() < Qcow2Header.SIZE_V2) {
            throw new VdException("qcow2: " + path + " is too small for a qcow2 header (" + fileSize + " bytes)");
        }
        Qcow2Header h = Qcow2Header.parse(Bytes.of(head), path);
        h.validate(path, fileSize, null);
        int firstLen = (int) Math.min(fileSize, h.clusterSize());
        ByteBuffer first = ByteBuffer.allocate(firstLen);
        storage.readFully(first, 0, "qcow2", "header cluster");
        int extLimit = h.backingFileOffset() > 0 && h.backingFileOffset() < firstLen
                ? (int) h.backingFileOffset() : firstLen;
        HeaderExtensions ext = HeaderExtensions.parse(Bytes.of(first.array()), h.headerEnd(), extLimit, path);
        h.validate(path, fileSize, ext);
        List<Qcow2Snapshot> snaps = Qcow2Snapshot.readTable(storage, h.snapshotsOffset(), h.nbSnapshots(), fileSize);
        return new Loaded(h, ext, snaps);
    }

    private static CheckReport examine(Storage storage, Loaded l) throws IOException {
        CheckReport report = new CheckReport();
        Qcow2Header h = l.header;
        if (h.dirty()) {
            report.note("the image is marked dirty (not closed cleanly): its refcounts may be stale");
        }
        if (h.corrupt()) {
            report.note("the image is marked corrupt");
        }
        ClusterCensus census;
        try {
            census = ClusterCensus.take(storage, h, l.ext, l.snapshots);
        } catch (org.vdmount.vd.CorruptImageException e) {
            report.corruption("metadata", -1, VdException.oneLine(e.getMessage()));
            return report;
        }
        long end = new RefcountComparison(storage, h, census, report).run();
        statistics(storage, h, report, end);
        return report;
    }

    /** Allocated, fragmented and compressed guest clusters of the active image, as qemu-img counts them. */
    private static void statistics(Storage storage, Qcow2Header h, CheckReport report, long end) throws IOException {
        long cs = h.clusterSize();
        long total = (h.virtualSizeBytes() + cs - 1) / cs;
        int entryBytes = h.extendedL2() ? 16 : 8;
        int perL2 = (int) (cs / entryBytes);
        long allocated = 0;
        long fragmented = 0;
        long compressed = 0;
        long previous = -1;
        ByteBuffer l1Buf = ByteBuffer.allocate((int) h.l1Size() * 8);
        storage.readFully(l1Buf, h.l1TableOffset(), "qcow2", "L1 table");
        Bytes l1 = Bytes.of(l1Buf.array());
        ByteBuffer l2Buf = ByteBuffer.allocate((int) cs);
        Bytes l2 = Bytes.of(l2Buf.array());
        long fileSize = storage.size();
        for (int i = 0; i < h.l1Size(); i++) {
            long t = l1.u64be(i * 8) & Qcow2Image.OFFSET_MASK;
            if (t == 0 || t > fileSize - cs) {
                continue;
            }
            l2Buf.clear();
            storage.readFully(l2Buf, t, "qcow2", "L2 table");
            for (int j = 0; j < perL2; j++) {
                long e = l2.u64be(j * entryBytes);
                if ((e & Qcow2Image.COMPRESSED) != 0) {
                    allocated++;
                    compressed++;
                    previous = -1;
                } else if ((e & Qcow2Image.OFFSET_MASK) != 0) {
                    long host = e & Qcow2Image.OFFSET_MASK;
                    allocated++;
                    if (previous >= 0 && host != previous + cs) {
                        fragmented++;
                    }
                    previous = host;
                }
            }
        }
        report.statistics(total, allocated, fragmented, compressed, end);
    }
}
