package org.vdmount.vd.nativeio;

import java.io.Closeable;
import java.nio.file.Path;

/**
 * A file held by an O_PATH descriptor, so that it can be opened again at any later time through
 * {@code /proc/self/fd/N} (proc(5): the link opens the file the descriptor refers to) and be the
 * same file, whatever has become of its path meanwhile: renamed, replaced, deleted. An O_PATH
 * descriptor gives no access to the contents, takes no lock and leaves the access time alone; each
 * open through {@link #path()} checks the file's permissions as an open by name would.
 */
public final class FileAnchor implements Closeable {
    private static final int O_CLOEXEC = 02000000;
    private static final int O_PATH = 010000000; // the same on x86_64 and aarch64
    private static final Path PROC_FDS = Path.of("/proc/self/fd");

    private final Libc.Calls libc;
    private final int fd;
    private final Path path;
    private boolean closed;

    private FileAnchor(Libc.Calls libc, int fd) {
        this.libc = libc;
        this.fd = fd;
        this.path = PROC_FDS.resolve(Integer.toString(fd));
    }

    /**
     * Anchors the file at {@code file}; null where that cannot be done (no usable libc, no /proc,
     * the name gone already): callers then open by name, as without an anchor.
     */
    public static FileAnchor open(Path file) {
        Libc.Calls c = Libc.linuxOrNull();
        if (c == null || !PROC_FDS.toFile().isDirectory()) {
            return null;
        }
        int fd = c.open(file.toString(), O_PATH | O_CLOEXEC, 0);
        return fd < 0 ? null : new FileAnchor(c, fd);
    }

    /** {@code /proc/self/fd/N}: opening it opens the anchored file. */
    public Path path() {
        return path;
    }

    @Override
    public synchronized void close() {
        if (!closed) {
            closed = true;
            libc.close(fd);
        }
    }
}
