package org.vdmount.mount.fuse;

/** A binding-neutral stat(2) answer that a {@link FuseBinding} copies into its native struct. */
public final class FileAttributes {
    public static final int S_IFDIR = 0040000;
    public static final int S_IFREG = 0100000;

    public int mode;
    public int nlink;
    public long sizeBytes;
    /** 512-byte units, as st_blocks. */
    public long blocks512;
    public int uid;
    public int gid;
    public long atimeNanos;
    public long mtimeNanos;
    public long ctimeNanos;
}
