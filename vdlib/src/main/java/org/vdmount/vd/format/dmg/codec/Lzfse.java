package org.vdmount.vd.format.dmg.codec;

import java.util.Objects;
import org.vdmount.vd.CorruptImageException;

/**
 * LZFSE, the codec of ULFO disk images (UDIF chunk type {@code 0x80000007}). A stream is a
 * sequence of blocks, each starting with a four-byte magic (facts from Apple's reference
 * implementation, {@code lzfse_internal.h}):
 *
 * <pre>
 *   "bvx-"  uncompressed: u32le n_raw_bytes, then that many bytes
 *   "bvx1"  LZFSE, uncompressed tables: 772-byte header ({@link LzfseBlock})
 *   "bvx2"  LZFSE, compressed tables: 32-byte header plus frequency tables ({@link LzfseBlock})
 *   "bvxn"  LZVN: u32le n_raw_bytes, u32le n_payload_bytes, then the payload ({@link Lzvn})
 *   "bvx$"  end of stream (bytes after it are ignored, as the reference does)
 * </pre>
 *
 * Matches may reach back into earlier blocks of the same stream. Unlike the reference's resumable
 * decoder this one requires the whole stream in {@code src}: a stream without its end marker is
 * corrupt, and each block must decode to exactly the size its header declares.
 */
public final class Lzfse {
    private static final int END_OF_STREAM = 0x24787662; // "bvx$"
    private static final int UNCOMPRESSED = 0x2d787662; // "bvx-"
    private static final int COMPRESSED_V1 = 0x31787662; // "bvx1"
    private static final int COMPRESSED_V2 = 0x32787662; // "bvx2"
    private static final int COMPRESSED_LZVN = 0x6e787662; // "bvxn"

    private Lzfse() {
    }

    /**
     * Decodes {@code src[srcOff, srcOff + srcLen)} into {@code dst[dstOff, dstOff + dstLen)}.
     *
     * @return the number of bytes written into {@code dst}
     * @throws CorruptImageException if the stream is malformed, truncated (no {@code bvx$}), refers
     *         before the start of the output, or would write more than {@code dstLen} bytes
     */
    public static int decode(byte[] src, int srcOff, int srcLen, byte[] dst, int dstOff, int dstLen)
            throws CorruptImageException {
        Objects.checkFromIndexSize(srcOff, srcLen, src.length);
        Objects.checkFromIndexSize(dstOff, dstLen, dst.length);
        final int srcEnd = srcOff + srcLen;
        final int dstEnd = dstOff + dstLen;
        int ip = srcOff;
        int op = dstOff;
        while (true) {
            int rel = ip - srcOff;
            if (srcEnd - ip < 4) {
                throw corrupt(rel, "stream ends without its bvx$ end-of-stream block");
            }
            int magic = u32le(src, ip);
            switch (magic) {
                case END_OF_STREAM -> {
                    return op - dstOff;
                }
                case UNCOMPRESSED -> {
                    long n = header(src, ip, srcEnd, 8, rel, "bvx-");
                    if (n > srcEnd - ip - 8) {
                        throw corrupt(rel, "bvx- block of " + n + " bytes runs past the input end");
                    }
                    checkRoom(n, op, dstEnd, rel);
                    System.arraycopy(src, ip + 8, dst, op, (int) n);
                    ip += 8 + (int) n;
                    op += (int) n;
                }
                case COMPRESSED_LZVN -> {
                    long nRaw = header(src, ip, srcEnd, 12, rel, "bvxn");
                    long nPayload = u32le(src, ip + 8) & 0xFFFFFFFFL;
                    if (nPayload > srcEnd - ip - 12) {
                        throw corrupt(rel, "bvxn payload of " + nPayload + " bytes runs past the input end");
                    }
                    checkRoom(nRaw, op, dstEnd, rel);
                    int payload = ip + 12;
                    op = Lzvn.decode(src, payload, payload + (int) nPayload, dst, dstOff, op, op + (int) nRaw, srcOff);
                    ip = payload + (int) nPayload;
                }
                case COMPRESSED_V1, COMPRESSED_V2 -> {
                    LzfseBlock block = LzfseBlock.forThread();
                    ip = block.decode(src, srcOff, ip, srcEnd, magic == COMPRESSED_V2, dst, dstOff, op, dstEnd);
                    op = block.outputEnd;
                }
                default -> throw corrupt(rel, String.format("unknown block magic 0x%08x", magic));
            }
        }
    }

    /** The u32le after the magic, once the {@code size}-byte header is known to be present. */
    private static long header(byte[] src, int ip, int srcEnd, int size, int rel, String name)
            throws CorruptImageException {
        if (srcEnd - ip < size) {
            throw corrupt(rel, name + " block header runs past the input end");
        }
        return u32le(src, ip + 4) & 0xFFFFFFFFL;
    }

    private static void checkRoom(long n, int op, int dstEnd, int rel) throws CorruptImageException {
        if (n > dstEnd - op) {
            throw corrupt(rel, "block of " + n + " bytes exceeds the output's remaining " + (dstEnd - op) + " bytes");
        }
    }

    /** Copies {@code m} bytes from {@code d} bytes back, byte by byte where they overlap. */
    static void copyMatch(byte[] dst, int op, int d, int m) {
        if (d >= m) {
            System.arraycopy(dst, op - d, dst, op, m);
        } else {
            for (int i = 0; i < m; i++) {
                dst[op + i] = dst[op + i - d];
            }
        }
    }

    static CorruptImageException corrupt(int inputOffset, String detail) {
        return new CorruptImageException("lzfse: corrupt stream at input offset 0x"
                + Integer.toHexString(inputOffset) + ": " + detail);
    }

    private static int u32le(byte[] b, int i) {
        return b[i] & 0xFF | (b[i + 1] & 0xFF) << 8 | (b[i + 2] & 0xFF) << 16 | (b[i + 3] & 0xFF) << 24;
    }
}
