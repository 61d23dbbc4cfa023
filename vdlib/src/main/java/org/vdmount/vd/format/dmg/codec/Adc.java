package org.vdmount.vd.format.dmg.codec;

import java.util.Objects;
import org.vdmount.vd.CorruptImageException;

/**
 * Apple Data Compression (ADC), the byte-oriented LZ77 codec of UDCO disk images (UDIF chunk type
 * {@code 0x80000004}). A stream is a sequence of opcodes, each introduced by one byte {@code b}:
 *
 * <pre>
 *   b &amp; 0x80 != 0          literal run: (b &amp; 0x7F) + 1 bytes follow and are copied out
 *   b &amp; 0xC0 == 0x40       3-byte match: length (b &amp; 0x3F) + 4, offset = next two bytes (big endian)
 *   b &amp; 0xC0 == 0x00       2-byte match: length ((b &amp; 0x3C) &gt;&gt; 2) + 3,
 *                           offset = ((b &amp; 0x03) &lt;&lt; 8) | next byte
 * </pre>
 *
 * A match copies {@code length} bytes starting {@code offset + 1} bytes before the current output
 * position, byte by byte, so a match may overlap its own output (offset 0 repeats the last byte).
 * Facts from dmg2img's {@code adc.c} (adc_chunk_type/size/offset); there is no header and no end
 * marker: the stream ends with its input.
 */
public final class Adc {
    private static final String CODEC = "adc";

    private Adc() {
    }

    /**
     * Decodes {@code src[srcOff, srcOff + srcLen)} into {@code dst[dstOff, dstOff + dstLen)}.
     *
     * @return the number of bytes written into {@code dst}
     * @throws CorruptImageException if an opcode runs past the input, a match reaches before the
     *         start of the output, or the output would exceed {@code dstLen}
     */
    public static int decode(byte[] src, int srcOff, int srcLen, byte[] dst, int dstOff, int dstLen)
            throws CorruptImageException {
        Objects.checkFromIndexSize(srcOff, srcLen, src.length);
        Objects.checkFromIndexSize(dstOff, dstLen, dst.length);
        final int srcEnd = srcOff + srcLen;
        final int dstEnd = dstOff + dstLen;
        int ip = srcOff;
        int op = dstOff;
        while (ip < srcEnd) {
            int at = ip;
            int b = src[ip] & 0xFF;
            if ((b & 0x80) != 0) {
                int len = (b & 0x7F) + 1;
                if (srcEnd - (ip + 1) < len) {
                    throw corrupt(at - srcOff, "literal run of " + len + " bytes runs past the input end");
                }
                if (dstEnd - op < len) {
                    throw overflow(at - srcOff, dstLen);
                }
                System.arraycopy(src, ip + 1, dst, op, len);
                ip += 1 + len;
                op += len;
                continue;
            }
            int len;
            int offset;
            if ((b & 0x40) != 0) {
                if (srcEnd - ip < 3) {
                    throw corrupt(at - srcOff, "3-byte match opcode truncated");
                }
                len = (b & 0x3F) + 4;
                offset = (src[ip + 1] & 0xFF) << 8 | (src[ip + 2] & 0xFF);
                ip += 3;
            } else {
                if (srcEnd - ip < 2) {
                    throw corrupt(at - srcOff, "2-byte match opcode truncated");
                }
                len = ((b & 0x3C) >> 2) + 3;
                offset = (b & 0x03) << 8 | (src[ip + 1] & 0xFF);
                ip += 2;
            }
            int distance = offset + 1;
            if (distance > op - dstOff) {
                throw corrupt(at - srcOff, "match distance " + distance + " reaches before the output start ("
                        + (op - dstOff) + " bytes written)");
            }
            if (dstEnd - op < len) {
                throw overflow(at - srcOff, dstLen);
            }
            int from = op - distance;
            if (distance >= len) {
                System.arraycopy(dst, from, dst, op, len);
                op += len;
            } else {
                for (int i = 0; i < len; i++) {
                    dst[op++] = dst[from++];
                }
            }
        }
        return op - dstOff;
    }

    private static CorruptImageException overflow(int inputOffset, int dstLen) {
        return corrupt(inputOffset, "output exceeds the chunk's " + dstLen + " bytes");
    }

    private static CorruptImageException corrupt(int inputOffset, String detail) {
        return new CorruptImageException(CODEC + ": corrupt stream at input offset 0x"
                + Integer.toHexString(inputOffset) + ": " + detail);
    }
}
