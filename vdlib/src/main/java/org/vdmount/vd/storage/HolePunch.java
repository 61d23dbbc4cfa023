package org.vdmount.vd.storage;

import java.nio.file.Path;
import jnr.ffi.LibraryLoader;

/**
 * fallocate(FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE) through libc, to give host space back on
 * discard. Java has no API for it. Failures (no libc binding, file system without support) report
 * false; the caller then writes zeros instead.
 */
final class HolePunch {
    private static final int O_WRONLY = 1;
    private static final int FALLOC_FL_KEEP_SIZE = 0x01;
    private static final int FALLOC_FL_PUNCH_HOLE = 0x02;

    public interface LibC {
        int open(String path, int flags);

        int fallocate(int fd, int mode, long offset, long len);

        int close(int fd);
    }

    private static volatile LibC libc;
    private static volatile boolean unavailable;

    private HolePunch() {
    }

    static boolean punch(Path path, long pos, long length) {
        LibC c = lib();
        if (c == null || length <= 0) {
            return false;
        }
        int fd = c.open(path.toString(), O_WRONLY);
        if (fd < 0) {
            return false;
        }
        try {
            return c.fallocate(fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, pos, length) == 0;
        } finally {
            c.close(fd);
        }
    }

    private static LibC lib() {
        if (libc == null && !unavailable) {
            synchronized (HolePunch.class) {
                if (libc == null && !unavailable) {
                    try {
                        libc = LibraryLoader.create(LibC.class).load("c");
                    } catch (RuntimeException | LinkageError e) {
                        unavailable = true;
                    }
                }
            }
        }
        return libc;
    }
}
