package org.vdmount.mount;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Optional;

/**
 * The kernel's mount table as this process sees it ({@code /proc/self/mountinfo}, proc(5)): used
 * to say "already a mount point" instead of what a mount over it would report.
 */
public final class MountTable {
    private static final Path MOUNTINFO = Path.of("/proc/self/mountinfo");

    /**
     * One line of mountinfo: where, what type, from which source, with which options, and the
     * device number ({@code major:minor}, the name of its /sys/class/bdi entry).
     */
    public record Entry(String mountPoint, String fsType, String source, String mountOptions, String device) {
    }

    private MountTable() {
    }

    /** The mount whose mount point is {@code dir} (the last one, which is what is visible there). */
    public static Optional<Entry> at(Path dir) {
        List<String> lines;
        try {
            lines = Files.readAllLines(MOUNTINFO, StandardCharsets.UTF_8);
        } catch (IOException e) {
            return Optional.empty(); // no /proc: nothing known, the mount itself will tell
        }
        return find(lines, dir.toAbsolutePath().normalize().toString());
    }

    /** The last entry of {@code mountinfo} lines whose mount point is {@code path}. */
    static Optional<Entry> find(List<String> mountinfo, String path) {
        Entry found = null;
        for (String line : mountinfo) {
            Entry e = parse(line);
            if (e != null && e.mountPoint().equals(path)) {
                found = e;
            }
        }
        return Optional.ofNullable(found);
    }

    /**
     * One mountinfo line: {@code id parent major:minor root mountpoint options [optional...] -
     * fstype source superoptions}; null when it does not have that shape.
     */
    static Entry parse(String line) {
        String[] f = line.split(" ");
        int dash = -1;
        for (int i = 6; i < f.length; i++) {
            if (f[i].equals("-")) {
                dash = i;
                break;
            }
        }
        if (f.length < 7 || dash < 0 || dash + 2 >= f.length) {
            return null;
        }
        return new Entry(unescape(f[4]), unescape(f[dash + 1]), unescape(f[dash + 2]), f[5], f[2]);
    }

    /** mountinfo writes space, tab, newline and backslash as octal escapes ({@code \040}). */
    static String unescape(String s) {
        if (s.indexOf('\\') < 0) {
            return s;
        }
        StringBuilder b = new StringBuilder();
        for (int i = 0; i < s.length(); i++) {
            char c = s.charAt(i);
            if (c == '\\' && isOctal(s, i + 1)) {
                b.append((char) Integer.parseInt(s.substring(i + 1, i + 4), 8));
                i += 3;
            } else {
                b.append(c);
            }
        }
        return b.toString();
    }

    private static boolean isOctal(String s, int from) {
        if (from + 3 > s.length()) {
            return false;
        }
        for (int i = from; i < from + 3; i++) {
            if (s.charAt(i) < '0' || s.charAt(i) > '7') {
                return false;
            }
        }
        return true;
    }
}
