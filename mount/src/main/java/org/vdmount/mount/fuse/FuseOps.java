package org.vdmount.mount.fuse;

import java.nio.ByteBuffer;
import java.util.function.Consumer;

/**
 * The filesystem as a FUSE binding sees it, free of any binding's types (jnr-fuse today, a
 * libfuse3 binding later). Every int result is 0 (or a byte count) on success and a negated
 * errno on failure. Handles come from {@link #open} and identify the file in later calls, so the
 * read/write path never looks at the path string.
 */
public interface FuseOps {

    int FALLOC_FL_KEEP_SIZE = 0x01;
    int FALLOC_FL_PUNCH_HOLE = 0x02;
    int FALLOC_FL_ZERO_RANGE = 0x10;

    int SEEK_DATA = 3;
    int SEEK_HOLE = 4;

    int O_ACCMODE = 03;
    int O_RDONLY = 0;

    /** The kernel finished the INIT handshake: requests can be served. */
    void initialized();

    int getattr(String path, FileAttributes out);

    /** Lists a directory's entries (without "." and ".."). */
    int readdir(String path, Consumer<String> names);

    /** Opens a file: a handle (>= 0) or a negated errno. */
    long open(String path, int flags);

    /** Whether the kernel may keep cached pages across opens (the content cannot change). */
    boolean keepCache();

    /** Reads up to dst.remaining() bytes; returns the count (short only at the end) or -errno. */
    int read(long handle, ByteBuffer dst, long offset);

    /** Writes src.remaining() bytes; returns the count (short only at the end) or -errno. */
    int write(long handle, ByteBuffer src, long offset);

    /** close(2) of one descriptor. */
    int flush(long handle);

    int fsync(long handle, boolean dataOnly);

    int release(long handle);

    int truncate(String path, long sizeBytes);

    int ftruncate(long handle, long sizeBytes);

    int fallocate(long handle, int mode, long offset, long length);

    FsStats statfs();

    /**
     * lseek(2) with {@link #SEEK_DATA} or {@link #SEEK_HOLE}: the offset of the next data or hole
     * at or after {@code offset}, or a negated errno (ENXIO at or past the end). A binding without
     * an lseek upcall never calls it; the default answers ENOSYS, after which the kernel treats
     * the whole file as data.
     */
    default long lseek(long handle, long offset, int whence) {
        return -38; // ENOSYS
    }

    /** Anything that would change the namespace or metadata (create, unlink, chmod, utimens...). */
    int refuseChange(String path);
}
