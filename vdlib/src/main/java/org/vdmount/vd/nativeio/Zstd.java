package org.vdmount.vd.nativeio;

import java.nio.ByteBuffer;
import jnr.ffi.LibraryLoader;
import jnr.ffi.types.size_t;
import org.vdmount.vd.UnsupportedFeatureException;

/**
 * zstd (de)compression through the system's libzstd (Debian libzstd1: libzstd.so.1). Java has no
 * zstd decoder; when the library is missing, data that needs it fails with a clear
 * {@link UnsupportedFeatureException}. The library is loaded on first use, and tried only once.
 */
public final class Zstd {
    /** The few libzstd functions used (zstd.h, stable API). */
    public interface LibZstd {
        @size_t long ZSTD_findFrameCompressedSize(ByteBuffer src, @size_t long srcSize);

        @size_t long ZSTD_decompress(ByteBuffer dst, @size_t long dstCapacity, ByteBuffer src, @size_t long srcSize);

        int ZSTD_isError(@size_t long code);

        String ZSTD_getErrorName(@size_t long code);

        @size_t long ZSTD_compress(ByteBuffer dst, @size_t long dstCapacity, ByteBuffer src, @size_t long srcSize,
                                   int compressionLevel);
    }

    private static final Object LOCK = new Object();
    private static volatile LibZstd lib;
    private static volatile String loadError;

    private Zstd() {
    }

    /** The bound library; {@code what} names the data that needs it, e.g. "qcow2: zstd-compressed clusters". */
    private static LibZstd library(String what) throws UnsupportedFeatureException {
        LibZstd l = lib;
        if (l != null) {
            return l;
        }
        synchronized (LOCK) {
            if (lib == null && loadError == null) {
                for (String name : new String[] {"zstd", "libzstd.so.1"}) {
                    try {
                        LibZstd candidate = LibraryLoader.create(LibZstd.class).failImmediately().load(name);
                        candidate.ZSTD_isError(0);
                        lib = candidate;
                        break;
                    } catch (RuntimeException | LinkageError e) {
                        loadError = e.getMessage();
                    }
                }
                if (lib != null) {
                    loadError = null;
                }
            }
            if (lib == null) {
                throw new UnsupportedFeatureException(what + " need the system library "
                        + "libzstd.so.1 (Debian package libzstd1), which could not be loaded: " + loadError);
            }
            return lib;
        }
    }

    /**
     * Decompresses the first zstd frame in {@code src} (direct, position 0, limit = bytes
     * available; trailing bytes after the frame are ignored) into {@code dst} (direct, capacity
     * = expected size). Returns the number of bytes produced, or -1 if the data is not valid zstd.
     * {@code what} names the data for the error raised when libzstd is missing.
     */
    public static long decompress(ByteBuffer src, int srcLen, ByteBuffer dst, int dstLen, String what)
            throws UnsupportedFeatureException {
        LibZstd z = library(what);
        long frame = z.ZSTD_findFrameCompressedSize(src, srcLen);
        if (z.ZSTD_isError(frame) != 0 || frame > srcLen) {
            return -1;
        }
        long n = z.ZSTD_decompress(dst, dstLen, src, frame);
        if (z.ZSTD_isError(n) != 0) {
            return -1;
        }
        return n;
    }

    /**
     * Compresses {@code src[0, srcLen)} (direct) into one zstd frame in {@code dst} (direct) at
     * {@code level}; returns its length, or -1 when it does not fit in {@code dstLen} bytes.
     * {@code what} names the data for the error raised when libzstd is missing.
     */
    public static long compress(ByteBuffer src, int srcLen, ByteBuffer dst, int dstLen, int level, String what)
            throws UnsupportedFeatureException {
        LibZstd z = library(what);
        long n = z.ZSTD_compress(dst, dstLen, src, srcLen, level);
        return z.ZSTD_isError(n) != 0 ? -1 : n;
    }
}
