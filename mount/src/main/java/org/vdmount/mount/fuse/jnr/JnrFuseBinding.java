package org.vdmount.mount.fuse.jnr;

import com.kenai.jffi.MemoryIO;
import java.nio.ByteBuffer;
import java.nio.file.Path;
import java.util.List;
import jnr.ffi.Pointer;
import jnr.ffi.Struct;
import org.vdmount.mount.fuse.FileAttributes;
import org.vdmount.mount.fuse.FsStats;
import org.vdmount.mount.fuse.FuseBinding;
import org.vdmount.mount.fuse.FuseOps;
import ru.serce.jnrfuse.FuseFillDir;
import ru.serce.jnrfuse.FuseStubFS;
import ru.serce.jnrfuse.struct.FileStat;
import ru.serce.jnrfuse.struct.FuseFileInfo;
import ru.serce.jnrfuse.struct.Statvfs;
import ru.serce.jnrfuse.struct.Timespec;

/**
 * {@link FuseBinding} over jnr-fuse (libfuse 2.9). The only class that sees jnr types. We call
 * {@code fuse_main_real} ourselves (not jnr-fuse's mount()) to control argv and to keep
 * jnr-fuse's own shutdown hook out of the way; {@code -f} keeps libfuse in this process and the
 * absence of {@code -s} gives its multithreaded loop.
 *
 * <p>Data path: the request buffer libfuse hands us is wrapped as a direct ByteBuffer at its
 * native address (no copy; the disk reads straight into it). jnr-fuse itself allocates the path
 * String and a couple of small struct views per callback, so one more small wrapper is noise.
 */
final class JnrFuseBinding implements FuseBinding {

    /** Byte offset of the bit-field word (direct_io, keep_cache, ...) in libfuse 2.9's fuse_file_info. */
    private static final int FI_BITS_OFFSET = 20;
    private static final int FI_KEEP_CACHE = 1 << 1;

    @Override
    public int serve(Path mountpoint, List<String> options, FuseOps ops) {
        Adapter fs;
        try {
            fs = new Adapter(ops);
        } catch (LinkageError | RuntimeException e) {
            throw new IllegalStateException("cannot load " + JnrFuseProvider.LIBRARY + " (Debian: apt-get install libfuse2 fuse3): "
                    + e.getMessage(), e);
        }
        String[] argv = {"vdmount", "-f", mountpoint.toAbsolutePath().toString(), "-o", String.join(",", options)};
        return fs.serve(argv);
    }

    private static ByteBuffer wrap(Pointer buf, long size) {
        return MemoryIO.getInstance().newDirectByteBuffer(buf.address(), (int) size);
    }

    private static void setTime(Timespec t, long nanos) {
        t.tv_sec.set(Math.floorDiv(nanos, 1_000_000_000L));
        t.tv_nsec.set(Math.floorMod(nanos, 1_000_000_000L));
    }

    /** The jnr-fuse callbacks, each a one-line translation to {@link FuseOps}. */
    private static final class Adapter extends FuseStubFS {
        private final FuseOps ops;

        Adapter(FuseOps ops) {
            this.ops = ops;
        }

        int serve(String[] argv) {
            mounted.set(true);
            try {
                return libFuse.fuse_main_real(argv.length, argv, fuseOperations, Struct.size(fuseOperations), null);
            } finally {
                mounted.set(false);
            }
        }

        @Override
        public Pointer init(Pointer conn) {
            ops.initialized();
            return null;
        }

        @Override
        public int getattr(String path, FileStat stat) {
            FileAttributes a = new FileAttributes();
            int r = ops.getattr(path, a);
            if (r == 0) {
                stat.st_mode.set(a.mode);
                stat.st_nlink.set(a.nlink);
                stat.st_size.set(a.sizeBytes);
                stat.st_blocks.set(a.blocks512);
                stat.st_blksize.set(4096);
                stat.st_uid.set(a.uid);
                stat.st_gid.set(a.gid);
                setTime(stat.st_atim, a.atimeNanos);
                setTime(stat.st_mtim, a.mtimeNanos);
                setTime(stat.st_ctim, a.ctimeNanos);
            }
            return r;
        }

        @Override
        public int readdir(String path, Pointer buf, FuseFillDir filler, long offset, FuseFileInfo fi) {
            filler.apply(buf, ".", null, 0);
            filler.apply(buf, "..", null, 0);
            return ops.readdir(path, name -> filler.apply(buf, name, null, 0));
        }

        @Override
        public int open(String path, FuseFileInfo fi) {
            long h = ops.open(path, fi.flags.get());
            if (h < 0) {
                return (int) h;
            }
            fi.fh.set(h);
            if (ops.keepCache()) {
                Pointer mem = Struct.getMemory(fi);
                mem.putInt(FI_BITS_OFFSET, mem.getInt(FI_BITS_OFFSET) | FI_KEEP_CACHE);
            }
            return 0;
        }

        @Override
        public int read(String path, Pointer buf, long size, long offset, FuseFileInfo fi) {
            return ops.read(fi.fh.get(), wrap(buf, size), offset);
        }

        @Override
        public int write(String path, Pointer buf, long size, long offset, FuseFileInfo fi) {
            return ops.write(fi.fh.get(), wrap(buf, size), offset);
        }

        @Override
        public int flush(String path, FuseFileInfo fi) {
            return ops.flush(fi.fh.get());
        }

        @Override
        public int fsync(String path, int isdatasync, FuseFileInfo fi) {
            return ops.fsync(fi.fh.get(), isdatasync != 0);
        }

        @Override
        public int release(String path, FuseFileInfo fi) {
            return ops.release(fi.fh.get());
        }

        @Override
        public int truncate(String path, long size) {
            return ops.truncate(path, size);
        }

        @Override
        public int ftruncate(String path, long size, FuseFileInfo fi) {
            return ops.ftruncate(fi.fh.get(), size);
        }

        @Override
        public int fallocate(String path, int mode, long off, long length, FuseFileInfo fi) {
            return ops.fallocate(fi.fh.get(), mode, off, length);
        }

        @Override
        public int statfs(String path, Statvfs st) {
            FsStats s = ops.statfs();
            st.f_bsize.set(s.blockSizeBytes());
            st.f_frsize.set(s.blockSizeBytes());
            st.f_blocks.set(s.totalBlocks());
            st.f_bfree.set(s.freeBlocks());
            st.f_bavail.set(s.freeBlocks());
            st.f_files.set(s.files());
            st.f_ffree.set(0);
            st.f_favail.set(0);
            st.f_namemax.set(s.nameMax());
            st.f_flag.set(s.readOnly() ? Statvfs.ST_RDONLY : 0);
            return 0;
        }

        // ---- everything that would change names or metadata is refused ----
        // Alike on purpose: jnr-fuse hands libfuse only the callbacks a subclass overrides, one
        // method each, and an absent one would answer ENOSYS instead of EROFS/EPERM.

        @Override
        public int create(String path, long mode, FuseFileInfo fi) {
            return ops.refuseChange(path);
        }

        @Override
        public int mknod(String path, long mode, long rdev) {
            return ops.refuseChange(path);
        }

        @Override
        public int mkdir(String path, long mode) {
            return ops.refuseChange(path);
        }

        @Override
        public int unlink(String path) {
            return ops.refuseChange(path);
        }

        @Override
        public int rmdir(String path) {
            return ops.refuseChange(path);
        }

        @Override
        public int symlink(String oldpath, String newpath) {
            return ops.refuseChange(newpath);
        }

        @Override
        public int rename(String oldpath, String newpath) {
            return ops.refuseChange(oldpath);
        }

        @Override
        public int link(String oldpath, String newpath) {
            return ops.refuseChange(newpath);
        }

        @Override
        public int chmod(String path, long mode) {
            return ops.refuseChange(path);
        }

        @Override
        public int chown(String path, long uid, long gid) {
            return ops.refuseChange(path);
        }

        @Override
        public int utimens(String path, Timespec[] timespec) {
            return ops.refuseChange(path);
        }
    }
}
