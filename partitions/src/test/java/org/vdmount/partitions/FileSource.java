package org.vdmount.partitions;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;

/** A read-only file as a {@link BlockSource} (tests only). */
final class FileSource implements BlockSource, AutoCloseable {
    private final FileChannel ch;
    private final long size;

    FileSource(Path path) throws IOException {
        ch = FileChannel.open(path, StandardOpenOption.READ);
        size = ch.size();
    }

    @Override
    public long size() {
        return size;
    }

    @Override
    public void read(long offset, ByteBuffer dst) throws IOException {
        if (offset < 0 || offset + dst.remaining() > size) {
            throw new IOException("read [" + offset + ", +" + dst.remaining() + ") outside " + size);
        }
        while (dst.hasRemaining()) {
            int n = ch.read(dst, offset);
            if (n < 0) {
                throw new IOException("unexpected EOF at " + offset);
            }
            offset += n;
        }
    }

    @Override
    public void close() throws IOException {
        ch.close();
    }

    /** Reads the partition table of {@code image}, collecting warnings. */
    static PartitionTable read(Path image, int sectorSize, java.util.List<String> warnings) throws IOException {
        try (FileSource src = new FileSource(image)) {
            return PartitionTable.read(src, sectorSize, warnings::add);
        }
    }
}
