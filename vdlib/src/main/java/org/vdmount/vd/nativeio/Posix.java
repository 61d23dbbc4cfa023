package org.vdmount.vd.nativeio;

/** The few libc calls process set-up needs that Java lacks (uid, setsid, redirecting stdio). */
public final class Posix {
    private static final int O_WRONLY = 01;
    private static final int O_RDWR = 02;
    private static final int O_CREAT = 0100;
    private static final int O_APPEND = 02000;

    private Posix() {
    }

    public static int uid() {
        return Libc.require().getuid();
    }

    public static int gid() {
        return Libc.require().getgid();
    }

    /** Starts a new session (no controlling terminal); harmless if already a session leader. */
    public static void setsid() {
        Libc.require().setsid();
    }

    /** Points stdout and stderr at {@code logFile} (appending), or at /dev/null when null. */
    public static boolean redirectStdio(String logFile) {
        Libc.Calls c = Libc.require();
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
