package org.vdmount.mount.fuse.kernel;

import static org.vdmount.mount.fuse.kernel.Protocol.*;

import com.kenai.jffi.MemoryIO;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import jnr.ffi.Pointer;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;
import org.vdmount.mount.fuse.FileAttributes;
import org.vdmount.mount.fuse.FsStats;
import org.vdmount.mount.fuse.FuseOps;

/**
 * One /dev/fuse channel (the mount's descriptor or a clone of it) and the buffers of the one
 * thread that serves it: a blocking read(2) of a request, the answer built in the reply buffer,
 * one write(2) of header and payload. READ data goes straight from the disk into the reply
 * buffer and WRITE data straight from the request buffer to the disk; nothing on that path
 * allocates. Request layouts: include/uapi/linux/fuse.h.
 */
final class Channel implements Runnable {
    private static final Logger LOG = LoggerFactory.getLogger(Channel.class);
    private static final int ENOENT = 2;
    private static final int EIO = 5;
    private static final int EINVAL = 22;
    private static final int ENOTDIR = 20;
    private static final int ENOSYS = 38;
    private static final int EPROTO = 71;
    /** Entry and attribute cache time, as libfuse's default (1 s). */
    private static final long VALID_SECONDS = 1;
    private static final int BLKSIZE = 4096;

    private final Session session;
    private final FuseOps ops;
    private final int fd;
    private final ByteBuffer in;
    private final ByteBuffer out;
    private final Pointer inPtr;
    private final Pointer outPtr;
    private final FileAttributes attrs = new FileAttributes();
    private final Syscalls.Calls libc = Syscalls.libc();

    Channel(Session session, int fd) {
        this.session = session;
        this.ops = session.ops();
        this.fd = fd;
        // requests: header + fuse_write_in + max_write; replies: header + max_pages of READ data
        this.in = ByteBuffer.allocateDirect(session.options().maxWrite() + 4096).order(ByteOrder.nativeOrder());
        this.out = ByteBuffer.allocateDirect(MountOptions.MAX_REQUEST + 4096).order(ByteOrder.nativeOrder());
        this.inPtr = wrap(in);
        this.outPtr = wrap(out);
    }

    private static Pointer wrap(ByteBuffer b) {
        return Pointer.wrap(Syscalls.runtime(), MemoryIO.getInstance().getDirectBufferAddress(b), b.capacity());
    }

    int fd() {
        return fd;
    }

    /** Serves until the file system is unmounted (ENODEV). */
    @Override
    public void run() {
        while (true) {
            long n = libc.read(fd, inPtr, in.capacity());
            if (n < 0) {
                int e = Syscalls.errno();
                if (e == Syscalls.EINTR || e == Syscalls.EAGAIN || e == Syscalls.ENOENT) {
                    continue; // interrupted, or the request was aborted before we got it
                }
                if (e != Syscalls.ENODEV) {
                    session.failed(new IOException("read of /dev/fuse: " + Syscalls.describe(e)));
                }
                return;
            }
            if (n < IN_HEADER || in.getInt(IN_LEN) != n) {
                session.failed(new IOException("short FUSE request of " + n + " bytes"));
                return;
            }
            try {
                dispatch(in.getInt(IN_OPCODE), in.getLong(IN_UNIQUE), in.getLong(IN_NODEID), (int) n);
            } catch (RuntimeException e) {
                LOG.error("FUSE request {} failed: {}", in.getInt(IN_OPCODE), e.toString());
                LOG.debug("stack", e);
                reply(in.getLong(IN_UNIQUE), -EIO, 0);
            }
        }
    }

    private void dispatch(int opcode, long unique, long node, int len) {
        final int a = IN_HEADER; // the op's own struct starts after the header
        switch (opcode) {
            case READ -> read(unique, in.getLong(a), in.getLong(a + 8), in.getInt(a + 16));
            case WRITE -> write(unique, in.getLong(a), in.getLong(a + 8), in.getInt(a + 16), len);
            case LOOKUP -> lookup(unique, node, name(a, len));
            case GETATTR -> attrReply(unique, node);
            case SETATTR -> setattr(unique, node, in.getInt(a), in.getLong(a + 8), in.getLong(a + 16));
            case OPEN -> open(unique, node, in.getInt(a));
            case FLUSH -> reply(unique, ops.flush(in.getLong(a)), 0);
            case RELEASE -> reply(unique, ops.release(in.getLong(a)), 0);
            case FSYNC -> reply(unique, ops.fsync(in.getLong(a), (in.getInt(a + 8) & FSYNC_FDATASYNC) != 0), 0);
            case FALLOCATE -> reply(unique, ops.fallocate(in.getLong(a), in.getInt(a + 24), in.getLong(a + 8),
                    in.getLong(a + 16)), 0);
            case LSEEK -> lseek(unique, in.getLong(a), in.getLong(a + 8), in.getInt(a + 16));
            case OPENDIR -> opendir(unique, node);
            case READDIR -> readdir(unique, node, in.getLong(a + 8), in.getInt(a + 16));
            case RELEASEDIR, FSYNCDIR, DESTROY -> reply(unique, 0, 0);
            case STATFS -> statfs(unique);
            case ACCESS -> reply(unique, exists(node), 0);
            case FORGET, BATCH_FORGET, INTERRUPT -> {
                // no reply: ids are never reused (NodeTable), and every request finishes promptly
            }
            case CREATE, MKNOD, MKDIR, SYMLINK, LINK, UNLINK, RMDIR, RENAME, RENAME2, TMPFILE ->
                    reply(unique, ops.refuseChange(path(node)), 0);
            case INIT -> init(unique);
            default -> reply(unique, -ENOSYS, 0);
        }
    }

    // ---- data path ----------------------------------------------------------------------------

    private void read(long unique, long fh, long offset, int size) {
        if (size < 0 || size > out.capacity() - OUT_HEADER) {
            reply(unique, -EINVAL, 0);
            return;
        }
        out.clear().position(OUT_HEADER).limit(OUT_HEADER + size);
        int r = ops.read(fh, out, offset);
        reply(unique, Math.min(r, 0), Math.max(r, 0));
    }

    private void write(long unique, long fh, long offset, int size, int len) {
        int data = IN_HEADER + WRITE_IN;
        if (size < 0 || data + size > len) {
            reply(unique, -EINVAL, 0);
            return;
        }
        in.clear().position(data).limit(data + size);
        int r = ops.write(fh, in, offset);
        if (r < 0) {
            reply(unique, r, 0);
            return;
        }
        out.putInt(OUT_HEADER, r);
        out.putInt(OUT_HEADER + 4, 0);
        reply(unique, 0, WRITE_OUT);
    }

    private void lseek(long unique, long fh, long offset, int whence) {
        long r = ops.lseek(fh, offset, whence);
        if (r < 0) {
            reply(unique, (int) r, 0);
            return;
        }
        out.putLong(OUT_HEADER, r);
        reply(unique, 0, LSEEK_OUT);
    }

    // ---- namespace ----------------------------------------------------------------------------

    private void lookup(long unique, long parent, String name) {
        String dir = path(parent);
        if (dir == null || name == null) {
            reply(unique, -ENOENT, 0);
            return;
        }
        String path = NodeTable.child(dir, name);
        int r = ops.getattr(path, attrs);
        if (r != 0) {
            reply(unique, r, 0);
            return;
        }
        long id = session.nodes().id(path);
        int p = OUT_HEADER;
        out.putLong(p, id);
        out.putLong(p + 8, 0);                  // generation: ids are never reused
        out.putLong(p + 16, VALID_SECONDS);     // entry_valid
        out.putLong(p + 24, VALID_SECONDS);     // attr_valid
        out.putInt(p + 32, 0);
        out.putInt(p + 36, 0);
        putAttr(p + 40, id);
        reply(unique, 0, ENTRY_OUT);
    }

    private void attrReply(long unique, long node) {
        String path = path(node);
        int r = path == null ? -ENOENT : ops.getattr(path, attrs);
        if (r != 0) {
            reply(unique, r, 0);
            return;
        }
        out.putLong(OUT_HEADER, VALID_SECONDS);
        out.putInt(OUT_HEADER + 8, 0);
        out.putInt(OUT_HEADER + 12, 0);
        putAttr(OUT_HEADER + 16, node);
        reply(unique, 0, ATTR_OUT);
    }

    /** struct fuse_attr at {@code p}. */
    private void putAttr(int p, long id) {
        FileAttributes x = attrs;
        out.putLong(p, id);
        out.putLong(p + 8, x.sizeBytes);
        out.putLong(p + 16, x.blocks512);
        out.putLong(p + 24, Math.floorDiv(x.atimeNanos, 1_000_000_000L));
        out.putLong(p + 32, Math.floorDiv(x.mtimeNanos, 1_000_000_000L));
        out.putLong(p + 40, Math.floorDiv(x.ctimeNanos, 1_000_000_000L));
        out.putInt(p + 48, (int) Math.floorMod(x.atimeNanos, 1_000_000_000L));
        out.putInt(p + 52, (int) Math.floorMod(x.mtimeNanos, 1_000_000_000L));
        out.putInt(p + 56, (int) Math.floorMod(x.ctimeNanos, 1_000_000_000L));
        out.putInt(p + 60, x.mode);
        out.putInt(p + 64, x.nlink);
        out.putInt(p + 68, x.uid);
        out.putInt(p + 72, x.gid);
        out.putInt(p + 76, 0);          // rdev
        out.putInt(p + 80, BLKSIZE);
        out.putInt(p + 84, 0);          // flags
    }

    /**
     * Only a size change is a SETATTR the file system can answer (truncate to the same size);
     * mode, owner and times are refused as libfuse's chmod/chown/utimens would be by
     * {@link FuseOps#refuseChange}.
     */
    private void setattr(long unique, long node, int valid, long fh, long size) {
        String path = path(node);
        if (path == null) {
            reply(unique, -ENOENT, 0);
            return;
        }
        int r = 0;
        if ((valid & FATTR_OTHER_CHANGES) != 0) {
            r = ops.refuseChange(path);
        } else if ((valid & FATTR_SIZE) != 0) {
            r = (valid & FATTR_FH) != 0 ? ops.ftruncate(fh, size) : ops.truncate(path, size);
        }
        if (r != 0) {
            reply(unique, r, 0);
            return;
        }
        attrReply(unique, node);
    }

    private void open(long unique, long node, int flags) {
        String path = path(node);
        long h = path == null ? -ENOENT : ops.open(path, flags);
        if (h < 0) {
            reply(unique, (int) h, 0);
            return;
        }
        out.putLong(OUT_HEADER, h);
        out.putInt(OUT_HEADER + 8, FOPEN_PARALLEL_DIRECT_WRITES | (ops.keepCache() ? FOPEN_KEEP_CACHE : 0));
        out.putInt(OUT_HEADER + 12, 0);
        reply(unique, 0, OPEN_OUT);
    }

    private void opendir(long unique, long node) {
        String path = path(node);
        int r = path == null ? -ENOENT : ops.getattr(path, attrs);
        if (r == 0 && (attrs.mode & FileAttributes.S_IFDIR) == 0) {
            r = -ENOTDIR;
        }
        if (r != 0) {
            reply(unique, r, 0);
            return;
        }
        out.putLong(OUT_HEADER, 0);
        out.putLong(OUT_HEADER + 8, 0);
        reply(unique, 0, OPEN_OUT);
    }

    /** "." and ".." then the children; an entry's offset is its index + 1 (where the next read starts). */
    private void readdir(long unique, long node, long offset, int size) {
        String path = path(node);
        if (path == null) {
            reply(unique, -ENOENT, 0);
            return;
        }
        List<String> names = new ArrayList<>(List.of(".", ".."));
        int r = ops.readdir(path, names::add);
        if (r != 0) {
            reply(unique, r, 0);
            return;
        }
        int limit = Math.min(size, out.capacity() - OUT_HEADER);
        int p = 0;
        for (int i = (int) Math.max(0, Math.min(offset, names.size())); i < names.size(); i++) {
            String name = names.get(i);
            byte[] bytes = name.getBytes(StandardCharsets.UTF_8);
            int rec = (DIRENT_NAME + bytes.length + 7) & ~7;
            if (p + rec > limit) {
                break;
            }
            boolean dir;
            long ino;
            if (i < 2) {
                dir = true;
                ino = i == 0 ? node : Protocol.ROOT_ID;
            } else {
                String child = NodeTable.child(path, name);
                dir = ops.getattr(child, attrs) == 0 && (attrs.mode & FileAttributes.S_IFDIR) != 0;
                ino = session.nodes().id(child);
            }
            int at = OUT_HEADER + p;
            out.putLong(at, ino);
            out.putLong(at + 8, i + 1);
            out.putInt(at + 16, bytes.length);
            out.putInt(at + 20, dir ? DT_DIR : DT_REG);
            out.put(at + DIRENT_NAME, bytes);
            for (int z = DIRENT_NAME + bytes.length; z < rec; z++) {
                out.put(at + z, (byte) 0);
            }
            p += rec;
        }
        reply(unique, 0, p);
    }

    private void statfs(long unique) {
        FsStats s = ops.statfs();
        int p = OUT_HEADER;
        for (int i = 0; i < STATFS_OUT; i += 8) {
            out.putLong(p + i, 0);
        }
        out.putLong(p, s.totalBlocks());
        out.putLong(p + 8, s.freeBlocks());
        out.putLong(p + 16, s.freeBlocks());
        out.putLong(p + 24, s.files());
        out.putInt(p + 40, (int) s.blockSizeBytes());
        out.putInt(p + 44, (int) s.nameMax());
        out.putInt(p + 48, (int) s.blockSizeBytes());
        reply(unique, 0, STATFS_OUT);
    }

    private int exists(long node) {
        String path = path(node);
        return path == null ? -ENOENT : ops.getattr(path, attrs);
    }

    // ---- INIT ---------------------------------------------------------------------------------

    /**
     * Negotiation (fuse.h "INIT request/reply flags"): asynchronous and parallel reads, async
     * direct I/O, big writes, {@code max_pages} for 1 MiB requests; {@code max_write} bounds only
     * WRITEs (fuse_dev_do_read sizes its check by it, fuse_direct_io and readahead by max_pages),
     * so a smaller max_write keeps 1 MiB reads. No writeback cache: a write
     * reaches the image before its reply, so flush and fsync keep their meaning.
     */
    private void init(long unique) {
        int a = IN_HEADER;
        int major = in.getInt(a);
        int minor = in.getInt(a + 4);
        int readahead = in.getInt(a + 8);
        int kernelFlags = in.getInt(a + 12);
        if (major != MAJOR) {
            LOG.error("kernel FUSE protocol {}.{} is not {}.x", major, minor, MAJOR);
            reply(unique, -EPROTO, 0);
            return;
        }
        int maxWrite = session.options().maxWrite();
        int want = ASYNC_READ | BIG_WRITES | ASYNC_DIO | PARALLEL_DIROPS | MAX_PAGES;
        int p = OUT_HEADER;
        for (int i = 0; i < INIT_OUT; i += 8) {
            out.putLong(p + i, 0);
        }
        out.putInt(p, MAJOR);
        out.putInt(p + 4, Math.min(minor, MINOR));
        out.putInt(p + 8, readahead);
        out.putInt(p + 12, want & kernelFlags);
        out.putShort(p + 16, (short) Session.MAX_BACKGROUND);
        out.putShort(p + 18, (short) (Session.MAX_BACKGROUND * 3 / 4));
        out.putInt(p + 20, maxWrite);
        out.putInt(p + 24, 1);                                  // time_gran: nanoseconds
        out.putShort(p + 28, (short) (MountOptions.MAX_REQUEST / 4096)); // max_pages
        LOG.debug("FUSE INIT: kernel {}.{} flags 0x{}, readahead {}; answering {}.{} flags 0x{} max_write {}",
                major, minor, Integer.toHexString(kernelFlags), readahead, MAJOR, Math.min(minor, MINOR),
                Integer.toHexString(want & kernelFlags), maxWrite);
        reply(unique, 0, INIT_OUT);
        session.initialized();
    }

    // ---- plumbing -----------------------------------------------------------------------------

    private String path(long node) {
        return session.nodes().path(node);
    }

    /** The NUL-terminated name after the header; null when it is not a usable name. */
    private String name(int at, int len) {
        int end = at;
        while (end < len && in.get(end) != 0) {
            end++;
        }
        if (end == at || end == len) {
            return null;
        }
        byte[] b = new byte[end - at];
        in.get(at, b);
        String s = new String(b, StandardCharsets.UTF_8);
        return s.equals(".") || s.equals("..") || s.indexOf('/') >= 0 ? null : s;
    }

    /** One write(2): the header (error or success) and {@code payload} bytes already in place. */
    private void reply(long unique, int error, int payload) {
        int len = OUT_HEADER + (error == 0 ? payload : 0);
        out.putInt(OUT_LEN, len);
        out.putInt(OUT_ERROR, error);
        out.putLong(OUT_UNIQUE, unique);
        long n = libc.write(fd, outPtr, len);
        if (n < 0) {
            int e = Syscalls.errno();
            // ENOENT: the request was interrupted and the kernel no longer waits for it
            if (e != Syscalls.ENOENT && e != Syscalls.ENODEV) {
                LOG.warn("FUSE reply to {}: {}", unique, Syscalls.describe(e));
            }
        }
    }
}
