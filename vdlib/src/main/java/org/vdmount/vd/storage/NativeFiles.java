package org.vdmount.vd.storage;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import jnr.ffi.LibraryLoader;
import jnr.ffi.Memory;
import jnr.ffi.Pointer;
import jnr.ffi.Runtime;

/**
 * The two host-file facts java.nio lacks, through libc: fallocate(PUNCH_HOLE) to give space back
 * on discard, and st_blocks for allocated bytes. Without a usable libc both degrade: punching
 * reports false (callers write zeros), allocation reports the file size.
 */
final class NativeFiles {
    private static final int O_WRONLY = 1;
    private static final int FALLOC_FL_KEEP_SIZE = 0x01;
    private static final int FALLOC_FL_PUNCH_HOLE = 0x02;
    /** struct stat is 144 bytes on x86_64 and 128 on aarch64; st_blocks is at 64 on both. */
    private static final int STAT_BUFFER = 256;
    private static final int ST_BLOCKS_OFFSET = 64;

    public interface LibC {
        int open(String path, int flags);

        int fallocate(int fd, int mode, long offset, long len);

        int close(int fd);

        int stat(String path, Pointer buf);
    }

    private static final LibC LIBC = load();

    private NativeFiles() {
    }

    private static LibC load() {
        String arch = System.getProperty("os.arch", "");
        boolean linux = System.getProperty("os.name", "").toLowerCase(java.util.Locale.ROOT).contains("linux");
        if (!linux || !(arch.equals("amd64") || arch.equals("x86_64") || arch.equals("aarch64"))) {
            return null;
        }
        try {
            return LibraryLoader.create(LibC.class).load("c");
        } catch (RuntimeException | LinkageError e) {
            return null;
        }
    }

    static boolean punchHole(Path path, long pos, long length) {
        if (LIBC == null || length <= 0) {
            return false;
        }
        int fd = LIBC.open(path.toString(), O_WRONLY);
        if (fd < 0) {
            return false;
        }
        try {
            return LIBC.fallocate(fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, pos, length) == 0;
        } finally {
            LIBC.close(fd);
        }
    }

    /** st_blocks * 512, or the file size if unknown. */
    static long allocatedBytes(Path path) throws IOException {
        if (LIBC != null) {
            Pointer buf = Memory.allocate(Runtime.getRuntime(LIBC), STAT_BUFFER);
            if (LIBC.stat(path.toString(), buf) == 0) {
                return buf.getLong(ST_BLOCKS_OFFSET) * 512;
            }
        }
        return Files.size(path);
    }
}
