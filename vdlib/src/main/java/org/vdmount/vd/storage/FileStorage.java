package org.vdmount.vd.storage;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.List;
import org.vdmount.vd.ReadOnlyException;
import org.vdmount.vd.TruncatedImageException;

/** One host file through a {@link FileChannel}. Read-only storages open the file O_RDONLY. */
public final class FileStorage implements Storage {
    private final Path path;
    private final FileChannel channel;
    private final boolean readOnly;

    private FileStorage(Path path, FileChannel channel, boolean readOnly) {
        this.path = path;
        this.channel = channel;
        this.readOnly = readOnly;
    }

    public static FileStorage open(Path path, boolean readOnly) throws IOException {
        FileChannel ch = readOnly
                ? FileChannel.open(path, StandardOpenOption.READ)
                : FileChannel.open(path, StandardOpenOption.READ, StandardOpenOption.WRITE);
        return new FileStorage(path, ch, readOnly);
    }

    /** Creates a new file; fails if it exists. */
    public static FileStorage create(Path path) throws IOException {
        FileChannel ch = FileChannel.open(path, StandardOpenOption.READ, StandardOpenOption.WRITE,
                StandardOpenOption.CREATE_NEW);
        return new FileStorage(path, ch, false);
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
        long p = pos;
        while (src.hasRemaining()) {
            p += channel.write(src, p);
        }
    }

    @Override
    public void truncate(long size) throws IOException {
        checkWritable();
        if (size < channel.size()) {
            channel.truncate(size);
        } else if (size > channel.size()) {
            channel.write(ByteBuffer.allocate(1), size - 1);
        }
    }

    @Override
    public boolean punchHole(long pos, long length) throws IOException {
        checkWritable();
        return NativeFiles.punchHole(path, pos, length);
    }

    @Override
    public void force() throws IOException {
        if (!readOnly) {
            channel.force(true);
        }
    }

    @Override
    public long allocatedBytes() throws IOException {
        return NativeFiles.allocatedBytes(path);
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
