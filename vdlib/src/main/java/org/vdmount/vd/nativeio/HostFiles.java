package org.vdmount.vd.nativeio;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import jnr.ffi.Memory;
import jnr.ffi.Pointer;
import jnr.ffi.Runtime;

/**
 * The host-file facts java.nio lacks: fallocate(PUNCH_HOLE) to give space back on discard,
 * fallocate to reserve space, and st_blocks for allocated bytes. Without a usable libc both degrade: punching reports false
 * (callers write zeros), allocation reports the file size.
 */
public final class HostFiles {
    private static final int O_WRONLY = 01;
    private static final int FALLOC_FL_KEEP_SIZE = 0x01;
    private static final int FALLOC_FL_PUNCH_HOLE = 0x02;
    /** struct stat is 144 bytes on x86_64 and 128 on aarch64; st_blocks is at 64 on both. */
    private static final int STAT_BUFFER = 256;
    private static final int ST_BLOCKS_OFFSET = 64;

    private HostFiles() {
    }

    /** Deallocates {@code [pos, pos + length)} keeping the size; false when the host cannot. */
    public static boolean punchHole(Path path, long pos, long length) {
        return fallocate(path, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, pos, length);
    }

    /**
     * Reserves {@code [pos, pos + length)} (fallocate mode 0: blocks allocated, reading as zeros,
     * the size grown to cover them); false when the host or its file system cannot.
     */
    public static boolean allocate(Path path, long pos, long length) {
        return fallocate(path, 0, pos, length);
    }

    /** fallocate(2) with {@code mode} on {@code path} opened for writing; false when it fails or cannot run. */
    private static boolean fallocate(Path path, int mode, long pos, long length) {
        Libc.Calls c = Libc.linuxOrNull();
        if (c == null || length <= 0) {
            return false;
        }
        int fd = c.open(path.toString(), O_WRONLY, 0);
        if (fd < 0) {
            return false;
        }
        try {
            return c.fallocate(fd, mode, pos, length) == 0;
        } finally {
            c.close(fd);
        }
    }

    /** st_blocks * 512, or the file size if unknown. */
    public static long allocatedBytes(Path path) throws IOException {
        Libc.Calls c = Libc.linuxOrNull();
        if (c != null) {
            Pointer buf = Memory.allocate(Runtime.getRuntime(c), STAT_BUFFER);
            if (c.stat(path.toString(), buf) == 0) {
                return buf.getLong(ST_BLOCKS_OFFSET) * 512;
            }
        }
        return Files.size(path);
    }
}
