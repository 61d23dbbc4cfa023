package org.vdmount.mount;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CountDownLatch;
import java.util.function.Consumer;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;
import org.vdmount.vd.Allocation;
import org.vdmount.vd.Run;
import org.vdmount.mount.fuse.FileAttributes;
import org.vdmount.mount.fuse.FsStats;
import org.vdmount.mount.fuse.FuseOps;

/**
 * The mounted tree: {@code disk} and {@code p<N>} at the root for one volume, or one directory per
 * volume. Immutable after construction, so lookups take no lock; the read/write path indexes an
 * array by handle and hands the caller's buffer straight to the disk.
 *
 * <p>st_blocks: {@code disk} reports the bytes allocated over the whole chain (every layer); a
 * partition reports its proportional share of that (allocated * partition size / disk size),
 * which is cheap for getattr and exact for a fully allocated or empty disk.
 */
public final class VdFileSystem implements FuseOps {
    private static final Logger LOG = LoggerFactory.getLogger(VdFileSystem.class);
    private static final int NAME_MAX = 255;

    private sealed interface Node permits Dir, FileNode {
    }

    private record Dir(List<String> children, int subdirs) implements Node {
    }

    private record FileNode(String path, Volume volume, DiskSlice slice, int handle) implements Node {
    }

    private final boolean readOnly;
    private final int uid;
    private final int gid;
    private final long mountTimeNanos;
    private final Map<String, Node> nodes;
    private final FileNode[] files;
    private final List<Volume> volumes;
    private final CountDownLatch initialized = new CountDownLatch(1);

    /**
     * @param volumes  the opened images; one → files at the root, several → a directory each
     * @param dirNames the directory name of each volume (ignored for a single volume)
     */
    public VdFileSystem(List<Volume> volumes, List<String> dirNames, boolean readOnly, int uid, int gid) {
        this.readOnly = readOnly;
        this.uid = uid;
        this.gid = gid;
        this.mountTimeNanos = System.currentTimeMillis() * 1_000_000L;
        this.volumes = List.copyOf(volumes);
        Map<String, Node> map = new HashMap<>();
        List<FileNode> fileList = new ArrayList<>();
        if (volumes.size() == 1) {
            map.put("/", new Dir(addFiles("", volumes.get(0), map, fileList), 0));
        } else {
            List<String> rootChildren = new ArrayList<>();
            for (int i = 0; i < volumes.size(); i++) {
                String dir = dirNames.get(i);
                rootChildren.add(dir);
                map.put("/" + dir, new Dir(addFiles("/" + dir, volumes.get(i), map, fileList), 0));
            }
            map.put("/", new Dir(List.copyOf(rootChildren), rootChildren.size()));
        }
        this.nodes = Map.copyOf(map);
        this.files = fileList.toArray(new FileNode[0]);
    }

    private static List<String> addFiles(String dir, Volume v, Map<String, Node> map, List<FileNode> files) {
        Map<String, Node> local = new LinkedHashMap<>();
        for (Volume.Entry e : v.entries()) {
            FileNode f = new FileNode(dir + "/" + e.name(), v, e.slice(), files.size());
            local.put(e.name(), f);
            map.put(f.path(), f);
            files.add(f);
        }
        return List.copyOf(local.keySet());
    }

    /** Blocks until the kernel has sent INIT (true) or the timeout passed (false). */
    public boolean awaitInitialized(long millis) throws InterruptedException {
        return initialized.await(millis, java.util.concurrent.TimeUnit.MILLISECONDS);
    }

    /** The names at the root, for the readiness check. */
    public List<String> rootNames() {
        return ((Dir) nodes.get("/")).children();
    }

    public List<Volume> volumes() {
        return volumes;
    }

    // ---- namespace ----------------------------------------------------------------------------

    @Override
    public void initialized() {
        initialized.countDown();
    }

    @Override
    public int getattr(String path, FileAttributes out) {
        Node n = nodes.get(path);
        if (n == null) {
            return -Errno.ENOENT;
        }
        out.uid = uid;
        out.gid = gid;
        if (n instanceof Dir d) {
            out.mode = FileAttributes.S_IFDIR | (readOnly ? 0555 : 0755);
            out.nlink = 2 + d.subdirs();
            out.sizeBytes = 0;
            out.blocks512 = 0;
            out.atimeNanos = mountTimeNanos;
            out.mtimeNanos = mountTimeNanos;
            out.ctimeNanos = mountTimeNanos;
            return 0;
        }
        FileNode f = (FileNode) n;
        out.mode = FileAttributes.S_IFREG | (readOnly ? 0444 : 0644);
        out.nlink = 1;
        out.sizeBytes = f.slice().lengthBytes();
        out.blocks512 = allocatedBytes(f) / 512;
        long[] times = f.volume().topTimesNanos();
        out.mtimeNanos = times[0];
        out.atimeNanos = times[0];
        out.ctimeNanos = times[1];
        return 0;
    }

    private static long allocatedBytes(FileNode f) {
        long alloc;
        try {
            alloc = f.volume().disk().allocatedBytes();
        } catch (IOException | RuntimeException e) {
            LOG.debug("allocated bytes of {}: {}", f.path(), ErrnoMap.describe(e));
            return 0;
        }
        long diskSize = f.volume().disk().size();
        long len = f.slice().lengthBytes();
        if (len == diskSize || diskSize == 0) {
            return alloc;
        }
        long share = (long) ((double) Math.min(alloc, diskSize) * len / diskSize);
        return (share + 511) / 512 * 512;
    }

    @Override
    public int readdir(String path, Consumer<String> names) {
        Node n = nodes.get(path);
        if (n == null) {
            return -Errno.ENOENT;
        }
        if (!(n instanceof Dir d)) {
            return -Errno.ENOTDIR;
        }
        d.children().forEach(names);
        return 0;
    }

    @Override
    public long open(String path, int flags) {
        Node n = nodes.get(path);
        int notFile = notAFile(n);
        if (notFile != 0) {
            return notFile;
        }
        if (readOnly && (flags & O_ACCMODE) != O_RDONLY) {
            return -Errno.EROFS;
        }
        return ((FileNode) n).handle();
    }

    @Override
    public boolean keepCache() {
        return readOnly;
    }

    @Override
    public int release(long handle) {
        return file(handle) == null ? -Errno.EBADF : 0;
    }

    // ---- data path ----------------------------------------------------------------------------

    @Override
    public int read(long handle, ByteBuffer dst, long offset) {
        FileNode f = file(handle);
        if (f == null) {
            return -Errno.EBADF;
        }
        if (offset < 0) {
            return -Errno.EINVAL;
        }
        int n = (int) f.slice().clip(offset, dst.remaining());
        if (n == 0) {
            return 0; // at or past the end: EOF
        }
        dst.limit(dst.position() + n);
        try {
            f.slice().read(offset, dst);
            return n;
        } catch (IOException | RuntimeException e) {
            return fail("read", f, offset, n, e);
        }
    }

    @Override
    public int write(long handle, ByteBuffer src, long offset) {
        FileNode f = file(handle);
        if (f == null) {
            return -Errno.EBADF;
        }
        if (readOnly) {
            return -Errno.EROFS;
        }
        if (offset < 0) {
            return -Errno.EINVAL;
        }
        if (!src.hasRemaining()) {
            return 0;
        }
        int n = (int) f.slice().clip(offset, src.remaining());
        if (n == 0) {
            return -Errno.ENOSPC; // no size changes: the device ends here
        }
        src.limit(src.position() + n);
        try {
            f.slice().write(offset, src);
            f.volume().markDirty();
            return n;
        } catch (IOException | RuntimeException e) {
            return fail("write", f, offset, n, e);
        }
    }

    @Override
    public int flush(long handle) {
        return sync("flush", handle, Volume::flushIfDirty);
    }

    @Override
    public int fsync(long handle, boolean dataOnly) {
        return sync("fsync", handle, readOnly ? v -> { } : Volume::flush);
    }

    /** Something that makes a volume's writes durable. */
    private interface Durability {
        void apply(Volume v) throws IOException;
    }

    private int sync(String op, long handle, Durability action) {
        FileNode f = file(handle);
        if (f == null) {
            return -Errno.EBADF;
        }
        try {
            action.apply(f.volume());
            return 0;
        } catch (IOException | RuntimeException e) {
            return fail(op, f, 0, 0, e);
        }
    }

    @Override
    public int fallocate(long handle, int mode, long offset, long length) {
        FileNode f = file(handle);
        if (f == null) {
            return -Errno.EBADF;
        }
        if (readOnly) {
            return -Errno.EROFS;
        }
        if (offset < 0 || length <= 0) {
            return -Errno.EINVAL;
        }
        boolean keepSize = (mode & FALLOC_FL_KEEP_SIZE) != 0;
        int op = mode & ~FALLOC_FL_KEEP_SIZE;
        long size = f.slice().lengthBytes();
        boolean pastEnd = offset > size || length > size - offset;
        long inside = f.slice().clip(offset, length);
        try {
            switch (op) {
                case 0 -> {
                    // allocate: the space is always there; growing the file is not possible
                    return pastEnd && !keepSize ? -Errno.ENOSPC : 0;
                }
                case FALLOC_FL_PUNCH_HOLE -> {
                    // the kernel demands KEEP_SIZE with PUNCH_HOLE
                    return keepSize ? clear(f, offset, inside, f.slice()::discard) : -Errno.EOPNOTSUPP;
                }
                case FALLOC_FL_ZERO_RANGE -> {
                    return pastEnd && !keepSize ? -Errno.ENOSPC : clear(f, offset, inside, f.slice()::zero);
                }
                default -> {
                    return -Errno.EOPNOTSUPP;
                }
            }
        } catch (IOException | RuntimeException e) {
            return fail("fallocate", f, offset, inside, e);
        }
    }

    /** Discard or zeroing of a range inside the file (clipped; may be empty). */
    private interface RangeClear {
        void apply(long offset, long length) throws IOException;
    }

    private static int clear(FileNode f, long offset, long inside, RangeClear op) throws IOException {
        if (inside > 0) {
            op.apply(offset, inside);
            f.volume().markDirty();
        }
        return 0;
    }

    /**
     * SEEK_DATA / SEEK_HOLE from the chain's allocation map: a run that no layer holds, or that a
     * layer declares zero, is a hole; the end of the file is a hole too (lseek(2), as for any
     * Linux file system). At or past the end: ENXIO.
     */
    @Override
    public long lseek(long handle, long offset, int whence) {
        FileNode f = file(handle);
        if (f == null) {
            return -Errno.EBADF;
        }
        if (whence != SEEK_DATA && whence != SEEK_HOLE) {
            return -Errno.EINVAL;
        }
        long size = f.slice().lengthBytes();
        if (offset < 0 || offset >= size) {
            return -Errno.ENXIO;
        }
        boolean wantData = whence == SEEK_DATA;
        long pos = offset;
        try {
            while (pos < size) {
                long run = f.slice().map(pos, size - pos);
                if ((Run.kind(run) == Allocation.DATA) == wantData) {
                    return pos;
                }
                pos += Run.length(run);
            }
        } catch (IOException | RuntimeException e) {
            return fail("lseek", f, pos, 0, e);
        }
        return wantData ? -Errno.ENXIO : size;
    }

    // ---- refusals -----------------------------------------------------------------------------

    @Override
    public int truncate(String path, long sizeBytes) {
        Node n = nodes.get(path);
        int notFile = notAFile(n);
        return notFile != 0 ? notFile : resize((FileNode) n, sizeBytes);
    }

    @Override
    public int ftruncate(long handle, long sizeBytes) {
        FileNode f = file(handle);
        return f == null ? -Errno.EBADF : resize(f, sizeBytes);
    }

    private int resize(FileNode f, long sizeBytes) {
        if (readOnly) {
            return -Errno.EROFS;
        }
        return sizeBytes == f.slice().lengthBytes() ? 0 : -Errno.EPERM;
    }

    @Override
    public int refuseChange(String path) {
        return readOnly ? -Errno.EROFS : -Errno.EPERM;
    }

    @Override
    public FsStats statfs() {
        long total = 0;
        for (FileNode f : files) {
            total += f.slice().lengthBytes();
        }
        return new FsStats(512, total / 512, 0, nodes.size(), NAME_MAX, readOnly);
    }

    // ---- helpers ------------------------------------------------------------------------------

    /** 0 when {@code n} is a file, else what a file operation on that path answers. */
    private static int notAFile(Node n) {
        return n == null ? -Errno.ENOENT : n instanceof Dir ? -Errno.EISDIR : 0;
    }

    private FileNode file(long handle) {
        return handle >= 0 && handle < files.length ? files[(int) handle] : null;
    }

    private static int fail(String op, FileNode f, long offset, long length, Throwable e) {
        int errno = ErrnoMap.errno(e);
        LOG.error("{} {} at 0x{}+{}: {} -> {}", op, f.path(), Long.toHexString(offset), length,
                ErrnoMap.describe(e), Errno.name(errno));
        LOG.debug("stack of the failed {}", op, e);
        return -errno;
    }
}
