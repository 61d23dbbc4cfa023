package org.vdmount.vd.storage;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import org.vdmount.vd.ReadOnlyException;
import org.vdmount.vd.TruncatedImageException;

/**
 * Several host files concatenated into one address space (split raw sets, VMDK 2 GB extents).
 * The segment sizes are fixed when opened; writes never grow the set.
 */
public final class SplitStorage implements Storage {
    private final List<FileStorage> parts;
    private final long[] starts; // starts[i] = address of parts[i]; starts[n] = total size
    private final boolean readOnly;

    private SplitStorage(List<FileStorage> parts, long[] starts, boolean readOnly) {
        this.parts = parts;
        this.starts = starts;
        this.readOnly = readOnly;
    }

    public static SplitStorage open(List<Path> files, boolean readOnly) throws IOException {
        List<FileStorage> parts = new ArrayList<>();
        long[] starts = new long[files.size() + 1];
        try {
            for (int i = 0; i < files.size(); i++) {
                FileStorage fs = FileStorage.open(files.get(i), readOnly);
                parts.add(fs);
                starts[i + 1] = starts[i] + fs.size();
            }
        } catch (IOException e) {
            for (FileStorage fs : parts) {
                fs.close();
            }
            throw e;
        }
        return new SplitStorage(List.copyOf(parts), starts, readOnly);
    }

    @Override
    public Path path() {
        return parts.get(0).path();
    }

    @Override
    public List<Path> files() {
        List<Path> out = new ArrayList<>();
        for (FileStorage p : parts) {
            out.add(p.path());
        }
        return out;
    }

    @Override
    public boolean readOnly() {
        return readOnly;
    }

    @Override
    public long size() {
        return starts[parts.size()];
    }

    /** Where part {@code index} (in {@link #files()} order) starts in the address space. */
    public long partStart(int index) {
        return starts[index];
    }

    /** Index of the part holding address {@code pos} (pos < size()). */
    public int partAt(long pos) {
        return Spans.indexOf(starts, parts.size(), pos);
    }

    @Override
    public int read(ByteBuffer dst, long pos) throws IOException {
        int total = 0;
        int limit = dst.limit();
        try {
            while (dst.hasRemaining() && pos + total < size()) {
                long p = pos + total;
                int i = partAt(p);
                long inPart = starts[i + 1] - p;
                if (dst.remaining() > inPart) {
                    dst.limit(dst.position() + (int) inPart);
                }
                int n = parts.get(i).read(dst, p - starts[i]);
                dst.limit(limit);
                if (n <= 0) {
                    break;
                }
                total += n;
            }
        } finally {
            dst.limit(limit);
        }
        return total;
    }

    @Override
    public void readFully(ByteBuffer dst, long pos, String format, String structure) throws IOException {
        int want = dst.remaining();
        if (read(dst, pos) < want) {
            throw new TruncatedImageException(format, path(), structure, pos, want, size());
        }
    }

    @Override
    public void write(ByteBuffer src, long pos) throws IOException {
        if (readOnly) {
            throw new ReadOnlyException("write to " + path() + " refused: opened read-only");
        }
        if (pos + src.remaining() > size()) {
            throw new IOException("write past the end of split set " + path() + " at 0x" + Long.toHexString(pos));
        }
        int limit = src.limit();
        try {
            long p = pos;
            while (src.hasRemaining()) {
                int i = partAt(p);
                long inPart = starts[i + 1] - p;
                if (src.remaining() > inPart) {
                    src.limit(src.position() + (int) inPart);
                }
                int before = src.position();
                parts.get(i).write(src, p - starts[i]);
                p += src.position() - before;
                src.limit(limit);
            }
        } finally {
            src.limit(limit);
        }
    }

    @Override
    public void truncate(long size) throws IOException {
        if (size != size()) {
            throw new IOException("cannot resize split set " + path());
        }
    }

    @Override
    public boolean punchHole(long pos, long length) throws IOException {
        boolean all = true;
        long p = pos;
        long end = Math.min(pos + length, size());
        while (p < end) {
            int i = partAt(p);
            long n = Math.min(end, starts[i + 1]) - p;
            all &= parts.get(i).punchHole(p - starts[i], n);
            p += n;
        }
        return all;
    }

    @Override
    public void force() throws IOException {
        for (FileStorage p : parts) {
            p.force();
        }
    }

    @Override
    public long allocatedBytes() throws IOException {
        long sum = 0;
        for (FileStorage p : parts) {
            sum += p.allocatedBytes();
        }
        return sum;
    }

    @Override
    public void close() throws IOException {
        IOException first = null;
        for (FileStorage p : parts) {
            try {
                p.close();
            } catch (IOException e) {
                if (first == null) {
                    first = e;
                }
            }
        }
        if (first != null) {
            throw first;
        }
    }
}
