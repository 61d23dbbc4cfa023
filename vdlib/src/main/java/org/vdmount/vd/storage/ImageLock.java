package org.vdmount.vd.storage;

import java.io.Closeable;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.BasicFileAttributes;
import java.util.ArrayList;
import java.util.EnumSet;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import org.vdmount.vd.ImageInUseException;
import org.vdmount.vd.nativeio.OfdLockFile;

/**
 * The locks QEMU's file-posix driver (block/file-posix.c, "image locking") places on every image
 * file, taken the same way so that vdmount, {@code vd}, qemu-img, qemu-io and
 * qemu-storage-daemon refuse each other exactly as QEMU's tools refuse among themselves.
 *
 * <p>A user of a file holds a set of block-layer permissions and shares a set with others. For
 * each permission bit i it holds, it keeps a shared OFD lock on byte {@code 100 + i}; for each
 * permission it does <em>not</em> share, a shared OFD lock on byte {@code 200 + i}. Before it
 * counts as open it places its own locks and then tests the others: anyone locking
 * {@code 200 + i} for a permission i it holds (they refuse to share it), or {@code 100 + i} for a
 * permission i it does not share (they hold it), is a conflict and the open fails. Placing before
 * testing means two openers racing each see the other.
 *
 * <table>
 *   <caption>What vd takes (QEMU's qcow2-on-file and raw-on-file nodes take the same)</caption>
 *   <tr><th>open</th><th>holds (bytes)</th><th>does not share (bytes)</th></tr>
 *   <tr><td>read-only (default mount, {@code vd} reads, every parent)</td>
 *       <td>consistent read (100)</td><td>write, resize (201, 203)</td></tr>
 *   <tr><td>writable top ({@code --rw}, created images)</td>
 *       <td>consistent read, write, resize (100, 101, 103)</td><td>write, resize (201, 203)</td></tr>
 * </table>
 * Both share consistent read and write-unchanged, so {@code qemu-img info -U} and
 * {@code qemu-io -r -U} work beside either. Forcing the share ({@link #withoutLocks}) opens
 * read-only files with no lock taken or tested, as {@code -U} asks.
 */
public final class ImageLock implements Closeable {
    /** QEMU's RAW_LOCK_PERM_BASE: byte 100 + i is locked by whoever holds permission i. */
    public static final long PERM_BASE = 100;
    /** QEMU's RAW_LOCK_SHARED_BASE: byte 200 + i is locked by whoever does not share permission i. */
    public static final long SHARED_BASE = 200;
    /** QEMU loops over up to 64 permission bits; every lock it has ever placed lies in these ranges. */
    static final int PERM_BITS = 64;

    /** The block-layer permissions, in QEMU's bit order (BLK_PERM_*). */
    public enum Permission {
        CONSISTENT_READ("consistent read"),
        WRITE("write"),
        WRITE_UNCHANGED("write unchanged"),
        RESIZE("resize");

        private final String qemuName;

        Permission(String qemuName) {
            this.qemuName = qemuName;
        }

        public long heldByte() {
            return PERM_BASE + ordinal();
        }

        public long unsharedByte() {
            return SHARED_BASE + ordinal();
        }
    }

    /** Held by read-only opens: QEMU's read-only format node on its file. */
    static final Set<Permission> READ_ONLY_HOLDS = EnumSet.of(Permission.CONSISTENT_READ);
    /** Held by writable opens: QEMU's writable qcow2 node on its file (metadata may grow the file). */
    static final Set<Permission> WRITABLE_HOLDS = EnumSet.of(Permission.CONSISTENT_READ, Permission.WRITE,
            Permission.RESIZE);
    /** Refused to others by every locked open, read-only or not. */
    static final Set<Permission> UNSHARED = EnumSet.of(Permission.WRITE, Permission.RESIZE);

    /** The locks this process holds, by file identity: tells "this process" from "another" in errors. */
    private static final Map<Object, List<ImageLock>> HELD = new HashMap<>();
    private static final ThreadLocal<Boolean> FORCE_SHARE = ThreadLocal.withInitial(() -> false);

    private static final ImageLock NONE = new ImageLock(null, null, null, Set.of());

    private final Path path;
    private final Object fileKey;
    private final OfdLockFile file;
    private final Set<Permission> holds;

    private ImageLock(Path path, Object fileKey, OfdLockFile file, Set<Permission> holds) {
        this.path = path;
        this.fileKey = fileKey;
        this.file = file;
        this.holds = holds;
    }

    /** A step run by {@link #withoutLocks}. */
    @FunctionalInterface
    public interface Action<T> {
        T run() throws IOException;
    }

    /**
     * Runs {@code action} with QEMU's {@code force-share} in effect on this thread when
     * {@code forceShare} is set: read-only files it opens take and test no lock (writable opens
     * still lock). Nested calls keep the outer setting.
     */
    public static <T> T withoutLocks(boolean forceShare, Action<T> action) throws IOException {
        if (!forceShare || FORCE_SHARE.get()) {
            return action.run();
        }
        FORCE_SHARE.set(true);
        try {
            return action.run();
        } finally {
            FORCE_SHARE.set(false);
        }
    }

    /**
     * Takes the locks of a read-only or writable open of {@code path}, or none for a read-only open
     * inside {@link #withoutLocks}. Throws {@link ImageInUseException} naming the first conflict.
     * The locks go on the file {@code at}: an anchor's {@code /proc/self/fd/N} (so that they land
     * on the file the data was opened on even if {@code path} was renamed or replaced meanwhile),
     * or {@code path} itself; messages name {@code path}.
     */
    public static ImageLock acquire(Path path, Path at, boolean writable) throws IOException {
        if (!writable && FORCE_SHARE.get()) {
            return NONE;
        }
        Set<Permission> holds = writable ? WRITABLE_HOLDS : READ_ONLY_HOLDS;
        Object key = Files.readAttributes(at, BasicFileAttributes.class).fileKey();
        OfdLockFile f = OfdLockFile.open(at, path);
        try {
            for (Permission p : holds) {
                placeOrRefuse(f, path, p.heldByte());
            }
            for (Permission p : UNSHARED) {
                placeOrRefuse(f, path, p.unsharedByte());
            }
            for (Permission p : holds) {
                refuseIfLocked(f, path, key, p.unsharedByte());
            }
            for (Permission p : UNSHARED) {
                refuseIfLocked(f, path, key, p.heldByte());
            }
        } catch (IOException | RuntimeException e) {
            f.close();
            throw e;
        }
        ImageLock lock = new ImageLock(path, key, f, holds);
        synchronized (HELD) {
            HELD.computeIfAbsent(key, k -> new ArrayList<>()).add(lock);
        }
        return lock;
    }

    /**
     * Whether anyone (another process, or another open in this one) holds any QEMU-style lock on
     * {@code path}: null when none, else why it is in use, e.g. "in use by another process (it
     * holds the write permission; QEMU-style lock at byte 101)" (a writer is named as one first).
     * Tests only; takes nothing.
     */
    public static String holder(Path path) throws IOException {
        Object key = Files.readAttributes(path, BasicFileAttributes.class).fileKey();
        try (OfdLockFile f = OfdLockFile.open(path)) {
            long[][] ranges = {{Permission.WRITE.heldByte(), 1}, {PERM_BASE, PERM_BITS}, {SHARED_BASE, PERM_BITS}};
            for (long[] range : ranges) {
                long b = f.firstLockedByOthers(range[0], range[1]);
                if (b >= 0) {
                    return conflict(key, b);
                }
            }
        }
        return null;
    }

    /** Whether this open holds no lock at all (a forced share). */
    public boolean none() {
        return file == null;
    }

    @Override
    public void close() {
        if (file == null) {
            return;
        }
        synchronized (HELD) {
            List<ImageLock> same = HELD.get(fileKey);
            if (same != null) {
                same.remove(this);
                if (same.isEmpty()) {
                    HELD.remove(fileKey);
                }
            }
        }
        file.close();
    }

    private static void placeOrRefuse(OfdLockFile f, Path path, long b) throws IOException {
        if (!f.lockShared(b, 1)) {
            // only an exclusive lock blocks a shared one; QEMU never takes those, so say it plainly
            throw new ImageInUseException(path + ": in use by another program (it holds an exclusive lock on byte "
                    + b + ")" + HINT);
        }
    }

    private static void refuseIfLocked(OfdLockFile f, Path path, Object key, long b) throws IOException {
        if (f.firstLockedByOthers(b, 1) >= 0) {
            throw new ImageInUseException(path + ": " + conflict(key, b) + HINT);
        }
    }

    private static final String HINT = "; use --force-share to read it anyway";

    /** "in use by this process (...)" when an open of ours explains the lock, else "by another process". */
    private static String conflict(Object key, long b) {
        String who = "another process";
        synchronized (HELD) {
            for (ImageLock l : HELD.getOrDefault(key, List.of())) {
                if (l.locks(b)) {
                    who = "this process";
                    break;
                }
            }
        }
        return "in use by " + who + " (it " + meaning(b) + "; QEMU-style lock at byte " + b + ")";
    }

    private boolean locks(long b) {
        for (Permission p : holds) {
            if (p.heldByte() == b) {
                return true;
            }
        }
        for (Permission p : UNSHARED) {
            if (p.unsharedByte() == b) {
                return true;
            }
        }
        return false;
    }

    /** What a lock on byte {@code b} says about its holder, in QEMU's permission names. */
    static String meaning(long b) {
        boolean held = b < SHARED_BASE;
        int bit = (int) (b - (held ? PERM_BASE : SHARED_BASE));
        String name = bit < Permission.values().length ? Permission.values()[bit].qemuName
                : "bit-" + bit;
        return (held ? "holds the " : "does not share the ") + name + " permission";
    }

    @Override
    public String toString() {
        return file == null ? "no lock (force-share)" : path + " holding " + holds + ", not sharing " + UNSHARED;
    }
}
