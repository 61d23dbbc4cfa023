package org.vdmount.vd.format.dmg.codec;

import java.io.ByteArrayOutputStream;

/**
 * A small greedy ADC encoder for round-trip tests: literal runs of up to 128 bytes, 2-byte matches
 * (length 3..18, distance 1..1024) and 3-byte matches (length 4..67, distance 1..65536), found
 * through a hash of the next three bytes. Opcode layout as documented on {@link Adc}. It counts the
 * opcodes it emitted so a test can show that every kind was exercised.
 */
public final class AdcEncoder {
    static final int MAX_LITERAL = 128;
    static final int SHORT_MIN = 3;
    static final int SHORT_MAX = 18;
    static final int SHORT_DIST = 1024;
    static final int LONG_MIN = 4;
    static final int LONG_MAX = 67;
    static final int LONG_DIST = 65536;

    int literalOps;
    int shortOps;
    int longOps;

    public byte[] encode(byte[] in) {
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        int[] head = new int[1 << 14];
        java.util.Arrays.fill(head, -1);
        int litStart = 0;
        int i = 0;
        while (i < in.length) {
            int bestLen = 0;
            int bestDist = 0;
            // The previous byte (distance 1) catches runs; the hash chain head catches the rest.
            for (int cand : new int[] {i - 1, i + 2 < in.length ? head[hash(in, i)] : -1}) {
                if (cand < 0 || cand >= i || i - cand > LONG_DIST) {
                    continue;
                }
                int len = 0;
                while (i + len < in.length && len < LONG_MAX && in[cand + len] == in[i + len]) {
                    len++;
                }
                if (len > bestLen) {
                    bestLen = len;
                    bestDist = i - cand;
                }
            }
            boolean shortOk = bestLen >= SHORT_MIN && bestDist <= SHORT_DIST;
            boolean longOk = bestLen >= LONG_MIN;
            if (!shortOk && !longOk) {
                if (i + 2 < in.length) {
                    head[hash(in, i)] = i;
                }
                i++;
                continue;
            }
            flushLiterals(out, in, litStart, i);
            int offset = bestDist - 1;
            if (shortOk && (bestLen <= SHORT_MAX || !longOk)) {
                int len = Math.min(bestLen, SHORT_MAX);
                out.write(((len - 3) << 2) | (offset >> 8));
                out.write(offset & 0xFF);
                shortOps++;
                bestLen = len;
            } else {
                out.write(0x40 | (bestLen - 4));
                out.write(offset >> 8);
                out.write(offset & 0xFF);
                longOps++;
            }
            for (int k = 0; k < bestLen; k++) {
                if (i + k + 2 < in.length) {
                    head[hash(in, i + k)] = i + k;
                }
            }
            i += bestLen;
            litStart = i;
        }
        flushLiterals(out, in, litStart, in.length);
        return out.toByteArray();
    }

    private void flushLiterals(ByteArrayOutputStream out, byte[] in, int from, int to) {
        while (from < to) {
            int n = Math.min(MAX_LITERAL, to - from);
            out.write(0x80 | (n - 1));
            out.write(in, from, n);
            from += n;
            literalOps++;
        }
    }

    private static int hash(byte[] b, int i) {
        int v = (b[i] & 0xFF) << 16 | (b[i + 1] & 0xFF) << 8 | (b[i + 2] & 0xFF);
        return (v * 0x9E3779B1) >>> 18;
    }
}
