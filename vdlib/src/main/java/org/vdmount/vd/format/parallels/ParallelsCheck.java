package org.vdmount.vd.format.parallels;

import java.io.IOException;
import java.nio.file.Path;
import java.util.BitSet;
import org.vdmount.vd.Bytes;
import org.vdmount.vd.Image;
import org.vdmount.vd.OpenOptions;
import org.vdmount.vd.VdException;
import org.vdmount.vd.check.CheckReport;
import org.vdmount.vd.check.ImageChecker;
import org.vdmount.vd.check.Repair;
import org.vdmount.vd.storage.FileStorage;
import org.vdmount.vd.storage.Storage;

/**
 * {@code vd check} for a Parallels image file, counted as {@code qemu-img check -f parallels}
 * counts (block/parallels.c's checks, parallels.txt's rules): the in-use flag left set is a
 * corruption, so is each BAT entry outside the file, off the data area's cluster grid, or sharing a
 * cluster with an earlier entry; the file's bytes after the last cluster in use are leaked clusters.
 *
 * <p>The repair ({@code -r all}) is the one a writable open makes after a crash: entries outside
 * the file or off the grid are cleared (their data never reached the file), the in-use flag is
 * cleared; {@code -r leaks} (and {@code -r all}) cut the file after the last cluster in use.
 * Clusters shared by two entries are left (which one holds the data is unknowable).
 */
final class ParallelsCheck implements ImageChecker {
    private final ParallelsFormat format;

    ParallelsCheck(ParallelsFormat format) {
        this.format = format;
    }

    /** A bundle (directory or descriptor) is checked by the image file of its top snapshot. */
    @Override
    public CheckReport check(Path path, Repair repair) throws IOException {
        if (Bundle.descriptorOf(path) != null) {
            Path file;
            String variant;
            try (Image top = format.open(path, OpenOptions.defaultReadOnly())) {
                file = top.storage().path();
                variant = top.variant();
            }
            if (!variant.equals("expanding")) {
                CheckReport r = new CheckReport();
                r.note("parallels: the top snapshot of " + path + " is " + variant + "; only expanding image files"
                        + " have structures to check");
                return r;
            }
            return checkFile(file, repair);
        }
        return checkFile(path, repair);
    }

    private CheckReport checkFile(Path path, Repair repair) throws IOException {
        try (Storage st = FileStorage.open(path, repair == Repair.NONE)) {
            ParallelsHeader h = header(st);
            CheckReport before = scan(st, h);
            boolean fixCorruptions = repair == Repair.ALL && before.corruptions() > 0;
            boolean fixLeaks = repair != Repair.NONE && before.leaks() > 0
                    && (repair == Repair.ALL || before.corruptions() == 0);
            if (repair == Repair.LEAKS && before.leaks() > 0 && before.corruptions() > 0) {
                before.note("parallels: leaks not repaired: the image has corruptions (repair them with -r all)");
            }
            if (!fixCorruptions && !fixLeaks) {
                return before;
            }
            Bat bat = Bat.read(st, h);
            long fileSize = st.size();
            if (fixCorruptions) {
                for (int i = 0; i < bat.length(); i++) {
                    long host = bat.host(i);
                    if (host != 0 && !h.validCluster(host, fileSize)) {
                        bat.store(st, i, 0);
                    }
                }
                st.force();
            }
            if (fixLeaks) {
                long end = dataEnd(h, bat, fileSize);
                if (fileSize > end) {
                    st.truncate(end);
                }
            }
            if (fixCorruptions && h.inUseSet()) {
                st.write(Bytes.allocate(4).buffer(), ParallelsHeader.OFF_IN_USE);
            }
            st.force();
            CheckReport after = scan(st, header(st));
            after.repairedFrom(before);
            return after;
        }
    }

    private static ParallelsHeader header(Storage st) throws IOException {
        Bytes head = st.readPrefix(ParallelsHeader.SIZE);
        if (head.size() < ParallelsHeader.SIZE) {
            throw new VdException("parallels: " + st.path() + " is too small for a Parallels header (" + st.size()
                    + " bytes)");
        }
        ParallelsHeader h = ParallelsHeader.parse(head, st.path());
        h.validate(st.path(), st.size());
        return h;
    }

    /** One past the last valid cluster in use, at least the start of the data area. */
    private static long dataEnd(ParallelsHeader h, Bat bat, long fileSize) {
        long end = h.dataOffsetBytes();
        for (int i = 0; i < bat.length(); i++) {
            long host = bat.host(i);
            if (host != 0 && h.validCluster(host, fileSize)) {
                end = Math.max(end, host + h.clusterBytes());
            }
        }
        return end;
    }

    private static CheckReport scan(Storage st, ParallelsHeader h) throws IOException {
        CheckReport report = new CheckReport();
        long fileSize = st.size();
        long cs = h.clusterBytes();
        Bat bat = Bat.read(st, h);
        if (h.inUseSet()) {
            report.corruption("header", ParallelsHeader.OFF_IN_USE, "ERROR image was not closed correctly");
        }
        BitSet used = new BitSet();
        long allocated = 0;
        long fragmented = 0;
        long prev = 0;
        long endOffset = h.dataOffsetBytes();
        for (int i = 0; i < bat.length(); i++) {
            long host = bat.host(i);
            if (host == 0) {
                continue;
            }
            allocated++;
            if (prev != 0 && prev + cs != host) {
                fragmented++;
            }
            prev = host;
            endOffset = Math.max(endOffset, host + cs);
            long at = h.batOffset() + 4L * i;
            if (!h.validCluster(host, fileSize)) {
                report.corruption("BAT", at, "ERROR cluster " + i + " is outside image or off the cluster grid"
                        + " (0x" + Long.toHexString(host) + ")");
                continue;
            }
            int k = (int) ((host - h.dataOffsetBytes()) / cs); // host < fileSize bounds k
            if (used.get(k)) {
                report.corruption("BAT", at, "ERROR cluster " + i + " shares host cluster 0x" + Long.toHexString(host)
                        + " with an earlier entry");
            }
            used.set(k);
        }
        long end = dataEnd(h, bat, fileSize);
        for (long off = end; off < fileSize; off += cs) {
            report.leak("cluster", off, "Leaked cluster at 0x" + Long.toHexString(off));
        }
        if (h.extOffSectors() != 0) {
            report.note("parallels: the image has a format extension at 0x"
                    + Long.toHexString(h.extOffSectors() * ParallelsHeader.SECTOR) + " (not checked)");
        }
        report.statistics(h.batEntries(), allocated, fragmented, 0, endOffset);
        return report;
    }
}
