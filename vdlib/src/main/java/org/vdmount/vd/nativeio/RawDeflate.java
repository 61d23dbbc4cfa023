package org.vdmount.vd.nativeio;

import java.nio.ByteBuffer;
import jnr.ffi.LibraryLoader;
import jnr.ffi.Memory;
import jnr.ffi.Pointer;
import jnr.ffi.Runtime;

/**
 * Raw deflate (no zlib header) with a 4 KiB window, the encoding of qcow2's compression type 0,
 * through the system's zlib (Debian zlib1g: libz.so.1), called as QEMU calls it
 * ({@code deflateInit2(level -1, Z_DEFLATED, windowBits -12, memLevel 9, Z_DEFAULT_STRATEGY)},
 * then one {@code deflate(Z_FINISH)} per cluster): the same library gives the same bytes. Java's
 * Deflater cannot be given a 4 KiB window. One instance per writer, bound to two direct buffers;
 * not thread-safe. {@link #open} returns null where libz cannot be loaded (the caller then
 * compresses another way).
 */
public final class RawDeflate implements AutoCloseable {
    /** The zlib functions used (zlib.h). */
    public interface LibZ {
        int deflateInit2_(Pointer strm, int level, int method, int windowBits, int memLevel, int strategy,
                          String version, int streamSize);

        int deflate(Pointer strm, int flush);

        int deflateReset(Pointer strm);

        int deflateEnd(Pointer strm);

        String zlibVersion();
    }

    private static final int Z_FINISH = 4;
    private static final int Z_STREAM_END = 1;
    private static final int Z_DEFLATED = 8;
    private static final int Z_DEFAULT_COMPRESSION = -1;
    private static final int Z_DEFAULT_STRATEGY = 0;
    private static final int WINDOW_BITS = -12;
    private static final int MEM_LEVEL = 9;
    /** sizeof(z_stream) on LP64, and the offsets of the fields set here. */
    private static final int STREAM_SIZE = 112;
    private static final int NEXT_IN = 0;
    private static final int AVAIL_IN = 8;
    private static final int NEXT_OUT = 24;
    private static final int AVAIL_OUT = 32;

    private static final Object LOCK = new Object();
    private static volatile LibZ lib;
    private static volatile boolean tried;

    private final LibZ z;
    private final Pointer stream;
    private final long inAddress;
    private final long outAddress;
    private boolean ended;

    private RawDeflate(LibZ z, Pointer stream, long inAddress, long outAddress) {
        this.z = z;
        this.stream = stream;
        this.inAddress = inAddress;
        this.outAddress = outAddress;
    }

    private static LibZ library() {
        if (!tried) {
            synchronized (LOCK) {
                if (!tried) {
                    for (String name : new String[] {"z", "libz.so.1"}) {
                        try {
                            LibZ candidate = LibraryLoader.create(LibZ.class).failImmediately().load(name);
                            if (candidate.zlibVersion() != null) {
                                lib = candidate;
                                break;
                            }
                        } catch (RuntimeException | LinkageError e) {
                            // the next name, else no library
                        }
                    }
                    tried = true;
                }
            }
        }
        return lib;
    }

    /**
     * A compressor reading from {@code in} and writing to {@code out} (both direct), or null
     * where libz cannot be loaded or set up (not a 64-bit host, say).
     */
    public static RawDeflate open(ByteBuffer in, ByteBuffer out) {
        LibZ z = library();
        if (z == null || !in.isDirect() || !out.isDirect() || !"amd64".equals(System.getProperty("os.arch"))
                && !"aarch64".equals(System.getProperty("os.arch"))) {
            return null;
        }
        Runtime rt = Runtime.getRuntime(z);
        Pointer stream = Memory.allocateDirect(rt, STREAM_SIZE, true);
        if (z.deflateInit2_(stream, Z_DEFAULT_COMPRESSION, Z_DEFLATED, WINDOW_BITS, MEM_LEVEL, Z_DEFAULT_STRATEGY,
                z.zlibVersion(), STREAM_SIZE) != 0) {
            return null;
        }
        return new RawDeflate(z, stream, Pointer.wrap(rt, in).address(), Pointer.wrap(rt, out).address());
    }

    /**
     * Compresses the first {@code length} bytes of the input buffer into the output buffer;
     * returns the compressed length, or -1 when it does not fit in {@code capacity} bytes.
     */
    public int compress(int length, int capacity) {
        z.deflateReset(stream);
        stream.putAddress(NEXT_IN, inAddress);
        stream.putInt(AVAIL_IN, length);
        stream.putAddress(NEXT_OUT, outAddress);
        stream.putInt(AVAIL_OUT, capacity);
        int ret = z.deflate(stream, Z_FINISH);
        if (ret != Z_STREAM_END) {
            return -1; // Z_OK or Z_BUF_ERROR: the output did not fit
        }
        return capacity - stream.getInt(AVAIL_OUT);
    }

    @Override
    public void close() {
        if (!ended) {
            ended = true;
            z.deflateEnd(stream);
        }
    }
}
