package org.vdmount.mount.fuse.kernel;

import java.util.ArrayList;
import java.util.List;
import java.util.Set;

/**
 * The {@code -o} options of a kernel-transport mount, split into what fusermount3 and the kernel
 * take (fusermount3's own {@code auto_unmount} among them) and what this transport itself reads:
 * {@code max_write=N} (bytes per WRITE request, 4 KiB to 1 MiB) and {@code max_threads=N}
 * (reader threads, one cloned /dev/fuse channel each). READ requests are up to {@link #MAX_REQUEST}
 * whatever max_write says (the kernel's own {@code max_read=} lowers that), so smaller writes
 * never cost large reads. Anything else is refused by name: an
 * option libfuse would have handled has no meaning here, and ignoring it silently would lie.
 *
 * @param kernel       options for fusermount3, in order
 * @param autoUnmount  whether fusermount3 stays to unmount when this process dies
 * @param maxWrite     the largest WRITE payload, bytes
 * @param threads      reader threads
 */
record MountOptions(List<String> kernel, boolean autoUnmount, int maxWrite, int threads) {
    /** The largest request payload (INIT's max_pages): READ replies, readahead and the max_write cap. */
    static final int MAX_REQUEST = 1 << 20;
    static final int MAX_WRITE = MAX_REQUEST;
    static final int MIN_WRITE = 4096;
    static final int MAX_THREADS = 64;

    /** fusermount3's mount flags and the fuse file system's own options (fusermount.c, fuse.rst). */
    private static final Set<String> FLAGS = Set.of("ro", "rw", "nosuid", "suid", "nodev", "dev", "noexec", "exec",
            "sync", "async", "dirsync", "atime", "noatime", "diratime", "nodiratime", "relatime", "norelatime",
            "strictatime", "nostrictatime", "lazytime", "nolazytime", "default_permissions", "allow_other",
            "auto_unmount");
    private static final List<String> VALUED = List.of("fsname=", "subtype=", "max_read=");

    static MountOptions parse(List<String> options) {
        List<String> kernel = new ArrayList<>();
        boolean autoUnmount = false;
        int maxWrite = MAX_WRITE;
        int threads = defaultThreads();
        for (String o : options) {
            if (o.startsWith("max_write=")) {
                maxWrite = number(o, MIN_WRITE, MAX_WRITE);
            } else if (o.startsWith("max_threads=")) {
                threads = number(o, 1, MAX_THREADS);
            } else if (o.equals("nonempty")) {
                continue; // the core checked (and this option allowed) a non-empty mountpoint; the kernel always may
            } else if (FLAGS.contains(o) || VALUED.stream().anyMatch(o::startsWith)) {
                kernel.add(o);
                autoUnmount |= o.equals("auto_unmount");
            } else {
                throw new IllegalArgumentException("FUSE option '" + o + "' is not supported by the kernel transport"
                        + " (it takes max_write=, max_threads=, fsname=, subtype=, max_read= and "
                        + String.join(", ", FLAGS.stream().sorted().toList()) + ")");
            }
        }
        return new MountOptions(List.copyOf(kernel), autoUnmount, maxWrite, threads);
    }

    /** One reader per core, at most 16: more readers than cores only add wake-ups. */
    static int defaultThreads() {
        return Math.max(1, Math.min(16, Runtime.getRuntime().availableProcessors()));
    }

    private static int number(String option, int min, int max) {
        String v = option.substring(option.indexOf('=') + 1);
        long n;
        try {
            n = Long.parseLong(v);
        } catch (NumberFormatException e) {
            n = Long.MIN_VALUE;
        }
        if (n < min || n > max) {
            throw new IllegalArgumentException("FUSE option '" + option + "': expected a number from " + min
                    + " to " + max);
        }
        return (int) n;
    }
}
