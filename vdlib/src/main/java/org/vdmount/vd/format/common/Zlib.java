package org.vdmount.vd.format.common;

import java.io.IOException;
import java.util.zip.DataFormatException;
import java.util.zip.Inflater;

/** Inflating one zlib stream (RFC 1950) that is one chunk of an image: EWF chunks, DMG zlib chunks. */
public final class Zlib {
    /** One inflater per reading thread, reset between chunks (one per chunk costs more than the chunk). */
    private static final ThreadLocal<Inflater> INFLATERS = ThreadLocal.withInitial(Inflater::new);
    /** Where a probe for output past the end goes: only the count matters, never the byte (shared). */
    private static final byte[] SINK = new byte[1];

    private Zlib() {
    }

    /**
     * Inflates the whole stream {@code src[0, srcLen)} into {@code dst}: answers the bytes written
     * when the stream ends within {@code dst}, or -1 when it holds more. Bad data, or a stream that
     * stops without its end, throws an IOException whose message is the detail.
     */
    public static int inflate(byte[] src, int srcLen, byte[] dst) throws IOException {
        return inflate(src, srcLen, dst, dst.length);
    }

    /** As above, into {@code dst[0, dstLen)}: more than {@code dstLen} bytes answer -1. */
    public static int inflate(byte[] src, int srcLen, byte[] dst, int dstLen) throws IOException {
        Inflater inf = INFLATERS.get();
        inf.reset();
        try {
            inf.setInput(src, 0, srcLen);
            int n = 0;
            while (n < dstLen && !inf.finished()) {
                int got = inf.inflate(dst, n, dstLen - n);
                if (got == 0 && (inf.needsInput() || inf.needsDictionary())) {
                    throw new IOException("zlib stream stops without its end after " + n + " bytes of output");
                }
                n += got;
            }
            if (!inf.finished() && inf.inflate(SINK) > 0) {
                return -1;
            }
            if (!inf.finished()) {
                throw new IOException("zlib stream stops without its end after " + n + " bytes of output");
            }
            return n;
        } catch (DataFormatException e) {
            throw new IOException("zlib data error: " + e.getMessage());
        } finally {
            inf.reset();
        }
    }
}
