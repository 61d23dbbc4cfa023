package org.vdmount.vd.format.dmg.codec;

/**
 * The backward bit stream of an FSE payload (reference {@code lzfse_fse.h}, 64-bit variant): the
 * encoder writes bits forwards and the decoder reads them from the payload's last byte towards its
 * first. The accumulator holds 56..63 valid bits after {@link #init} and {@link #refill}; values are
 * pulled from its most significant valid bits.
 */
final class FseInStream {
    private byte[] buf;
    private int start;
    private int pos;
    private long accum;
    private int bits;

    /**
     * Starts reading backwards from {@code end}, never below {@code start}. {@code n} is the encoder's
     * final bit count (-7..0): the top {@code -n} bits of the last byte are padding.
     *
     * @return false if the payload is too short or its padding bits are not zero
     */
    boolean init(byte[] b, int start, int end, int n) {
        this.buf = b;
        this.start = start;
        if (n < -7 || n > 0) {
            return false;
        }
        int bytes = n == 0 ? 7 : 8;
        if (end - start < bytes) {
            return false;
        }
        pos = end - bytes;
        accum = load(pos, bytes);
        bits = n + bytes * 8;
        return bits >= 56 && bits < 64 && accum >>> bits == 0;
    }

    /** Tops the accumulator up to 56..63 bits; false if that would read before the payload start. */
    boolean refill() {
        int nbits = (63 - bits) & -8;
        int bytes = nbits >>> 3;
        if (pos - start < bytes) {
            return false;
        }
        pos -= bytes;
        accum = accum << nbits | load(pos, bytes);
        bits += nbits;
        return true;
    }

    /** Removes and returns the {@code n} most significant valid bits ({@code n <= 56} after a refill). */
    int pull(int n) {
        bits -= n;
        long result = accum >>> bits;
        accum &= (1L << bits) - 1;
        return (int) result;
    }

    private long load(int at, int bytes) {
        long v = 0;
        for (int i = bytes - 1; i >= 0; i--) {
            v = v << 8 | (buf[at + i] & 0xFF);
        }
        return v;
    }
}
