package org.vdmount.mount.fuse.kernel;

import jnr.ffi.LibraryLoader;
import jnr.ffi.Pointer;
import jnr.ffi.Runtime;
import jnr.ffi.annotations.SaveError;
import jnr.ffi.annotations.Variadic;

/**
 * The libc calls of the kernel transport: the /dev/fuse descriptor's blocking read(2)/write(2),
 * the clone ioctl, and what mounting through fusermount3 needs (socketpair, posix_spawnp,
 * recvmsg with SCM_RIGHTS, waitpid). Buffers are passed as preallocated {@link Pointer}s to
 * direct memory, so a call allocates nothing.
 */
final class Syscalls {

    /** The bound functions; errno is saved for the ones that can fail on the request path. */
    public interface Calls {
        @SaveError
        int open(String path, int flags);

        int close(int fd);

        @SaveError
        long read(int fd, Pointer buf, long count);

        @SaveError
        long write(int fd, Pointer buf, long count);

        @SaveError
        @Variadic(fixedCount = 2)
        int ioctl(int fd, long request, Pointer arg);

        @SaveError
        int socketpair(int domain, int type, int protocol, Pointer sv);

        @SaveError
        long recvmsg(int fd, Pointer msg, int flags);

        int posix_spawn_file_actions_init(Pointer actions);

        int posix_spawn_file_actions_destroy(Pointer actions);

        int posix_spawn_file_actions_adddup2(Pointer actions, int fd, int newfd);

        /** glibc 2.34+: closes every descriptor from {@code from} on in the child. */
        int posix_spawn_file_actions_addclosefrom_np(Pointer actions, int from);

        int posix_spawn_file_actions_addopen(Pointer actions, int fd, String path, int oflag, int mode);

        int posix_spawnp(Pointer pid, String file, Pointer actions, Pointer attr, String[] argv, String[] envp);

        @SaveError
        int waitpid(int pid, Pointer status, int options);

        String strerror(int errnum);
    }

    static final int O_RDWR = 2;
    static final int O_CLOEXEC = 02000000;
    static final int AF_UNIX = 1;
    static final int SOCK_STREAM = 1;
    static final int SOCK_CLOEXEC = 02000000;
    static final int EINTR = 4;
    static final int ENOENT = 2;
    static final int EAGAIN = 11;
    static final int ENODEV = 19;

    private static final class Holder {
        static final Calls CALLS = LibraryLoader.create(Calls.class).load("c");
        static final Runtime RUNTIME = Runtime.getRuntime(CALLS);
    }

    private Syscalls() {
    }

    /** libc; throws a {@link LinkageError} or {@link RuntimeException} when it cannot be bound. */
    static Calls libc() {
        return Holder.CALLS;
    }

    static Runtime runtime() {
        return Holder.RUNTIME;
    }

    /** errno of the last failed call on this thread. */
    static int errno() {
        return Holder.RUNTIME.getLastError();
    }

    static String describe(int errno) {
        return Holder.CALLS.strerror(errno);
    }
}
