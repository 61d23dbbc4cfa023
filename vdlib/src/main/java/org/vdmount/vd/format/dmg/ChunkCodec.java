package org.vdmount.vd.format.dmg;

import java.io.ByteArrayInputStream;
import java.io.IOException;
import java.io.InputStream;
import org.apache.commons.compress.compressors.bzip2.BZip2CompressorInputStream;
import org.tukaani.xz.XZInputStream;
import org.vdmount.vd.UnsupportedFeatureException;
import org.vdmount.vd.format.common.Zlib;

/**
 * The decoders of compressed chunks, one per chunk type: each turns a chunk's stored bytes into
 * its sectors. {@link #decode} reads {@code src[0, srcLen)}, writes at most {@code dstLen} bytes
 * of {@code dst} and answers how many, or
 * -1 when the stream holds more than that; bad data throws an {@link IOException} whose message
 * is the codec's detail (the image adds file, chunk and offset).
 */
enum ChunkCodec {
    /** Apple Data Compression. */
    ADC {
        @Override
        int decode(byte[] src, int srcLen, byte[] dst, int dstLen) throws IOException {
            return org.vdmount.vd.format.dmg.codec.Adc.decode(src, 0, srcLen, dst, 0, dstLen);
        }
    },
    /** zlib (RFC 1950) through java.util.zip ({@link Zlib}). */
    ZLIB {
        @Override
        int decode(byte[] src, int srcLen, byte[] dst, int dstLen) throws IOException {
            return Zlib.inflate(src, srcLen, dst, dstLen);
        }
    },
    /** bzip2 through Apache Commons Compress (one stream per chunk). */
    BZIP2 {
        @Override
        int decode(byte[] src, int srcLen, byte[] dst, int dstLen) throws IOException {
            return drain(new BZip2CompressorInputStream(new ByteArrayInputStream(src, 0, srcLen)), dst, dstLen, "bzip2");
        }
    },
    /** LZFSE. */
    LZFSE {
        @Override
        int decode(byte[] src, int srcLen, byte[] dst, int dstLen) throws IOException {
            return org.vdmount.vd.format.dmg.codec.Lzfse.decode(src, 0, srcLen, dst, 0, dstLen);
        }
    },
    /** LZMA in an xz container, through XZ for Java; its memory use is bounded. */
    LZMA {
        @Override
        int decode(byte[] src, int srcLen, byte[] dst, int dstLen) throws IOException {
            return drain(new XZInputStream(new ByteArrayInputStream(src, 0, srcLen), XZ_MEMORY_LIMIT_KIB), dst, dstLen, "xz");
        }
    };

    /** The most memory an xz chunk's dictionary may ask for (KiB). */
    static final int XZ_MEMORY_LIMIT_KIB = 256 << 10;

    abstract int decode(byte[] src, int srcLen, byte[] dst, int dstLen) throws IOException;

    /** Reads {@code in} into {@code dst[0, dstLen)}; -1 when it holds more. Errors keep the codec's name. */
    private static int drain(InputStream in, byte[] dst, int dstLen, String codec) throws IOException {
        try (in) {
            int n = 0;
            while (n < dstLen) {
                int got = in.read(dst, n, dstLen - n);
                if (got < 0) {
                    return n;
                }
                n += got;
            }
            return in.read() < 0 ? n : -1;
        } catch (UnsupportedFeatureException e) {
            throw e;
        } catch (IOException | RuntimeException e) {
            throw new IOException(codec + " data error: " + e.getMessage());
        }
    }
}
