package org.vdmount.vd.storage;

import java.io.Closeable;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.List;
import org.vdmount.vd.Bytes;

/**
 * Positional I/O on the host file(s) behind one image. Thread-safe: every call is positional and
 * nothing depends on a shared file pointer. Split files appear as one address space.
 */
public interface Storage extends Closeable {

    /** The primary file (used in messages and for resolving relative paths). */
    Path path();

    /** Every host file behind this storage, in address order. */
    List<Path> files();

    boolean readOnly();

    long size() throws IOException;

    /**
     * Reads {@code dst.remaining()} bytes at {@code pos}; bytes past the end of the storage are
     * not read. Returns the number of bytes read (fewer only at end of storage).
     */
    int read(ByteBuffer dst, long pos) throws IOException;

    /** Reads exactly {@code dst.remaining()} bytes or throws a {@code TruncatedImageException}. */
    void readFully(ByteBuffer dst, long pos, String format, String structure) throws IOException;

    /**
     * Whether guest data past the end reads as zeros ({@link ZeroTailStorage}, a file opened with
     * allowTruncated): then a table entry pointing past the end is no error.
     */
    default boolean zeroTail() {
        return false;
    }

    /**
     * Reads exactly {@code dst.remaining()} bytes of guest data (not of a structure) at {@code pos}:
     * as {@link #readFully}, except that a storage of a file cut short ({@link ZeroTailStorage})
     * answers zeros past its end.
     */
    default void readData(ByteBuffer dst, long pos, String format, String structure) throws IOException {
        readFully(dst, pos, format, structure);
    }

    /**
     * The first {@code maxBytes} bytes, fewer if the storage is shorter: what a format parses its
     * header from (it reports truncation itself when the signature is there but bytes are not).
     */
    default Bytes readPrefix(int maxBytes) throws IOException {
        ByteBuffer head = ByteBuffer.allocate((int) Math.min(size(), maxBytes));
        read(head, 0);
        head.flip();
        return Bytes.of(head);
    }

    /** Exactly {@code length} bytes at {@code pos} as UTF-8 text (names, paths), or a truncation error. */
    default String readUtf8(long pos, int length, String format, String structure) throws IOException {
        ByteBuffer b = ByteBuffer.allocate(length);
        readFully(b, pos, format, structure);
        return new String(b.array(), 0, length, StandardCharsets.UTF_8);
    }

    /** Writes all of {@code src} at {@code pos}, extending the storage if needed. */
    void write(ByteBuffer src, long pos) throws IOException;

    /** Changes the size (grows sparsely, or cuts). */
    void truncate(long size) throws IOException;

    /** Gives back host space for the range; it then reads as zeros. Best effort: false if unsupported. */
    boolean punchHole(long pos, long length) throws IOException;

    /** Writes {@code length} zero bytes at {@code pos}, in bounded chunks of one shared buffer. */
    default void writeZeros(long pos, long length) throws IOException {
        for (long done = 0; done < length; done += ZeroBuffer.CHUNK) {
            write(ZeroBuffer.chunk((int) Math.min(ZeroBuffer.CHUNK, length - done)), pos + done);
        }
    }

    /** Makes the range read as zeros: punches a hole (host space given back) or else writes zeros. */
    default void zeroRange(long pos, long length) throws IOException {
        if (length > 0 && !punchHole(pos, length)) {
            writeZeros(pos, length);
        }
    }

    /**
     * From now on, writes of whole host blocks from a direct buffer whose address is block-aligned
     * bypass the host page cache (O_DIRECT, as {@code qemu-img convert -t none}); every other write
     * (metadata, heap buffers, partial blocks) still goes through it, and {@link #force()} still
     * makes all of them durable. For bulk copies into a new image: its data does not pass through
     * (and evict) the page cache twice. Returns false, changing nothing, where the storage or its
     * file system does not take direct I/O.
     */
    default boolean directWrites() throws IOException {
        return false;
    }

    /** Forces written data and metadata to stable storage. */
    void force() throws IOException;

    /** Host bytes actually allocated (st_blocks * 512) over all files. */
    long allocatedBytes() throws IOException;
}
