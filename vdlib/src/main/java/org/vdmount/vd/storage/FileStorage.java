package org.vdmount.vd.storage;

import com.sun.nio.file.ExtendedOpenOption;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.ClosedChannelException;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.OpenOption;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.List;
import java.util.Set;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicReferenceArray;
import org.vdmount.vd.ReadOnlyException;
import org.vdmount.vd.TruncatedImageException;
import org.vdmount.vd.nativeio.FileAnchor;
import org.vdmount.vd.nativeio.HostFiles;

/**
 * One host file through a {@link FileChannel}. Read-only storages open the file O_RDONLY. Every
 * storage holds QEMU-style locks on its file while open ({@link ImageLock}).
 *
 * <p>Reads go through one read-only channel per stripe of threads ({@link #READ_STRIPES}, one per
 * core up to 16), each opened on first use through a {@link FileAnchor} taken at open, so every
 * channel is the same file whatever happens to its name. One channel for all would serialise the
 * readers: the JDK's positional read enters a monitor of its channel twice per call
 * ({@code sun.nio.ch.NativeThreadSet}), and with many threads they queue and park on it (16
 * threads on 2 cores: 0.44–0.50M 4 KiB reads/s through one channel, 0.57–0.63M through
 * striped ones). Writes, size and flush use the main channel, which stripe 0 reads through too.
 */
public final class FileStorage implements Storage {
    /** Reader channels per file at most: one per core, up to 16 (1: no extra channels). */
    static final int READ_STRIPES = Math.max(1, Math.min(16, Runtime.getRuntime().availableProcessors()));
    private static final AtomicInteger NEXT_STRIPE = new AtomicInteger();
    /** Each thread's stripe, dealt round robin as threads first read (the first one gets stripe 0). */
    private static final ThreadLocal<Integer> STRIPE =
            ThreadLocal.withInitial(() -> Math.floorMod(NEXT_STRIPE.getAndIncrement(), READ_STRIPES));

    private final Path path;
    private final FileChannel channel;
    private final boolean readOnly;
    private final ImageLock lock;
    /** The file as opened, for opening it again (reader channels, O_DIRECT); null: by name. */
    private final FileAnchor anchor;
    /**
     * Stripe i's reader channel once opened, or the main channel where the stripe has none of its own
     * (index 0 is unused: stripe 0 reads through the main channel); null without an anchor.
     */
    private final AtomicReferenceArray<FileChannel> readers;
    /** Set by {@link #close()}; guarded by this. */
    private boolean closed;
    /**
     * A second descriptor of the file opened O_DIRECT ({@link #directWrites()}), or null; set
     * back to null when the file system refuses a direct write, which is then done buffered.
     */
    private volatile FileChannel direct;
    /** That descriptor while it is open (closed with the storage), or null. */
    private FileChannel directOpened;
    /** The alignment the JDK demands of direct I/O on this file system (its block size). */
    private volatile int directAlign;

    private FileStorage(Path path, FileChannel channel, FileAnchor anchor, boolean readOnly, ImageLock lock) {
        this.path = path;
        this.channel = channel;
        this.anchor = anchor;
        this.readers = anchor == null || READ_STRIPES == 1 ? null : new AtomicReferenceArray<>(READ_STRIPES);
        this.readOnly = readOnly;
        this.lock = lock;
    }

    /**
     * Opens {@code path} read-only or for writing, taking QEMU's locks for that kind of open
     * ({@link ImageLock}) before anything is read; a conflicting user fails the open in one line.
     *
     * <p>The file is anchored first ({@link FileAnchor}) and everything else is opened through the
     * anchor: the data channel, the locks, later the reader and O_DIRECT channels. So all of them
     * are one file, even if its name is renamed or replaced while this runs (locks placed by name
     * could land on the other file and leave this one unguarded). Where the open through the
     * anchor fails, or there is none, the file is opened by name: a failure is then the JDK's own
     * exception, naming {@code path}.
     */
    public static FileStorage open(Path path, boolean readOnly) throws IOException {
        Set<OpenOption> how = readOnly ? Set.of(StandardOpenOption.READ)
                : Set.of(StandardOpenOption.READ, StandardOpenOption.WRITE);
        FileAnchor anchor = FileAnchor.open(path);
        FileChannel ch = null;
        if (anchor != null) {
            try {
                ch = FileChannel.open(anchor.path(), how);
            } catch (IOException e) {
                anchor.close(); // no access (or no /proc after all): the open by name says so, naming the file
                anchor = null;
            }
        }
        if (ch == null) {
            ch = FileChannel.open(path, how);
        }
        return locked(path, ch, anchor, readOnly);
    }

    /** Creates a new file, locked as a writable open; fails if it exists. */
    public static FileStorage create(Path path) throws IOException {
        FileChannel ch = FileChannel.open(path, StandardOpenOption.READ, StandardOpenOption.WRITE,
                StandardOpenOption.CREATE_NEW);
        FileAnchor anchor;
        try {
            anchor = FileAnchor.open(path); // the file just made, unless someone replaced it within microseconds
        } catch (RuntimeException e) {
            ch.close();
            throw e;
        }
        return locked(path, ch, anchor, false);
    }

    /** The storage of {@code ch}, with its locks taken through {@code anchor} (by name without one). */
    private static FileStorage locked(Path path, FileChannel ch, FileAnchor anchor, boolean readOnly)
            throws IOException {
        try {
            ImageLock lock = ImageLock.acquire(path, anchor != null ? anchor.path() : path, !readOnly);
            return new FileStorage(path, ch, anchor, readOnly, lock);
        } catch (IOException | RuntimeException e) {
            try (FileAnchor a = anchor) {
                ch.close();
            }
            throw e;
        }
    }

    @Override
    public Path path() {
        return path;
    }

    @Override
    public List<Path> files() {
        return List.of(path);
    }

    @Override
    public boolean readOnly() {
        return readOnly;
    }

    @Override
    public long size() throws IOException {
        return channel.size();
    }

    @Override
    public int read(ByteBuffer dst, long pos) throws IOException {
        FileChannel ch = reader();
        int total = 0;
        while (dst.hasRemaining()) {
            int n = ch.read(dst, pos + total);
            if (n < 0) {
                break;
            }
            total += n;
        }
        return total;
    }

    /** The channel this thread reads through: its stripe's (opened now if need be), or the main one. */
    private FileChannel reader() throws IOException {
        AtomicReferenceArray<FileChannel> rs = readers;
        int s;
        if (rs == null || (s = STRIPE.get()) == 0) {
            return channel;
        }
        FileChannel c = rs.get(s);
        return c != null && c.isOpen() ? c : openReader(s);
    }

    /**
     * Opens stripe {@code s}'s reader channel (again, when an interrupted read closed it), read-only
     * through the anchor. Where that cannot be done ({@link DescriptorBudget} spent, the open
     * failed), the stripe reads through the main channel from now on.
     */
    private synchronized FileChannel openReader(int s) throws IOException {
        if (closed) {
            throw new ClosedChannelException();
        }
        FileChannel c = readers.get(s);
        if (c != null && c.isOpen()) {
            return c;
        }
        if (c != null && c != channel) {
            DescriptorBudget.give(); // closed by an interrupted read
        }
        c = channel;
        if (DescriptorBudget.take()) {
            try {
                c = FileChannel.open(anchor.path(), StandardOpenOption.READ);
            } catch (IOException e) {
                DescriptorBudget.give();
            }
        }
        readers.set(s, c);
        return c;
    }

    @Override
    public void readFully(ByteBuffer dst, long pos, String format, String structure) throws IOException {
        int want = dst.remaining();
        if (read(dst, pos) < want) {
            throw new TruncatedImageException(format, path, structure, pos, want, size());
        }
    }

    @Override
    public void write(ByteBuffer src, long pos) throws IOException {
        checkWritable();
        int admitted = WriteFault.admitWrite(pos, src.remaining());
        if (admitted >= 0) {
            writeCut(src, pos, admitted);
            return;
        }
        FileChannel d = direct;
        if (d != null && directFits(src, pos) && writeDirect(d, src, pos)) {
            return;
        }
        int start = src.position();
        try {
            writeAll(channel, src, pos);
        } catch (IOException e) {
            throw named(e, "writing at offset " + (pos + src.position() - start));
        }
    }

    /** Writes all of {@code src} at {@code pos} (a positional write may take only part of it). */
    private static void writeAll(FileChannel ch, ByteBuffer src, long pos) throws IOException {
        long base = pos - src.position(); // file offset of buffer index 0
        while (src.hasRemaining()) {
            ch.write(src, base + src.position());
        }
    }

    @Override
    public synchronized boolean directWrites() throws IOException {
        checkWritable();
        if (directOpened != null) {
            return direct != null;
        }
        int align;
        FileChannel d;
        try {
            align = Math.toIntExact(Files.getFileStore(path).getBlockSize());
            d = FileChannel.open(anchor != null ? anchor.path() : path, StandardOpenOption.WRITE,
                    ExtendedOpenOption.DIRECT);
        } catch (IOException | UnsupportedOperationException | ArithmeticException e) {
            return false; // EINVAL: a file system without O_DIRECT (tmpfs before Linux 6.6, some FUSE ones)
        }
        if (align <= 0 || Integer.bitCount(align) != 1) {
            d.close();
            return false;
        }
        directAlign = align;
        directOpened = d;
        direct = d;
        return true;
    }

    /** A write O_DIRECT can take: whole aligned blocks, from a direct buffer at an aligned address. */
    private boolean directFits(ByteBuffer src, long pos) {
        int a = directAlign;
        int n = src.remaining();
        return src.isDirect() && n > 0 && (pos & (a - 1)) == 0 && (n & (a - 1)) == 0
                && src.alignmentOffset(src.position(), a) == 0;
    }

    /**
     * Writes all of {@code src} through the O_DIRECT descriptor; false (nothing consumed) when the
     * file system refuses it (EINVAL: direct I/O is not supported after all), which turns direct
     * writes off for good. Any other error is the write's error.
     */
    private boolean writeDirect(FileChannel d, ByteBuffer src, long pos) throws IOException {
        int start = src.position();
        try {
            writeAll(d, src, pos);
            return true;
        } catch (IOException e) {
            if (!"Invalid argument".equals(e.getMessage())) {
                throw named(e, "writing at offset " + (pos + src.position() - start));
            }
            direct = null;
            src.position(start);
            return false;
        }
    }

    /**
     * A host error (EFBIG, ENOSPC, EIO: a plain IOException whose message is only strerror) with
     * this file's name and what was being done; any other exception as it is.
     */
    private IOException named(IOException e, String doing) {
        if (e.getClass() != IOException.class) {
            return e;
        }
        return new IOException(path + ": " + e.getMessage() + " (" + doing + ")", e);
    }

    /** The fatal write of an armed {@link WriteFault}: only its first {@code keep} bytes land. */
    private void writeCut(ByteBuffer src, long pos, int keep) throws IOException {
        if (keep > 0) {
            ByteBuffer part = src.duplicate();
            part.limit(part.position() + keep);
            writeAll(channel, part, pos);
        }
        WriteFault.afterCutWrite();
        src.position(src.limit());
    }

    @Override
    public void truncate(long size) throws IOException {
        checkWritable();
        if (!WriteFault.admitChange()) {
            return;
        }
        try {
            if (size < channel.size()) {
                channel.truncate(size);
            } else if (size > channel.size()) {
                channel.write(ByteBuffer.allocate(1), size - 1);
            }
        } catch (IOException e) {
            throw named(e, "setting its size to " + size + " bytes");
        }
    }

    @Override
    public boolean punchHole(long pos, long length) throws IOException {
        checkWritable();
        if (!WriteFault.admitChange()) {
            return true;
        }
        return HostFiles.punchHole(path, pos, length);
    }

    @Override
    public void force() throws IOException {
        if (!readOnly && WriteFault.admitForce()) {
            try {
                channel.force(true);
            } catch (IOException e) {
                throw named(e, "flushing it");
            }
        }
    }

    @Override
    public long allocatedBytes() throws IOException {
        return HostFiles.allocatedBytes(path);
    }

    @Override
    public void close() throws IOException {
        FileChannel d0;
        FileChannel[] rs;
        synchronized (this) {
            closed = true;
            d0 = directOpened;
            rs = new FileChannel[readers == null ? 0 : readers.length()];
            for (int i = 0; i < rs.length; i++) {
                rs[i] = readers.get(i) == channel ? null : readers.get(i);
            }
        }
        try (ImageLock l = lock; FileAnchor a = anchor; FileChannel d = d0) {
            for (FileChannel r : rs) {
                if (r != null) {
                    DescriptorBudget.give();
                    r.close();
                }
            }
            channel.close();
        }
    }

    private void checkWritable() throws ReadOnlyException {
        if (readOnly) {
            throw new ReadOnlyException("write to " + path + " refused: opened read-only");
        }
    }
}
