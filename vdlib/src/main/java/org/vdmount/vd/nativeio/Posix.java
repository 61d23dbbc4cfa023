package org.vdmount.vd.nativeio;

/** The few libc calls process set-up needs that Java lacks (uid, setsid, redirecting stdio, chdir). */
public final class Posix {
    private static final int O_WRONLY = 01;
    private static final int O_RDWR = 02;
    private static final int O_CREAT = 0100;
    private static final int O_APPEND = 02000;
    private static final int O_CLOEXEC = 02000000;
    private static final int O_PATH = 010000000; // the same on x86_64 and aarch64
    private static final int F_SETFD = 2;
    private static final int FD_CLOEXEC = 1;

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

    /**
     * Points stdin at /dev/null and stdout and stderr at {@code logFile} (appending), or at
     * /dev/null when null: a daemon then holds no terminal or pipe of the command that started it.
     */
    public static boolean redirectStdio(String logFile) {
        Libc.Calls c = Libc.require();
        int nul = c.open("/dev/null", O_RDWR, 0);
        int fd = logFile != null ? c.open(logFile, O_WRONLY | O_CREAT | O_APPEND, 0644) : nul;
        boolean ok = nul >= 0 && fd >= 0 && c.dup2(nul, 0) >= 0 & c.dup2(fd, 1) >= 0 & c.dup2(fd, 2) >= 0;
        if (fd > 2) {
            c.close(fd);
        }
        if (nul > 2 && nul != fd) {
            c.close(nul);
        }
        return ok;
    }

    /** Makes the working directory / (a daemon pins no file system it was started from). */
    public static boolean chdirRoot() {
        return Libc.require().chdir("/") == 0;
    }

    /** Sets FD_CLOEXEC on {@code fd}: programs this process starts (libfuse's fusermount) do not inherit it. */
    public static boolean closeOnExec(int fd) {
        return Libc.require().fcntl(fd, F_SETFD, FD_CLOEXEC) == 0;
    }

    /**
     * Opens {@code path} with O_PATH (no access to its contents, nothing locked, close-on-exec) and
     * keeps the descriptor for the rest of the process's life, so {@code /proc/PID/fd} shows that
     * this process belongs to it; -1 when it cannot be opened.
     */
    public static int holdPath(String path) {
        return Libc.require().open(path, O_PATH | O_CLOEXEC, 0);
    }

    /** Closes a descriptor this process got by number (from its parent). */
    public static void close(int fd) {
        Libc.require().close(fd);
    }
}
