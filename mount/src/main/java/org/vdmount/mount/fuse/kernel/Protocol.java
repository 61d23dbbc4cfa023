package org.vdmount.mount.fuse.kernel;

/**
 * The kernel FUSE protocol, 7.x, as include/uapi/linux/fuse.h defines it: opcodes, INIT flags and
 * the byte offsets of the struct fields this transport reads and writes (native byte order,
 * every struct padded to 8 bytes).
 */
final class Protocol {
    static final int MAJOR = 7;
    /** The newest minor whose struct layouts this transport writes (fuse.h 7.38). */
    static final int MINOR = 38;
    static final long ROOT_ID = 1;

    // ---- opcodes (enum fuse_opcode) ----
    static final int LOOKUP = 1;
    static final int FORGET = 2;
    static final int GETATTR = 3;
    static final int SETATTR = 4;
    static final int SYMLINK = 6;
    static final int MKNOD = 8;
    static final int MKDIR = 9;
    static final int UNLINK = 10;
    static final int RMDIR = 11;
    static final int RENAME = 12;
    static final int LINK = 13;
    static final int OPEN = 14;
    static final int READ = 15;
    static final int WRITE = 16;
    static final int STATFS = 17;
    static final int RELEASE = 18;
    static final int FSYNC = 20;
    static final int FLUSH = 25;
    static final int INIT = 26;
    static final int OPENDIR = 27;
    static final int READDIR = 28;
    static final int RELEASEDIR = 29;
    static final int FSYNCDIR = 30;
    static final int ACCESS = 34;
    static final int CREATE = 35;
    static final int INTERRUPT = 36;
    static final int DESTROY = 38;
    static final int BATCH_FORGET = 42;
    static final int FALLOCATE = 43;
    static final int RENAME2 = 45;
    static final int LSEEK = 46;
    static final int TMPFILE = 51;

    // ---- INIT flags (fuse_init_in/out.flags) ----
    static final int ASYNC_READ = 1;
    static final int BIG_WRITES = 1 << 5;
    static final int ASYNC_DIO = 1 << 15;
    static final int PARALLEL_DIROPS = 1 << 18;
    static final int MAX_PAGES = 1 << 22;

    // ---- fuse_open_out.open_flags ----
    static final int FOPEN_KEEP_CACHE = 1 << 1;
    static final int FOPEN_PARALLEL_DIRECT_WRITES = 1 << 6;

    // ---- fuse_setattr_in.valid ----
    static final int FATTR_MODE = 1;
    static final int FATTR_UID = 1 << 1;
    static final int FATTR_GID = 1 << 2;
    static final int FATTR_SIZE = 1 << 3;
    static final int FATTR_ATIME = 1 << 4;
    static final int FATTR_MTIME = 1 << 5;
    static final int FATTR_FH = 1 << 6;
    static final int FATTR_ATIME_NOW = 1 << 7;
    static final int FATTR_MTIME_NOW = 1 << 8;
    static final int FATTR_CTIME = 1 << 10;
    /** Every bit that asks for a change other than the size. */
    static final int FATTR_OTHER_CHANGES = FATTR_MODE | FATTR_UID | FATTR_GID | FATTR_ATIME | FATTR_MTIME
            | FATTR_ATIME_NOW | FATTR_MTIME_NOW | FATTR_CTIME;

    static final int FSYNC_FDATASYNC = 1;

    // ---- struct fuse_in_header (40 bytes) ----
    static final int IN_LEN = 0;
    static final int IN_OPCODE = 4;
    static final int IN_UNIQUE = 8;
    static final int IN_NODEID = 16;
    static final int IN_HEADER = 40;

    // ---- struct fuse_out_header (16 bytes) ----
    static final int OUT_LEN = 0;
    static final int OUT_ERROR = 4;
    static final int OUT_UNIQUE = 8;
    static final int OUT_HEADER = 16;

    /** struct fuse_attr. */
    static final int ATTR_SIZE = 88;
    /** struct fuse_entry_out: nodeid, generation, entry_valid, attr_valid, their nsecs, attr. */
    static final int ENTRY_OUT = 40 + ATTR_SIZE;
    /** struct fuse_attr_out: attr_valid, attr_valid_nsec, dummy, attr. */
    static final int ATTR_OUT = 16 + ATTR_SIZE;
    static final int INIT_OUT = 64;
    static final int OPEN_OUT = 16;
    static final int WRITE_OUT = 8;
    static final int STATFS_OUT = 80;
    static final int LSEEK_OUT = 8;
    /** struct fuse_write_in, before the data. */
    static final int WRITE_IN = 40;
    /** struct fuse_dirent before the name. */
    static final int DIRENT_NAME = 24;

    static final int DT_DIR = 4;
    static final int DT_REG = 8;

    private Protocol() {
    }
}
