package org.vdmount.vd.storage;

import com.sun.nio.file.ExtendedOpenOption;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.List;
import org.vdmount.vd.ReadOnlyException;
import org.vdmount.vd.TruncatedImageException;
import org.vdmount.vd.nativeio.HostFiles;

/**
 * One host file through a {@link FileChannel}. Read-only storages open the file O_RDONLY. Every
 * storage holds QEMU-style locks on its file while open ({@link ImageLock}).
 */
public final class FileStorage implements Storage {
    private final Path path;
    private final FileChannel channel;
    private final boolean readOnly;
    private final ImageLock lock;
    /**
     * A second descriptor of the file opened O_DIRECT ({@link #directWrites()}), or null; set
     * back to null when the file system refuses a direct write, which is then done buffered.
     */
    private volatile FileChannel direct;
    /** That descriptor while it is open (closed with the storage), or null. */
    private FileChannel directOpened;
    /** The alignment the JDK demands of direct I/O on this file system (its block size). */
    private volatile int directAlign;

    private FileStorage(Path path, FileChannel channel, boolean readOnly, ImageLock lock) {
        this.path = path;
        this.channel = channel;
        this.readOnly = readOnly;
        this.lock = lock;
    }

    /**
     * Opens {@code path} read-only or for writing, taking QEMU's locks for that kind of open
     * ({@link ImageLock}) before anything is read; a conflicting user fails the open in one line.
     */
    public static FileStorage open(Path path, boolean readOnly) throws IOException {
        FileChannel ch = readOnly ? FileChannel.open(path, StandardOpenOption.READ)
                : FileChannel.open(path, StandardOpenOption.READ, StandardOpenOption.WRITE);
        return locked(path, ch, readOnly);
    }

    /** Creates a new file, locked as a writable open; fails if it exists. */
    public static FileStorage create(Path path) throws IOException {
        return locked(path, FileChannel.open(path, StandardOpenOption.READ, StandardOpenOption.WRITE,
                StandardOpenOption.CREATE_NEW), false);
    }

    private static FileStorage locked(Path path, FileChannel ch, boolean readOnly) throws IOException {
        try {
            return new FileStorage(path, ch, readOnly, ImageLock.acquire(path, !readOnly));
        } catch (IOException | RuntimeException e) {
            ch.close();
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
        int total = 0;
        while (dst.hasRemaining()) {
            int n = channel.read(dst, pos + total);
            if (n < 0) {
                break;
            }
            total += n;
        }
        return total;
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
            d = FileChannel.open(path, StandardOpenOption.WRITE, ExtendedOpenOption.DIRECT);
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
        synchronized (this) {
            d0 = directOpened;
        }
        try (FileChannel d = d0) {
            channel.close();
        } finally {
            lock.close();
        }
    }

    private void checkWritable() throws ReadOnlyException {
        if (readOnly) {
            throw new ReadOnlyException("write to " + path + " refused: opened read-only");
        }
    }
}
