package org.vdmount.mount.fuse.kernel;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;
import jnr.ffi.Memory;
import jnr.ffi.Pointer;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;
import org.vdmount.mount.MountTable;
import org.vdmount.mount.fuse.FuseBinding;
import org.vdmount.mount.fuse.FuseOps;

/**
 * {@link FuseBinding} that speaks the kernel FUSE protocol itself: the mount comes from
 * fusermount3 ({@link Fusermount}), then one reader thread per channel, the mount's own
 * descriptor and clones of it (ioctl FUSE_DEV_IOC_CLONE on a fresh /dev/fuse descriptor, as
 * libfuse's fuse_loop_mt does with clone_fd), each with its own buffers. No libfuse and no
 * native upcalls: every request is a read(2) and every answer a write(2) from a Java thread.
 */
final class KernelFuseBinding implements FuseBinding {
    private static final Logger LOG = LoggerFactory.getLogger(KernelFuseBinding.class);
    /** _IOR(229, 0, uint32_t). */
    private static final long FUSE_DEV_IOC_CLONE = 0x8004e500L;

    @Override
    public int serve(Path mountpoint, List<String> options, FuseOps ops) throws IOException {
        MountOptions mo;
        try {
            mo = MountOptions.parse(options);
        } catch (IllegalArgumentException e) {
            throw new IOException(e.getMessage(), e);
        }
        Fusermount mount = Fusermount.mount(mountpoint, mo);
        Session session = new Session(ops, mo);
        List<Integer> clones = new ArrayList<>();
        try {
            List<Thread> threads = new ArrayList<>();
            threads.add(reader(new Channel(session, mount.devFd()), 0));
            for (int i = 1; i < mo.threads(); i++) {
                int fd = cloneOf(mount.devFd());
                if (fd < 0) {
                    break; // the kernel has no clone ioctl: the other readers share the one channel
                }
                clones.add(fd);
                threads.add(reader(new Channel(session, fd), i));
            }
            for (int i = threads.size(); i < mo.threads(); i++) {
                threads.add(reader(new Channel(session, mount.devFd()), i));
            }
            LOG.debug("kernel FUSE transport: {} readers, {} cloned channels, max_write {}", threads.size(),
                    clones.size(), mo.maxWrite());
            threads.forEach(Thread::start);
            raiseReadahead(mountpoint, session, threads, MountOptions.MAX_REQUEST / 1024);
            for (Thread t : threads) {
                t.join();
            }
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            session.failed(e);
        } finally {
            clones.forEach(fd -> Syscalls.libc().close(fd));
            mount.close();
        }
        Throwable failure = session.failure();
        if (failure != null) {
            LOG.error("kernel FUSE transport: {}", failure.getMessage());
            return 1;
        }
        return 0;
    }

    /**
     * The kernel starts a FUSE mount's readahead at 128 KiB (its bdi default, offered in INIT,
     * which can only lower it); as root, /sys/class/bdi/MAJ:MIN/read_ahead_kb raises it once INIT
     * is done, so buffered sequential reads arrive as requests of up to {@code kib}. Elsewhere the
     * default stays, which is only slower.
     */
    private static void raiseReadahead(Path mountpoint, Session session, List<Thread> threads, int kib)
            throws InterruptedException {
        while (!session.awaitInitialized(50)) {
            if (threads.stream().noneMatch(Thread::isAlive)) {
                return;
            }
        }
        Optional<MountTable.Entry> e = MountTable.at(mountpoint);
        if (e.isEmpty()) {
            return;
        }
        Path knob = Path.of("/sys/class/bdi", e.get().device(), "read_ahead_kb");
        try {
            int now = Integer.parseInt(Files.readString(knob).strip());
            if (now < kib) {
                Files.writeString(knob, kib + "\n");
            }
            LOG.debug("readahead of {}: {} KiB (was {})", mountpoint, Math.max(now, kib), now);
        } catch (IOException | NumberFormatException | SecurityException ex) {
            LOG.debug("readahead of {} stays at the kernel's: {}", mountpoint, ex.toString());
        }
    }

    private static Thread reader(Channel c, int index) {
        Thread t = new Thread(c, "fuse-kernel-" + index);
        t.setDaemon(true);
        return t;
    }

    /** A new /dev/fuse descriptor attached to the same connection, or -1 when that fails. */
    private static int cloneOf(int masterFd) {
        Syscalls.Calls c = Syscalls.libc();
        int fd = c.open("/dev/fuse", Syscalls.O_RDWR | Syscalls.O_CLOEXEC);
        if (fd < 0) {
            LOG.debug("open /dev/fuse for a clone: {}", Syscalls.describe(Syscalls.errno()));
            return -1;
        }
        Pointer master = Memory.allocateDirect(Syscalls.runtime(), 4);
        master.putInt(0, masterFd);
        if (c.ioctl(fd, FUSE_DEV_IOC_CLONE, master) != 0) {
            LOG.debug("FUSE_DEV_IOC_CLONE: {}", Syscalls.describe(Syscalls.errno()));
            c.close(fd);
            return -1;
        }
        return fd;
    }
}
