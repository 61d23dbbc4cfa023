package org.vdmount.mount;

import jnr.ffi.LibraryLoader;

/** The few libc calls process set-up needs that Java lacks (uid, setsid, redirecting stdio). */
public final class Posix {
    private static final int O_WRONLY = 01;
    private static final int O_RDWR = 02;
    private static final int O_CREAT = 0100;
    private static final int O_APPEND = 02000;

    /** libc entry points, bound by jnr-ffi. */
    public interface LibC {
        int getuid();

        int getgid();

        int setsid();

        int open(String path, int flags, int mode);

        int dup2(int oldfd, int newfd);

        int close(int fd);
    }

    private static final class Holder {
        static final LibC LIBC = LibraryLoader.create(LibC.class).load("c");
    }

    private Posix() {
    }

    public static int uid() {
        return Holder.LIBC.getuid();
    }

    public static int gid() {
        return Holder.LIBC.getgid();
    }

    /** Starts a new session (no controlling terminal); harmless if already a session leader. */
    public static void setsid() {
        Holder.LIBC.setsid();
    }

    /** Points stdout and stderr at {@code logFile} (appending), or at /dev/null when null. */
    public static boolean redirectStdio(String logFile) {
        LibC c = Holder.LIBC;
        int fd = logFile != null ? c.open(logFile, O_WRONLY | O_CREAT | O_APPEND, 0644) : c.open("/dev/null", O_RDWR, 0);
        if (fd < 0) {
            return false;
        }
        boolean ok = c.dup2(fd, 1) >= 0 & c.dup2(fd, 2) >= 0;
        if (fd > 2) {
            c.close(fd);
        }
        return ok;
    }
}
