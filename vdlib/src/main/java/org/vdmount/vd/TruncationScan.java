package org.vdmount.vd;

import java.io.IOException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.vdmount.vd.storage.Storage;

/**
 * Finds what a file cut short has lost: walks one image's allocation map ({@link Image#map}) and
 * checks every DATA run's host location ({@link Image#hostLocation}) against the real length of
 * the file holding it. Walking the map reads every table, so a table past the cut fails here, at
 * open, and not on some later read.
 */
public final class TruncationScan {
    /** Most lost ranges kept for one file (bounds the memory a hostile table can make us use). */
    static final int MAX_RANGES = 1 << 20;

    private TruncationScan() {
    }

    /** The truncated files of {@code image}, in the order first met; empty when nothing is lost. */
    public static List<Truncation> scan(Image image) throws IOException {
        Map<Path, Acc> files = new LinkedHashMap<>();
        long size = image.virtualSize();
        for (long off = 0; off < size; ) {
            long run = image.map(off, size - off);
            long len = Run.length(run);
            if (Run.kind(run) == Allocation.DATA) {
                HostLocation at = image.hostLocation(off);
                if (at != null) {
                    Storage st = at.storage();
                    long fileSize = st.size();
                    long hostEnd = at.offset() + len;
                    if (hostEnd > fileSize) {
                        long lostFrom = off + Math.max(0, fileSize - at.offset());
                        Acc acc = files.computeIfAbsent(st.path(), p -> new Acc(fileSize));
                        acc.add(lostFrom, off + len, hostEnd);
                        if (acc.ranges.size() > MAX_RANGES) {
                            throw new UnsupportedFeatureException(st.path() + " is truncated at " + fileSize
                                    + " bytes and has lost more than " + MAX_RANGES + " separate guest ranges");
                        }
                    }
                }
            }
            off += len;
        }
        List<Truncation> out = new ArrayList<>();
        files.forEach((path, acc) -> out.add(new Truncation(path, acc.fileSize, acc.needed, acc.ranges)));
        return out;
    }

    /** The lost ranges of one file, merged as they come (the walk is in guest order). */
    private static final class Acc {
        final long fileSize;
        long needed;
        final List<Truncation.Range> ranges = new ArrayList<>();

        Acc(long fileSize) {
            this.fileSize = fileSize;
        }

        void add(long start, long end, long hostEnd) {
            needed = Math.max(needed, hostEnd);
            int last = ranges.size() - 1;
            if (last >= 0 && ranges.get(last).end() == start) {
                ranges.set(last, new Truncation.Range(ranges.get(last).start(), end - ranges.get(last).start()));
            } else {
                ranges.add(new Truncation.Range(start, end - start));
            }
        }
    }
}
