package org.vdmount.mount;

import java.io.Closeable;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.FileTime;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.function.Consumer;
import org.vdmount.partitions.Partition;
import org.vdmount.partitions.PartitionTable;
import org.vdmount.vd.Disk;
import org.vdmount.vd.ImageFormat;
import org.vdmount.vd.OpenOptions;
import org.vdmount.vd.OverlayDisk;

/**
 * One IMAGE argument, opened: its chain as a {@link Disk} and the files shown for it ({@code disk}
 * and one {@code p<N>} per partition).
 */
final class Volume implements Closeable {

    /** A file of this volume: its name and the slice of the disk it shows. */
    record Entry(String name, DiskSlice slice) {
    }

    private final Path image;
    private final Disk disk;
    private final List<Entry> entries;
    private volatile boolean dirty;

    private Volume(Path image, Disk disk, List<Entry> entries) {
        this.image = image;
        this.disk = disk;
        this.entries = List.copyOf(entries);
    }

    /**
     * Opens the image (and its parents) and reads its partition table.
     *
     * @param snapshot an internal snapshot to open instead of the current state, or null
     */
    static Volume open(Path image, ImageFormat format, OpenOptions options, String snapshot) throws IOException {
        Disk disk = snapshot != null ? Disk.openSnapshot(image, format, snapshot, options)
                : format != null ? Disk.open(image, format, options) : Disk.open(image, options);
        return over(image, disk, options);
    }

    /**
     * Opens {@code image}'s chain read-only under a writable {@code overlay} ({@link OverlayDisk}):
     * the overlay is created if missing; writes land in it alone.
     */
    static Volume overlay(Path image, ImageFormat format, Path overlay, OpenOptions options) throws IOException {
        return over(image, OverlayDisk.open(overlay, image, format, options), options);
    }

    /** The volume over an opened {@code disk}, its partitions read; on failure the disk is closed. */
    private static Volume over(Path image, Disk disk, OpenOptions options) throws IOException {
        try {
            return new Volume(image, disk, entries(disk, options::warn));
        } catch (IOException | RuntimeException e) {
            try {
                disk.close();
            } catch (IOException suppressed) {
                e.addSuppressed(suppressed);
            }
            throw e;
        }
    }

    /** A volume over an already opened disk (tests). */
    static Volume of(Path image, Disk disk, Consumer<String> warnings) throws IOException {
        return new Volume(image, disk, entries(disk, warnings));
    }

    private static List<Entry> entries(Disk disk, Consumer<String> warnings) throws IOException {
        List<Entry> out = new ArrayList<>();
        out.add(new Entry("disk", DiskSlice.whole(disk)));
        PartitionTable table = DiskPartitions.read(disk, warnings);
        for (Partition p : table.partitions()) {
            long start = p.startByte();
            long len = p.lengthBytes();
            if (start < 0 || len <= 0 || start >= disk.size()) {
                warnings.accept("partition " + p.number() + " at byte " + start + " lies outside the disk of "
                        + disk.size() + " bytes; not shown");
                continue;
            }
            if (len > disk.size() - start) {
                warnings.accept("partition " + p.number() + " runs past the end of the disk; cut to "
                        + (disk.size() - start) + " bytes");
                len = disk.size() - start;
            }
            if (p.isExtendedContainer()) {
                len = Math.min(len, extendedStubLength(table.sectorSize()));
            }
            out.add(new Entry("p" + p.number(), new DiskSlice(disk, start, len)));
        }
        return out;
    }

    /**
     * How much of an MBR extended container its file shows: as Linux (block/partitions/msdos.c),
     * two 512-byte sectors or one logical sector, whichever is larger — its first EBR (the boot
     * loader room Linux keeps), never the logical partitions inside, which have their own files.
     */
    static long extendedStubLength(int sectorSize) {
        return Math.max(1024, sectorSize);
    }

    Path image() {
        return image;
    }

    Disk disk() {
        return disk;
    }

    List<Entry> entries() {
        return entries;
    }

    /** Called after every completed write, so {@link #flushIfDirty} knows there is work. */
    void markDirty() {
        if (!dirty) {
            dirty = true;
        }
    }

    /** Flushes when something was written since the last flush (close(2) of a file). */
    void flushIfDirty() throws IOException {
        if (dirty) {
            dirty = false;
            disk.flush();
        }
    }

    /** Always flushes (fsync(2)). */
    void flush() throws IOException {
        dirty = false;
        disk.flush();
    }

    /**
     * The top image's modification and change times, in nanoseconds since the epoch: the latest
     * over all its files (a VMDK's writes land in its extents, not its descriptor).
     */
    long[] topTimesNanos() {
        long mtime = 0;
        long ctime = 0;
        for (Path f : disk.top().files()) {
            try {
                long m = Files.getLastModifiedTime(f).to(TimeUnit.NANOSECONDS);
                Object c = Files.getAttribute(f, "unix:ctime");
                mtime = Math.max(mtime, m);
                ctime = Math.max(ctime, c instanceof FileTime ct ? ct.to(TimeUnit.NANOSECONDS) : m);
            } catch (IOException | RuntimeException e) {
                // a file that vanished or cannot be stat'ed adds nothing
            }
        }
        return new long[] {mtime, ctime};
    }

    @Override
    public void close() throws IOException {
        disk.close();
    }
}
