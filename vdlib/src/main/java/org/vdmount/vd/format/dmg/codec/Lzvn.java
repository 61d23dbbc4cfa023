package org.vdmount.vd.format.dmg.codec;

import org.vdmount.vd.CorruptImageException;

/**
 * LZVN, the byte-oriented LZ77 codec inside LZFSE {@code bvxn} blocks. Opcode table (facts from
 * Apple's reference {@code lzvn_decode_base.c}); L = literal bytes that follow the opcode,
 * M = match length, D = match distance, "prev" = the distance of the previous match:
 *
 * <pre>
 *   opcode                         len  L            M                          D
 *   sml_d  LLMMMDDD DDDDDDDD        2    opc[7:6]     opc[5:3] + 3               opc[2:0] &lt;&lt; 8 | byte 1
 *   med_d  101LLMMM DDDDDDMM DDDDDDDD 3  opc[4:3]     (opc[2:0] &lt;&lt; 2 | w[1:0]) + 3  w[15:2], w = u16le(1)
 *   lrg_d  LLMMM111 u16le           3    opc[7:6]     opc[5:3] + 3               u16le(1)
 *   pre_d  LLMMM110                 1    opc[7:6]     opc[5:3] + 3               prev
 *   sml_m  1111MMMM (M != 0)        1    0            opc[3:0]                   prev
 *   lrg_m  11110000 byte            2    0            byte + 16                  prev
 *   sml_l  1110LLLL (L != 0)        1    opc[3:0]     0                          -
 *   lrg_l  11100000 byte            2    byte + 16    0                          -
 *   nop    0x0E, 0x16               1
 *   eos    0x06 + 7 bytes           8    end of stream
 *   undefined: 0x1E 0x26 0x2E 0x36 0x3E, 0x70-0x7F, 0xD0-0xDF
 * </pre>
 *
 * Opcodes whose low three bits are 6 are pre_d and 7 lrg_d except where the table above says
 * otherwise; the other opcodes in 0x00-0x6F, 0x80-0x9F and 0xC0-0xCF are sml_d. Literals come before
 * the match; the match copies byte by byte (it may overlap its own output) and may reach back into
 * the output of earlier blocks of the same LZFSE stream, never before its start.
 */
final class Lzvn {
    private Lzvn() {
    }

    /**
     * Decodes one LZVN payload {@code src[ip, srcEnd)}, which must end with the eos opcode, into
     * {@code dst[op, opEnd)}, which it must fill exactly.
     *
     * @param dstStart the start of the whole output: the earliest byte a match may reach
     * @param srcStart the start of the whole input, for error offsets
     * @return {@code opEnd}
     */
    static int decode(byte[] src, int ip, int srcEnd, byte[] dst, int dstStart, int op, int opEnd, int srcStart)
            throws CorruptImageException {
        int d = 0;
        while (true) {
            if (ip >= srcEnd) {
                throw Lzfse.corrupt(ip - srcStart, "lzvn payload ends without an end-of-stream opcode");
            }
            final int at = ip;
            final int opc = src[ip] & 0xFF;
            int l;
            int m;
            int len;
            switch (kind(opc)) {
                case SML_D -> {
                    len = 2;
                    l = opc >>> 6;
                    m = (opc >>> 3 & 7) + 3;
                    need(ip, len, srcEnd, srcStart);
                    d = (opc & 7) << 8 | src[ip + 1] & 0xFF;
                }
                case MED_D -> {
                    len = 3;
                    l = opc >>> 3 & 3;
                    need(ip, len, srcEnd, srcStart);
                    int w = u16le(src, ip + 1);
                    m = ((opc & 7) << 2 | w & 3) + 3;
                    d = w >>> 2;
                }
                case LRG_D -> {
                    len = 3;
                    l = opc >>> 6;
                    m = (opc >>> 3 & 7) + 3;
                    need(ip, len, srcEnd, srcStart);
                    d = u16le(src, ip + 1);
                }
                case PRE_D -> {
                    len = 1;
                    l = opc >>> 6;
                    m = (opc >>> 3 & 7) + 3;
                }
                case SML_M -> {
                    len = 1;
                    l = 0;
                    m = opc & 0x0F;
                }
                case LRG_M -> {
                    len = 2;
                    need(ip, len, srcEnd, srcStart);
                    l = 0;
                    m = (src[ip + 1] & 0xFF) + 16;
                }
                case SML_L -> {
                    len = 1;
                    l = opc & 0x0F;
                    m = 0;
                }
                case LRG_L -> {
                    len = 2;
                    need(ip, len, srcEnd, srcStart);
                    l = (src[ip + 1] & 0xFF) + 16;
                    m = 0;
                }
                case NOP -> {
                    ip++;
                    continue;
                }
                case EOS -> {
                    need(ip, 8, srcEnd, srcStart);
                    ip += 8;
                    if (ip != srcEnd) {
                        throw Lzfse.corrupt(at - srcStart, "lzvn end-of-stream opcode " + (srcEnd - ip)
                                + " bytes before the end of the block payload");
                    }
                    if (op != opEnd) {
                        throw Lzfse.corrupt(at - srcStart, "lzvn block ends " + (opEnd - op)
                                + " bytes short of its declared size");
                    }
                    return op;
                }
                default -> throw Lzfse.corrupt(at - srcStart, String.format("undefined lzvn opcode 0x%02x", opc));
            }
            ip += len;
            if (l > 0) {
                if (srcEnd - ip < l) {
                    throw Lzfse.corrupt(at - srcStart, "lzvn literal of " + l + " bytes runs past the block payload");
                }
                if (opEnd - op < l) {
                    throw Lzfse.corrupt(at - srcStart, "lzvn literal runs past the block's declared size");
                }
                System.arraycopy(src, ip, dst, op, l);
                ip += l;
                op += l;
            }
            if (m > 0) {
                if (d == 0 || d > op - dstStart) {
                    throw Lzfse.corrupt(at - srcStart, "lzvn match distance " + d + " reaches before the output start ("
                            + (op - dstStart) + " bytes written)");
                }
                if (opEnd - op < m) {
                    throw Lzfse.corrupt(at - srcStart, "lzvn match runs past the block's declared size");
                }
                Lzfse.copyMatch(dst, op, d, m);
                op += m;
            }
        }
    }

    private static void need(int ip, int len, int srcEnd, int srcStart) throws CorruptImageException {
        if (srcEnd - ip < len) {
            throw Lzfse.corrupt(ip - srcStart, "lzvn opcode of " + len + " bytes runs past the block payload");
        }
    }

    private static int u16le(byte[] b, int i) {
        return b[i] & 0xFF | (b[i + 1] & 0xFF) << 8;
    }

    private enum Kind { SML_D, MED_D, LRG_D, PRE_D, SML_M, LRG_M, SML_L, LRG_L, NOP, EOS, UNDEFINED }

    private static final Kind[] KINDS = new Kind[256];

    static {
        for (int opc = 0; opc < 256; opc++) {
            KINDS[opc] = classify(opc);
        }
    }

    private static Kind kind(int opc) {
        return KINDS[opc];
    }

    private static Kind classify(int opc) {
        int hi = opc >>> 4;
        if (opc == 0x06) {
            return Kind.EOS;
        }
        if (opc == 0x0E || opc == 0x16) {
            return Kind.NOP;
        }
        if (hi == 0x7 || hi == 0xD) {
            return Kind.UNDEFINED;
        }
        if (hi == 0xA || hi == 0xB) {
            return Kind.MED_D;
        }
        if (hi == 0xE) {
            return opc == 0xE0 ? Kind.LRG_L : Kind.SML_L;
        }
        if (hi == 0xF) {
            return opc == 0xF0 ? Kind.LRG_M : Kind.SML_M;
        }
        int low = opc & 7;
        if (low == 7) {
            return Kind.LRG_D;
        }
        if (low == 6) {
            return opc < 0x40 ? Kind.UNDEFINED : Kind.PRE_D;
        }
        return Kind.SML_D;
    }
}
