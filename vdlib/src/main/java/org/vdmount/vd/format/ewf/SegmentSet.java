package org.vdmount.vd.format.ewf;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import org.vdmount.vd.ContainmentException;
import org.vdmount.vd.OpenOptions;
import org.vdmount.vd.PathPolicy;

/**
 * The names of an E01 set's segment files (spec: "Segment file extensions", EWF-E01): {@code x.E01} ... {@code x.E99},
 * then {@code x.EAA} ... {@code x.EZZ}, {@code x.FAA} ... up to {@code x.ZZZ}; all lower case
 * when the first segment's extension is ({@code x.e01}). The set is opened by its first segment;
 * the others are found beside it by name and pass the {@link PathPolicy} (a segment that is a
 * link leading out of the directory is refused).
 */
final class SegmentSet {
    /** E01..E99 (99), then EAA..ZZZ: 22 first letters times 26 * 26. */
    static final int MAX_SEGMENTS = 99 + 22 * 26 * 26;

    private SegmentSet() {
    }

    /** The extension of segment {@code number} (1-based), upper case. */
    static String extension(int number) {
        if (number < 1 || number > MAX_SEGMENTS) {
            throw new IllegalArgumentException("segment number " + number);
        }
        if (number <= 99) {
            return String.format(Locale.ROOT, "E%02d", number);
        }
        int i = number - 100;
        return "" + (char) ('E' + i / (26 * 26)) + (char) ('A' + i / 26 % 26) + (char) ('A' + i % 26);
    }

    /** Whether {@code file} is named as a first segment ({@code *.E01}, {@code *.e01}). */
    static boolean namedFirst(Path file) {
        String name = file.getFileName().toString();
        int dot = name.lastIndexOf('.');
        return dot >= 0 && name.substring(dot + 1).equalsIgnoreCase("e01");
    }

    private static String stem(Path first) {
        String name = first.getFileName().toString();
        return name.substring(0, name.lastIndexOf('.'));
    }

    /**
     * The first segment and the files that follow it by name, in order, up to the first number
     * that does not exist. Which of them the set really uses the section chain decides. A file
     * not named {@code *.E01} is a set of one (a renamed single segment).
     */
    static List<Path> candidates(Path first, OpenOptions options) throws ContainmentException {
        if (!namedFirst(first)) {
            return List.of(first);
        }
        String stem = stem(first);
        String name = first.getFileName().toString();
        boolean lower = Character.isLowerCase(name.charAt(name.length() - 3));
        Path dir = first.toAbsolutePath().getParent();
        PathPolicy policy = PathPolicy.forImage(first, options);
        List<Path> out = new ArrayList<>();
        out.add(first);
        for (int n = 2; n <= MAX_SEGMENTS; n++) {
            Path p = dir.resolve(segmentName(stem, n, lower));
            if (!Files.exists(p)) {
                break;
            }
            Path real;
            try {
                real = policy.admit(p, p.getFileName().toString());
            } catch (ContainmentException e) {
                throw new ContainmentException("ewf: segment of " + e.getMessage());
            }
            if (real == null || !Files.isRegularFile(real)) {
                break;
            }
            out.add(real);
        }
        return out;
    }

    /** The file name of segment {@code number} of the set whose first segment is {@code first} (named *.E01). */
    static String segmentName(Path first, int number) {
        String name = first.getFileName().toString();
        return segmentName(stem(first), number, Character.isLowerCase(name.charAt(name.length() - 3)));
    }

    private static String segmentName(String stem, int number, boolean lower) {
        String ext = extension(number);
        return stem + "." + (lower ? ext.toLowerCase(Locale.ROOT) : ext);
    }
}
