package org.vdmount.mount.cli;

import java.io.IOException;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.DirectoryStream;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.vdmount.mount.MountTable;
import org.vdmount.mount.Unmount;

/**
 * {@code vdmount -u MOUNTPOINT}: unmounts (fusermount3 -u, {@link Unmount#fusermount}) and returns once the daemon that served
 * the mount has exited, so its image files are closed, flushed and unlocked: a {@code qemu-img}
 * or a copy of the image right after it sees the finished file. {@code fusermount -u} alone
 * returns before that (the daemon notices the unmount, then closes its images: ~0.1 s in which
 * QEMU still finds the image locked). libguestfs's guestunmount exists for the same reason.
 *
 * <p>The daemon is found before the unmount: the vdmount process whose descriptors include the
 * mount directory, which every daemon holds open with O_PATH from its start ({@link VdmountMain}).
 */
final class UnmountAndWait {
    private static final String MAIN_CLASS = VdmountMain.class.getName();
    private static final long WAIT_MS = 60_000;

    private UnmountAndWait() {
    }

    /** Unmounts {@code mountpoint} and waits for its daemon; the exit status. */
    static int run(Path mountpoint, PrintStream err) throws InterruptedException {
        String prog = VdmountMain.PROG;
        Path dir;
        String type;
        try {
            // the parent's real path and the name: nothing inside the mount is looked at, so a
            // daemon that no longer answers (stopped, hung) cannot make this hang
            Path abs = mountpoint.toAbsolutePath().normalize();
            dir = abs.getParent() == null ? abs : abs.getParent().toRealPath().resolve(abs.getFileName());
            type = mountType(dir);
            if (type == null && !dir.equals(dir.toRealPath())) { // MOUNTPOINT is a symbolic link
                dir = dir.toRealPath();
                type = mountType(dir);
            }
        } catch (NoSuchFileException e) {
            err.println(prog + ": " + mountpoint + ": no such directory");
            return 1;
        } catch (IOException e) {
            err.println(prog + ": " + mountpoint + ": " + e.getMessage());
            return 1;
        }
        if (type == null) {
            err.println(prog + ": " + dir + ": not mounted");
            return 1;
        }
        if (!type.equals("fuse.vdmount")) {
            err.println(prog + ": " + dir + ": not a vdmount mount (" + type + "); use umount");
            return 1;
        }
        List<Long> daemons = daemonsHolding(dir);
        int status = fusermount(dir, err);
        if (status != 0) {
            return 1; // fusermount3 said why (busy, not permitted, ...)
        }
        long deadline = System.nanoTime() + TimeUnit.MILLISECONDS.toNanos(WAIT_MS);
        for (long pid : daemons) {
            while (Files.exists(Path.of("/proc", Long.toString(pid))) && stillVdmount(pid)) {
                if (System.nanoTime() > deadline) {
                    err.println(prog + ": " + dir + ": unmounted, but its daemon (pid " + pid + ") has not exited after "
                            + WAIT_MS / 1000 + " s; its images may still be in use");
                    return 1;
                }
                Thread.sleep(5);
            }
        }
        return 0;
    }

    /** The file system type of the mount at {@code dir} (the last one mounted there), or null. */
    private static String mountType(Path dir) {
        return MountTable.at(dir).map(MountTable.Entry::fsType).orElse(null);
    }

    /** The vdmount processes (other than this one) with a descriptor on {@code dir}. */
    static List<Long> daemonsHolding(Path dir) {
        List<Long> pids = new ArrayList<>();
        long self = ProcessHandle.current().pid();
        try (DirectoryStream<Path> procs = Files.newDirectoryStream(Path.of("/proc"), p -> p.getFileName().toString()
                .chars().allMatch(Character::isDigit))) {
            for (Path proc : procs) {
                long pid = Long.parseLong(proc.getFileName().toString());
                if (pid != self && stillVdmount(pid) && holds(proc, dir)) {
                    pids.add(pid);
                }
            }
        } catch (IOException e) {
            // no /proc: nothing to wait for
        }
        return pids;
    }

    private static boolean holds(Path proc, Path dir) {
        try (DirectoryStream<Path> fds = Files.newDirectoryStream(proc.resolve("fd"))) {
            for (Path fd : fds) {
                try {
                    if (Files.readSymbolicLink(fd).toString().equals(dir.toString())) {
                        return true;
                    }
                } catch (IOException e) {
                    // closed meanwhile
                }
            }
        } catch (IOException e) {
            // another user's process, or gone
        }
        return false;
    }

    /** Whether {@code pid} is (still) a vdmount JVM (its command line names vdmount's main class). */
    private static boolean stillVdmount(long pid) {
        try {
            byte[] cmd = Files.readAllBytes(Path.of("/proc", Long.toString(pid), "cmdline"));
            return new String(cmd, StandardCharsets.UTF_8).contains(MAIN_CLASS);
        } catch (IOException e) {
            return false;
        }
    }

    /** {@code fusermount3 -u DIR} ({@link Unmount#fusermount}), what it says passed on. */
    private static int fusermount(Path dir, PrintStream err) throws InterruptedException {
        Unmount.Result r = Unmount.fusermount(dir, false);
        if (!r.output().isEmpty()) {
            err.println(VdmountMain.PROG + ": " + r.output().replace('\n', ' '));
        }
        return r.status() == Unmount.DID_NOT_RUN ? 1 : r.status();
    }
}
