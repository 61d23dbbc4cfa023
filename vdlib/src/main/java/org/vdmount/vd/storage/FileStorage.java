package org.vdmount.vd.storage;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.channels.OverlappingFileLockException;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.List;
import org.vdmount.vd.ReadOnlyException;
import org.vdmount.vd.TruncatedImageException;
import org.vdmount.vd.VdException;
import org.vdmount.vd.nativeio.HostFiles;

/** One host file through a {@link FileChannel}. Read-only storages open the file O_RDONLY. */
public final class FileStorage implements Storage {
    /** The byte whose lock marks the one writer of a file (see {@link #lockedForWriting}). */
    public static final long WRITER_LOCK_BYTE = Long.MAX_VALUE - 1;

    private final Path path;
    private final FileChannel channel;
    private final boolean readOnly;

    private FileStorage(Path path, FileChannel channel, boolean readOnly) {
        this.path = path;
        this.channel = channel;
        this.readOnly = readOnly;
    }

    public static FileStorage open(Path path, boolean readOnly) throws IOException {
        if (readOnly) {
            return new FileStorage(path, FileChannel.open(path, StandardOpenOption.READ), true);
        }
        return new FileStorage(path, lockedForWriting(path,
                FileChannel.open(path, StandardOpenOption.READ, StandardOpenOption.WRITE)), false);
    }

    /** Creates a new file; fails if it exists. */
    public static FileStorage create(Path path) throws IOException {
        return new FileStorage(path, lockedForWriting(path, FileChannel.open(path, StandardOpenOption.READ,
                StandardOpenOption.WRITE, StandardOpenOption.CREATE_NEW)), false);
    }

    /**
     * Takes the exclusive writer's lock: a POSIX record lock on one byte at {@link #WRITER_LOCK_BYTE},
     * far past any data, so two writers (processes, or two opens in this one) can never interleave
     * their metadata updates. Readers take no lock (evidence is opened read-only and untouched), and
     * the byte lies outside the ranges QEMU locks, so qemu-img may still inspect the file.
     */
    private static FileChannel lockedForWriting(Path path, FileChannel ch) throws IOException {
        try {
            if (ch.tryLock(WRITER_LOCK_BYTE, 1, false) != null) {
                return ch; // released when the channel closes
            }
        } catch (OverlappingFileLockException e) {
            ch.close();
            throw new VdException(path + ": already opened for writing by this process");
        } catch (IOException | RuntimeException e) {
            ch.close();
            throw e;
        }
        ch.close();
        throw new VdException(path + ": in use: another process has it open for writing");
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
        long p = pos;
        while (src.hasRemaining()) {
            p += channel.write(src, p);
        }
    }

    /** The fatal write of an armed {@link WriteFault}: only its first {@code keep} bytes land. */
    private void writeCut(ByteBuffer src, long pos, int keep) throws IOException {
        if (keep > 0) {
            ByteBuffer part = src.duplicate();
            part.limit(part.position() + keep);
            long p = pos;
            while (part.hasRemaining()) {
                p += channel.write(part, p);
            }
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
        if (size < channel.size()) {
            channel.truncate(size);
        } else if (size > channel.size()) {
            channel.write(ByteBuffer.allocate(1), size - 1);
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
            channel.force(true);
        }
    }

    @Override
    public long allocatedBytes() throws IOException {
        return HostFiles.allocatedBytes(path);
    }

    @Override
    public void close() throws IOException {
        channel.close();
    }

    private void checkWritable() throws ReadOnlyException {
        if (readOnly) {
            throw new ReadOnlyException("write to " + path + " refused: opened read-only");
        }
    }
}
