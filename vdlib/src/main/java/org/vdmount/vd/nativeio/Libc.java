package org.vdmount.vd.nativeio;

import java.util.Locale;
import jnr.ffi.LibraryLoader;
import jnr.ffi.Pointer;
import jnr.ffi.annotations.SaveError;
import jnr.ffi.annotations.Variadic;

/** The C library, bound once for the whole process; callers degrade or fail as suits them. */
final class Libc {

    /** The libc functions vdmount calls. */
    public interface Calls {
        @SaveError
        int open(String path, int flags, int mode);

        int close(int fd);

        String strerror(int errnum);

        int dup2(int oldfd, int newfd);

        int dup(int oldfd);

        int pipe(int[] fds);

        int chdir(String path);

        /** fcntl(2) with an int argument (F_GETFD, F_SETFD, ...). */
        @Variadic(fixedCount = 2)
        int fcntl(int fd, int cmd, int arg);

        int fallocate(int fd, int mode, long offset, long len);

        int stat(String path, Pointer buf);

        int getuid();

        int getgid();

        int setsid();

        /** fcntl(2) with a {@code struct flock *} argument (the lock commands); errno is kept. */
        @SaveError
        @Variadic(fixedCount = 2)
        int fcntl(int fd, int cmd, Pointer lock);
    }

    /** Loaded on first use; null with {@link #FAILURE} set when libc cannot be bound. */
    private static final class Holder {
        static final Calls CALLS;
        static final Throwable FAILURE;

        static {
            Calls calls = null;
            Throwable failure = null;
            try {
                calls = LibraryLoader.create(Calls.class).load("c");
            } catch (RuntimeException | LinkageError e) {
                failure = e;
            }
            CALLS = calls;
            FAILURE = failure;
        }
    }

    private Libc() {
    }

    /** libc; throws when it cannot be bound (process set-up has no fallback). */
    static Calls require() {
        if (Holder.CALLS == null) {
            throw new IllegalStateException("cannot bind the C library: " + Holder.FAILURE, Holder.FAILURE);
        }
        return Holder.CALLS;
    }

    /**
     * libc where Linux's flag values and struct layouts (x86_64, aarch64) are known to hold, else
     * null: callers then fall back to what java.nio offers.
     */
    static Calls linuxOrNull() {
        String arch = System.getProperty("os.arch", "");
        boolean linux = System.getProperty("os.name", "").toLowerCase(Locale.ROOT).contains("linux");
        if (!linux || !(arch.equals("amd64") || arch.equals("x86_64") || arch.equals("aarch64"))) {
            return null;
        }
        return Holder.CALLS;
    }
}
