package org.vdmount.vd.nativeio;

import java.io.Closeable;
import java.io.IOException;
import java.nio.file.Path;
import jnr.ffi.Memory;
import jnr.ffi.LastError;
import jnr.ffi.Pointer;
import jnr.ffi.Runtime;

/**
 * An open file description that exists only to hold Linux open-file-description byte-range locks
 * (fcntl F_OFD_SETLK / F_OFD_GETLK, Linux 3.15+), the kind QEMU's file-posix driver takes. OFD
 * locks belong to this description, not to the process: two descriptions of one file conflict
 * even inside one process, and closing some other descriptor of the file releases nothing. All
 * locks go away when {@link #close} closes the description (or the process ends).
 */
public final class OfdLockFile implements Closeable {
    private static final int O_RDONLY = 0;
    private static final int O_CLOEXEC = 02000000;
    private static final int F_OFD_GETLK = 36;
    private static final int F_OFD_SETLK = 37;
    private static final short F_RDLCK = 0;
    private static final short F_WRLCK = 1;
    private static final short F_UNLCK = 2;
    private static final short SEEK_SET = 0;
    private static final int EACCES = 13;
    private static final int EAGAIN = 11;

    /*
     * struct flock, the same on x86_64 and aarch64 (asm-generic): l_type short at 0, l_whence
     * short at 2, l_start off_t at 8, l_len off_t at 16, l_pid int at 24; 32 bytes.
     */
    private static final int FLOCK_SIZE = 32;
    private static final int L_TYPE = 0;
    private static final int L_WHENCE = 2;
    private static final int L_START = 8;
    private static final int L_LEN = 16;
    private static final int L_PID = 24;

    private final Libc.Calls c;
    private final Path path;
    private int fd;

    private OfdLockFile(Libc.Calls c, Path path, int fd) {
        this.c = c;
        this.path = path;
        this.fd = fd;
    }

    /** Opens {@code path} O_RDONLY for locking; fails when the host has no OFD locks we can call. */
    public static OfdLockFile open(Path path) throws IOException {
        return open(path, path);
    }

    /**
     * Opens {@code at} O_RDONLY for locking, naming it {@code path} in every message: {@code at} is
     * the file itself where {@code path} may have changed ({@link FileAnchor#path()}).
     */
    public static OfdLockFile open(Path at, Path path) throws IOException {
        Libc.Calls c = Libc.linuxOrNull();
        if (c == null) {
            throw new IOException(path + ": cannot lock: QEMU-style (OFD) locks need Linux on x86_64 or "
                    + "aarch64 with a loadable C library");
        }
        int fd = c.open(at.toString(), O_RDONLY | O_CLOEXEC, 0);
        if (fd < 0) {
            throw new IOException(path + ": cannot open for locking: " + lastError(c));
        }
        return new OfdLockFile(c, path, fd);
    }

    /**
     * Places a shared (read) lock on {@code [start, start + length)}; false when a conflicting
     * exclusive lock is held through another description.
     */
    public boolean lockShared(long start, long length) throws IOException {
        Pointer fl = flock(F_RDLCK, start, length);
        if (c.fcntl(fd, F_OFD_SETLK, fl) == 0) {
            return true;
        }
        int errno = LastError.getLastError(Runtime.getRuntime(c));
        if (errno == EAGAIN || errno == EACCES) {
            return false;
        }
        throw new IOException(path + ": cannot lock byte " + start + ": " + describe(c, errno));
    }

    /**
     * Asks whether an exclusive lock on {@code [start, start + length)} could be placed, that is,
     * whether another description holds any lock there (this one's own locks never conflict).
     * Returns the first locked byte of the range, or -1 when it is free.
     */
    public long firstLockedByOthers(long start, long length) throws IOException {
        Pointer fl = flock(F_WRLCK, start, length);
        if (c.fcntl(fd, F_OFD_GETLK, fl) != 0) {
            throw new IOException(path + ": cannot test the lock on byte " + start + ": " + lastError(c));
        }
        if (fl.getShort(L_TYPE) == F_UNLCK) {
            return -1;
        }
        return Math.max(start, fl.getLong(L_START));
    }

    @Override
    public void close() {
        if (fd >= 0) {
            c.close(fd);
            fd = -1;
        }
    }

    private Pointer flock(short type, long start, long length) {
        Pointer fl = Memory.allocate(Runtime.getRuntime(c), FLOCK_SIZE);
        fl.putShort(L_TYPE, type);
        fl.putShort(L_WHENCE, SEEK_SET);
        fl.putLong(L_START, start);
        fl.putLong(L_LEN, length);
        fl.putInt(L_PID, 0); // must be 0 for OFD commands
        return fl;
    }

    private static String lastError(Libc.Calls c) {
        return describe(c, LastError.getLastError(Runtime.getRuntime(c)));
    }

    private static String describe(Libc.Calls c, int errno) {
        return c.strerror(errno) + " (errno " + errno + ")";
    }
}
