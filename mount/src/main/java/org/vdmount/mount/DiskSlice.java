package org.vdmount.mount;

import java.io.IOException;
import java.nio.ByteBuffer;
import org.vdmount.vd.Disk;

/**
 * A byte range of a {@link Disk} seen as a device of its own: the whole disk, or one partition.
 * The nbdkit partition-filter idea: add the offset, clip to the bounds, call the disk. Offsets
 * are relative to the slice; callers clip requests with {@link #clip} first, and the checks here
 * guarantee a partition can never touch bytes outside itself.
 */
public final class DiskSlice {
    private final Disk disk;
    private final long startBytes;
    private final long lengthBytes;

    public DiskSlice(Disk disk, long startBytes, long lengthBytes) {
        if (startBytes < 0 || lengthBytes < 0 || startBytes + lengthBytes > disk.size()
                || startBytes + lengthBytes < 0) {
            throw new IllegalArgumentException("slice 0x" + Long.toHexString(startBytes) + "+" + lengthBytes
                    + " outside disk of " + disk.size() + " bytes");
        }
        this.disk = disk;
        this.startBytes = startBytes;
        this.lengthBytes = lengthBytes;
    }

    public static DiskSlice whole(Disk disk) {
        return new DiskSlice(disk, 0, disk.size());
    }

    public Disk disk() {
        return disk;
    }

    public long startBytes() {
        return startBytes;
    }

    public long lengthBytes() {
        return lengthBytes;
    }

    /** How many of {@code length} bytes at {@code offset} lie inside the slice (0 at or past the end). */
    public long clip(long offset, long length) {
        if (offset >= lengthBytes) {
            return 0;
        }
        return Math.min(length, lengthBytes - offset);
    }

    /** Fills dst (position to limit) with the slice's bytes at {@code offset}. */
    public void read(long offset, ByteBuffer dst) throws IOException {
        check(offset, dst.remaining());
        disk.read(startBytes + offset, dst);
    }

    /** Writes src (position to limit) at {@code offset}. */
    public void write(long offset, ByteBuffer src) throws IOException {
        check(offset, src.remaining());
        disk.write(startBytes + offset, src);
    }

    /** The range reads as zeros afterwards; whole blocks give space back. */
    public void discard(long offset, long length) throws IOException {
        check(offset, length);
        disk.discard(startBytes + offset, length);
    }

    /** The range reads as zeros afterwards (efficient zeroing). */
    public void zero(long offset, long length) throws IOException {
        check(offset, length);
        disk.zero(startBytes + offset, length);
    }

    /** The chain's allocation for a run at {@code offset}, at most {@code maxLength} bytes (see {@code Run}). */
    public long map(long offset, long maxLength) throws IOException {
        check(offset, 1);
        return disk.map(startBytes + offset, Math.min(maxLength, lengthBytes - offset));
    }

    public void flush() throws IOException {
        disk.flush();
    }

    private void check(long offset, long length) {
        if (offset < 0 || length < 0 || offset + length > lengthBytes || offset + length < 0) {
            throw new IndexOutOfBoundsException("range 0x" + Long.toHexString(offset) + "+" + length
                    + " outside slice of " + lengthBytes + " bytes");
        }
    }
}
