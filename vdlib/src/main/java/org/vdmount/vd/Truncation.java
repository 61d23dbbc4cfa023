package org.vdmount.vd;

import java.nio.file.Path;
import java.util.List;
import java.util.stream.Collectors;

/**
 * One host file of an image cut short: its real size, the size the image needs, and the guest
 * ranges whose bytes lay past the cut (they read as zeros with {@link OpenOptions#allowTruncated()}).
 *
 * @param file       the host file
 * @param fileSize   its real size in bytes
 * @param neededSize the size its allocation tables need (end of the last data they point to)
 * @param missing    guest ranges lost, ascending, not adjacent
 */
public record Truncation(Path file, long fileSize, long neededSize, List<Range> missing) {
    /** Ranges named in the warning; the rest are counted. */
    private static final int WARN_RANGES = 8;

    public Truncation {
        missing = List.copyOf(missing);
    }

    /** A guest byte range {@code [start, start + length)}. */
    public record Range(long start, long length) {
        public long end() {
            return start + length;
        }

        @Override
        public String toString() {
            return start + "-" + (end() - 1);
        }
    }

    /** The one warning line of the open: file, sizes and missing guest ranges (first few). */
    public String warning() {
        String ranges = missing.stream().limit(WARN_RANGES).map(Range::toString).collect(Collectors.joining(", "));
        if (missing.size() > WARN_RANGES) {
            ranges += " and " + (missing.size() - WARN_RANGES) + " more ranges";
        }
        return file + " is truncated at " + fileSize + " of " + neededSize + " bytes: guest bytes " + ranges
                + " read as zeros";
    }
}
