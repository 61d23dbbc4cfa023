package org.vdmount.mount.fuse.kernel;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import jnr.ffi.Memory;
import jnr.ffi.Pointer;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Mounting through {@code fusermount3}, as libfuse's lib/mount.c does: a socketpair, the child's
 * end as descriptor 3 of fusermount3 with {@code _FUSE_COMMFD=3}, and the opened /dev/fuse
 * descriptor coming back in an SCM_RIGHTS message. With {@code auto_unmount} fusermount3 stays
 * and unmounts once our end of the socket closes, which the kernel does when this process dies
 * (kill -9 included): no dead mount is left behind.
 */
final class Fusermount implements AutoCloseable {
    private static final Logger LOG = LoggerFactory.getLogger(Fusermount.class);
    static final String PROGRAM = "fusermount3";
    private static final int CHILD_FD = 3;
    private static final int O_WRONLY_CREAT_TRUNC = 01 | 0100 | 01000;
    private static final int SOL_SOCKET = 1;
    private static final int SCM_RIGHTS = 1;
    // struct msghdr, struct iovec and struct cmsghdr on LP64 Linux
    private static final int MSG_IOV = 16;
    private static final int MSG_IOVLEN = 24;
    private static final int MSG_CONTROL = 32;
    private static final int MSG_CONTROLLEN = 40;
    private static final int IOV_AT = 64;
    private static final int BYTE_AT = 80;
    private static final int CMSG_AT = 88;
    private static final int CMSG_SPACE_INT = 24;

    private final int devFd;
    private final int commFd;
    private final int pid;
    private boolean closed;

    private Fusermount(int devFd, int commFd, int pid) {
        this.devFd = devFd;
        this.commFd = commFd;
        this.pid = pid;
    }

    /** The /dev/fuse descriptor of the new mount. */
    int devFd() {
        return devFd;
    }

    /**
     * Runs {@code fusermount3 -o OPTIONS -- MOUNTPOINT}; returns once the kernel mounted. Its
     * error (one line) becomes the exception's message.
     */
    static Fusermount mount(Path mountpoint, MountOptions options) throws IOException {
        Syscalls.Calls c = Syscalls.libc();
        jnr.ffi.Runtime rt = Syscalls.runtime();
        Pointer pair = Memory.allocateDirect(rt, 8);
        if (c.socketpair(Syscalls.AF_UNIX, Syscalls.SOCK_STREAM | Syscalls.SOCK_CLOEXEC, 0, pair) != 0) {
            throw new IOException("socketpair: " + Syscalls.describe(Syscalls.errno()));
        }
        int ours = pair.getInt(0);
        int theirs = pair.getInt(4);
        Path errors = Files.createTempFile("vdmount-fusermount", ".err");
        int pid;
        try {
            pid = spawn(c, rt, theirs, errors, mountpoint, options);
        } catch (IOException | RuntimeException e) {
            c.close(ours);
            c.close(theirs);
            Files.deleteIfExists(errors);
            throw e;
        }
        c.close(theirs);
        int fd;
        try {
            fd = receiveFd(c, rt, ours);
        } catch (IOException e) {
            c.close(ours);
            int status = await(c, rt, pid);
            String said = firstLine(errors);
            Files.deleteIfExists(errors);
            throw new IOException(said != null ? said : PROGRAM + " failed (" + e.getMessage() + ", status " + status + ")");
        }
        String said = firstLine(errors);
        Files.deleteIfExists(errors); // fusermount3 keeps its (now nameless) file for later messages
        if (said != null) {
            LOG.debug("{}: {}", PROGRAM, said);
        }
        if (!options.autoUnmount()) {
            c.close(ours);
            await(c, rt, pid);
            return new Fusermount(fd, -1, -1);
        }
        return new Fusermount(fd, ours, pid);
    }

    private static int spawn(Syscalls.Calls c, jnr.ffi.Runtime rt, int theirs, Path errors, Path mountpoint,
                             MountOptions options) throws IOException {
        Pointer actions = Memory.allocateDirect(rt, 256); // posix_spawn_file_actions_t is 80 bytes in glibc
        c.posix_spawn_file_actions_init(actions);
        try {
            c.posix_spawn_file_actions_adddup2(actions, theirs, CHILD_FD);
            addOpen(c, actions, errors);
            // nothing else of ours reaches the long-lived fusermount3: image descriptors stay private
            if (c.posix_spawn_file_actions_addclosefrom_np(actions, CHILD_FD + 1) != 0) {
                throw new IOException("posix_spawn_file_actions_addclosefrom_np failed");
            }
            List<String> argv = new ArrayList<>(List.of(PROGRAM));
            if (!options.kernel().isEmpty()) {
                argv.add("-o");
                argv.add(String.join(",", options.kernel()));
            }
            argv.add("--");
            argv.add(mountpoint.toAbsolutePath().toString());
            List<String> env = new ArrayList<>();
            for (Map.Entry<String, String> e : System.getenv().entrySet()) {
                if (!e.getKey().equals("_FUSE_COMMFD")) {
                    env.add(e.getKey() + "=" + e.getValue());
                }
            }
            env.add("_FUSE_COMMFD=" + CHILD_FD);
            Pointer pidOut = Memory.allocateDirect(rt, 4);
            int r = c.posix_spawnp(pidOut, PROGRAM, actions, null, argv.toArray(new String[0]), env.toArray(new String[0]));
            if (r != 0) {
                throw new IOException("cannot run " + PROGRAM + ": " + Syscalls.describe(r) + " (apt-get install fuse3)");
            }
            LOG.debug("{}", String.join(" ", argv));
            return pidOut.getInt(0);
        } finally {
            c.posix_spawn_file_actions_destroy(actions);
        }
    }

    /** The child's stderr goes to {@code errors}, so a failure is reported as one line. */
    private static void addOpen(Syscalls.Calls c, Pointer actions, Path errors) throws IOException {
        if (c.posix_spawn_file_actions_addopen(actions, 2, errors.toString(), O_WRONLY_CREAT_TRUNC, 0600) != 0) {
            throw new IOException("posix_spawn_file_actions_addopen failed");
        }
    }

    /** recvmsg(2) of the one byte fusermount3 sends, with the descriptor as SCM_RIGHTS. */
    private static int receiveFd(Syscalls.Calls c, jnr.ffi.Runtime rt, int sock) throws IOException {
        Pointer m = Memory.allocateDirect(rt, CMSG_AT + CMSG_SPACE_INT);
        m.putAddress(MSG_IOV, m.address() + IOV_AT);
        m.putLong(MSG_IOVLEN, 1);
        m.putAddress(MSG_CONTROL, m.address() + CMSG_AT);
        m.putLong(MSG_CONTROLLEN, CMSG_SPACE_INT);
        m.putAddress(IOV_AT, m.address() + BYTE_AT);
        m.putLong(IOV_AT + 8, 1);
        long n;
        do {
            n = c.recvmsg(sock, m, 0);
        } while (n < 0 && Syscalls.errno() == Syscalls.EINTR);
        if (n < 0) {
            throw new IOException("recvmsg: " + Syscalls.describe(Syscalls.errno()));
        }
        if (n == 0 || m.getLong(MSG_CONTROLLEN) < 20 || m.getInt(CMSG_AT + 8) != SOL_SOCKET
                || m.getInt(CMSG_AT + 12) != SCM_RIGHTS) {
            throw new IOException("no descriptor received");
        }
        return m.getInt(CMSG_AT + 16);
    }

    private static int await(Syscalls.Calls c, jnr.ffi.Runtime rt, int pid) {
        Pointer status = Memory.allocateDirect(rt, 4);
        int r;
        do {
            r = c.waitpid(pid, status, 0);
        } while (r < 0 && Syscalls.errno() == Syscalls.EINTR);
        return r < 0 ? -1 : status.getInt(0) >> 8 & 0xff;
    }

    private static String firstLine(Path file) {
        try {
            return Files.readAllLines(file, StandardCharsets.UTF_8).stream().filter(l -> !l.isBlank()).findFirst()
                    .orElse(null);
        } catch (IOException e) {
            return null;
        }
    }

    /**
     * Closes the /dev/fuse descriptor and our end of the socket; a waiting fusermount3 then
     * unmounts (if still mounted) and exits, and is reaped here.
     */
    @Override
    public synchronized void close() {
        if (closed) {
            return;
        }
        closed = true;
        Syscalls.Calls c = Syscalls.libc();
        c.close(devFd);
        if (commFd >= 0) {
            c.close(commFd);
            await(c, Syscalls.runtime(), pid);
        }
    }
}
