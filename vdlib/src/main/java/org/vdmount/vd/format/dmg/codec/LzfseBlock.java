package org.vdmount.vd.format.dmg.codec;

import java.util.Arrays;
import org.vdmount.vd.CorruptImageException;

/**
 * One LZFSE compressed block, {@code bvx1} (header with plain 16-bit frequency tables) or
 * {@code bvx2} (packed header, variable-length frequency tables). Facts from Apple's reference
 * implementation ({@code lzfse_internal.h}, {@code lzfse_decode_base.c}, {@code lzfse_fse.c}).
 *
 * <p>The payload is a literal stream (four interleaved FSE states over one 256-symbol table, 1024
 * states) followed by an L/M/D stream (literal length, match length, match distance: FSE-coded
 * base symbols plus raw extra bits; D = 0 repeats the previous distance). Each triplet emits L
 * literals then copies M bytes from D bytes back. An instance holds the decoding tables and the
 * literal buffer; one per thread ({@link #forThread()}) so a call allocates nothing.
 */
final class LzfseBlock {
    static final int V1_HEADER_SIZE = 772; // sizeof(lzfse_compressed_block_header_v1), 4-byte aligned
    static final int V2_FIXED_SIZE = 32; // magic, n_raw_bytes, packed_fields[3]

    private static final int L_SYMBOLS = 20;
    private static final int M_SYMBOLS = 20;
    private static final int D_SYMBOLS = 64;
    private static final int LITERAL_SYMBOLS = 256;
    private static final int L_STATES = 64;
    private static final int M_STATES = 64;
    private static final int D_STATES = 256;
    private static final int LITERAL_STATES = 1024;
    private static final int MATCHES_PER_BLOCK = 10000;
    private static final int LITERALS_PER_BLOCK = 4 * MATCHES_PER_BLOCK;
    private static final int FREQ_COUNT = L_SYMBOLS + M_SYMBOLS + D_SYMBOLS + LITERAL_SYMBOLS;
    private static final int L_FREQ = 0;
    private static final int M_FREQ = L_FREQ + L_SYMBOLS;
    private static final int D_FREQ = M_FREQ + M_SYMBOLS;
    private static final int LITERAL_FREQ = D_FREQ + D_SYMBOLS;

    // lzfse_internal.h: extra bits and base value of each L, M, D symbol.
    private static final int[] L_EXTRA_BITS = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2, 3, 5, 8};
    private static final int[] L_BASE = {0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 20, 28, 60};
    private static final int[] M_EXTRA_BITS = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 3, 5, 8, 11};
    private static final int[] M_BASE = {0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 24, 56, 312};
    private static final int[] D_EXTRA_BITS = new int[D_SYMBOLS];
    private static final int[] D_BASE = new int[D_SYMBOLS];

    static {
        // d_extra_bits is 0,0,0,0,1,1,1,1,...,15,15,15,15; each base follows the previous one's range.
        for (int i = 0; i < D_SYMBOLS; i++) {
            D_EXTRA_BITS[i] = i / 4;
            D_BASE[i] = i == 0 ? 0 : D_BASE[i - 1] + (1 << D_EXTRA_BITS[i - 1]);
        }
    }

    // bvx2 frequency codes, indexed by the low five bits (lzfse_decode_v1_freq_value).
    private static final int[] FREQ_NBITS = {2, 3, 2, 5, 2, 3, 2, 8, 2, 3, 2, 5, 2, 3, 2, 14,
        2, 3, 2, 5, 2, 3, 2, 8, 2, 3, 2, 5, 2, 3, 2, 14};
    private static final int[] FREQ_VALUE = {0, 2, 1, 4, 0, 3, 1, -1, 0, 2, 1, 5, 0, 3, 1, -1,
        0, 2, 1, 6, 0, 3, 1, -1, 0, 2, 1, 7, 0, 3, 1, -1};

    private static final ThreadLocal<LzfseBlock> PER_THREAD = ThreadLocal.withInitial(LzfseBlock::new);

    private final int[] freq = new int[FREQ_COUNT];
    /** Literal decoder: k | symbol &lt;&lt; 8 | delta &lt;&lt; 16 per state. */
    private final int[] literalTable = new int[LITERAL_STATES];
    /** Value decoders: total_bits | value_bits &lt;&lt; 8 | delta &lt;&lt; 16 per state, base alongside. */
    private final int[] lTable = new int[L_STATES];
    private final int[] lBase = new int[L_STATES];
    private final int[] mTable = new int[M_STATES];
    private final int[] mBase = new int[M_STATES];
    private final int[] dTable = new int[D_STATES];
    private final int[] dBase = new int[D_STATES];
    private final byte[] literals = new byte[LITERALS_PER_BLOCK + 4];
    private final FseInStream in = new FseInStream();

    // Header fields of the current block (lzfse_compressed_block_header_v1 order).
    private long nRawBytes;
    private long nLiterals;
    private long nMatches;
    private long nLiteralPayloadBytes;
    private long nLmdPayloadBytes;
    private int literalBits;
    private final int[] literalState = new int[4];
    private int lmdBits;
    private int lState;
    private int mState;
    private int dState;

    /** The output position after the last {@link #decode}: its end of {@code dst}. */
    int outputEnd;

    static LzfseBlock forThread() {
        return PER_THREAD.get();
    }

    /**
     * Decodes the block whose header starts at {@code p} (magic already checked) into {@code dst}
     * from {@code op}.
     *
     * @return the input position after the block, with the output end in {@link #outputEnd}
     */
    int decode(byte[] src, int srcStart, int p, int srcEnd, boolean v2, byte[] dst, int dstStart, int op, int dstEnd)
            throws CorruptImageException {
        int headerSize = v2 ? parseV2(src, srcStart, p, srcEnd) : parseV1(src, srcStart, p, srcEnd);
        int rel = p - srcStart;
        // lzfse_check_block_header_v1
        if (nLiterals > LITERALS_PER_BLOCK) {
            throw Lzfse.corrupt(rel, "block has " + nLiterals + " literals > " + LITERALS_PER_BLOCK);
        }
        if (nMatches > MATCHES_PER_BLOCK) {
            throw Lzfse.corrupt(rel, "block has " + nMatches + " matches > " + MATCHES_PER_BLOCK);
        }
        for (int s : literalState) {
            if (s >= LITERAL_STATES) {
                throw Lzfse.corrupt(rel, "literal state " + s + " >= " + LITERAL_STATES);
            }
        }
        if (lState >= L_STATES || mState >= M_STATES || dState >= D_STATES) {
            throw Lzfse.corrupt(rel, "L/M/D state " + lState + "/" + mState + "/" + dState + " out of range");
        }
        checkFreq(rel, L_FREQ, L_SYMBOLS, L_STATES, "L");
        checkFreq(rel, M_FREQ, M_SYMBOLS, M_STATES, "M");
        checkFreq(rel, D_FREQ, D_SYMBOLS, D_STATES, "D");
        checkFreq(rel, LITERAL_FREQ, LITERAL_SYMBOLS, LITERAL_STATES, "literal");
        long payload = nLiteralPayloadBytes + nLmdPayloadBytes;
        if (payload > srcEnd - (long) p - headerSize) {
            throw Lzfse.corrupt(rel, "block payload of " + payload + " bytes runs past the input end");
        }
        if (nRawBytes > dstEnd - op) {
            throw Lzfse.corrupt(rel, "block of " + nRawBytes + " bytes exceeds the output's remaining "
                    + (dstEnd - op) + " bytes");
        }
        literalTable(literalTable, LITERAL_FREQ);
        valueTable(lTable, lBase, L_STATES, L_FREQ, L_SYMBOLS, L_EXTRA_BITS, L_BASE);
        valueTable(mTable, mBase, M_STATES, M_FREQ, M_SYMBOLS, M_EXTRA_BITS, M_BASE);
        valueTable(dTable, dBase, D_STATES, D_FREQ, D_SYMBOLS, D_EXTRA_BITS, D_BASE);

        int litStart = p + headerSize;
        int lmdStart = litStart + (int) nLiteralPayloadBytes;
        int lmdEnd = lmdStart + (int) nLmdPayloadBytes;
        decodeLiterals(src, srcStart, lmdStart, rel);
        int end = decodeLmd(src, lmdStart, lmdEnd, rel, dst, dstStart, op, op + (int) nRawBytes);
        outputEnd = end;
        return lmdEnd;
    }

    private int parseV1(byte[] src, int srcStart, int p, int srcEnd) throws CorruptImageException {
        if (srcEnd - p < V1_HEADER_SIZE) {
            throw Lzfse.corrupt(p - srcStart, "bvx1 header runs past the input end");
        }
        nRawBytes = u32(src, p + 4);
        // p + 8: n_payload_bytes, recomputed from the two payload sizes as the reference does.
        nLiterals = u32(src, p + 12);
        nMatches = u32(src, p + 16);
        nLiteralPayloadBytes = u32(src, p + 20);
        nLmdPayloadBytes = u32(src, p + 24);
        literalBits = (int) u32(src, p + 28);
        for (int i = 0; i < 4; i++) {
            literalState[i] = u16(src, p + 32 + 2 * i);
        }
        lmdBits = (int) u32(src, p + 40);
        lState = u16(src, p + 44);
        mState = u16(src, p + 46);
        dState = u16(src, p + 48);
        for (int i = 0; i < FREQ_COUNT; i++) {
            freq[i] = u16(src, p + 50 + 2 * i);
        }
        return V1_HEADER_SIZE;
    }

    private int parseV2(byte[] src, int srcStart, int p, int srcEnd) throws CorruptImageException {
        int rel = p - srcStart;
        if (srcEnd - p < V2_FIXED_SIZE) {
            throw Lzfse.corrupt(rel, "bvx2 header runs past the input end");
        }
        nRawBytes = u32(src, p + 4);
        long v0 = u64(src, p + 8);
        long v1 = u64(src, p + 16);
        long v2 = u64(src, p + 24);
        nLiterals = v0 & 0xFFFFF;
        nLiteralPayloadBytes = v0 >>> 20 & 0xFFFFF;
        nMatches = v0 >>> 40 & 0xFFFFF;
        literalBits = (int) (v0 >>> 60 & 7) - 7;
        for (int i = 0; i < 4; i++) {
            literalState[i] = (int) (v1 >>> 10 * i & 0x3FF);
        }
        nLmdPayloadBytes = v1 >>> 40 & 0xFFFFF;
        lmdBits = (int) (v1 >>> 60 & 7) - 7;
        long headerSize = v2 & 0xFFFFFFFFL;
        lState = (int) (v2 >>> 32 & 0x3FF);
        mState = (int) (v2 >>> 42 & 0x3FF);
        dState = (int) (v2 >>> 52 & 0x3FF);
        if (headerSize < V2_FIXED_SIZE || headerSize > srcEnd - p) {
            throw Lzfse.corrupt(rel, "bvx2 header size " + headerSize + " outside 32.." + (srcEnd - p));
        }
        Arrays.fill(freq, 0);
        int q = p + V2_FIXED_SIZE;
        int qEnd = p + (int) headerSize;
        if (q == qEnd) {
            return (int) headerSize; // tables omitted: all frequencies zero
        }
        int accum = 0;
        int accumBits = 0;
        for (int i = 0; i < FREQ_COUNT; i++) {
            while (q < qEnd && accumBits + 8 <= 32) {
                accum |= (src[q++] & 0xFF) << accumBits;
                accumBits += 8;
            }
            int n = FREQ_NBITS[accum & 31];
            if (n > accumBits) {
                throw Lzfse.corrupt(rel, "bvx2 frequency table runs past the header end");
            }
            freq[i] = n == 8 ? 8 + (accum >>> 4 & 0xF) : n == 14 ? 24 + (accum >>> 4 & 0x3FF) : FREQ_VALUE[accum & 31];
            accum >>>= n;
            accumBits -= n;
        }
        if (accumBits >= 8 || q != qEnd) {
            throw Lzfse.corrupt(rel, "bvx2 frequency table does not end at the header end");
        }
        return (int) headerSize;
    }

    private void checkFreq(int rel, int off, int symbols, int states, String name) throws CorruptImageException {
        int sum = 0;
        for (int i = 0; i < symbols; i++) {
            sum += freq[off + i];
        }
        if (sum > states) {
            throw Lzfse.corrupt(rel, name + " frequencies sum to " + sum + " > " + states + " states");
        }
    }

    /** fse_init_decoder_table; states no symbol claims decode as symbol 0 and go to state 0. */
    private void literalTable(int[] t, int off) {
        Arrays.fill(t, 0);
        int nClz = Integer.numberOfLeadingZeros(LITERAL_STATES);
        int s = 0;
        for (int i = 0; i < LITERAL_SYMBOLS; i++) {
            int f = freq[off + i];
            if (f == 0) {
                continue;
            }
            int k = Integer.numberOfLeadingZeros(f) - nClz; // LITERAL_STATES <= f << k < 2 * LITERAL_STATES
            int j0 = (2 * LITERAL_STATES >> k) - f;
            for (int j = 0; j < f; j++) {
                int bits = j < j0 ? k : k - 1;
                int delta = j < j0 ? ((f + j) << k) - LITERAL_STATES : (j - j0) << (k - 1);
                t[s++] = bits | i << 8 | delta << 16;
            }
        }
    }

    /** fse_init_value_decoder_table, same filling rule as {@link #literalTable}. */
    private void valueTable(int[] t, int[] base, int states, int off, int symbols, int[] extraBits, int[] baseValue) {
        Arrays.fill(t, 0);
        Arrays.fill(base, 0);
        int nClz = Integer.numberOfLeadingZeros(states);
        int s = 0;
        for (int i = 0; i < symbols; i++) {
            int f = freq[off + i];
            if (f == 0) {
                continue;
            }
            int k = Integer.numberOfLeadingZeros(f) - nClz;
            int j0 = (2 * states >> k) - f;
            for (int j = 0; j < f; j++) {
                int bits = j < j0 ? k : k - 1;
                int delta = j < j0 ? ((f + j) << k) - states : (j - j0) << (k - 1);
                t[s] = (bits + extraBits[i]) | extraBits[i] << 8 | delta << 16;
                base[s] = baseValue[i];
                s++;
            }
        }
    }

    private void decodeLiterals(byte[] src, int srcStart, int end, int rel) throws CorruptImageException {
        // The reference bounds this stream by the start of the whole input, not of the payload: a
        // short literal payload's first load reaches back into the block header (whose bits are
        // never pulled by a valid stream).
        if (!in.init(src, srcStart, end, literalBits)) {
            throw Lzfse.corrupt(rel, "bad literal stream start (" + literalBits + " final bits)");
        }
        int s0 = literalState[0];
        int s1 = literalState[1];
        int s2 = literalState[2];
        int s3 = literalState[3];
        int[] t = literalTable;
        for (int i = 0; i < nLiterals; i += 4) {
            if (!in.refill()) {
                throw Lzfse.corrupt(rel, "literal stream runs before its start at literal " + i);
            }
            int e = t[s0];
            literals[i] = (byte) (e >>> 8);
            s0 = (e >>> 16) + in.pull(e & 0xFF);
            e = t[s1];
            literals[i + 1] = (byte) (e >>> 8);
            s1 = (e >>> 16) + in.pull(e & 0xFF);
            e = t[s2];
            literals[i + 2] = (byte) (e >>> 8);
            s2 = (e >>> 16) + in.pull(e & 0xFF);
            e = t[s3];
            literals[i + 3] = (byte) (e >>> 8);
            s3 = (e >>> 16) + in.pull(e & 0xFF);
        }
    }

    private int decodeLmd(byte[] src, int start, int end, int rel, byte[] dst, int dstStart, int op, int opEnd)
            throws CorruptImageException {
        if (!in.init(src, start, end, lmdBits)) {
            throw Lzfse.corrupt(rel, "bad L/M/D stream start (" + lmdBits + " final bits)");
        }
        int ls = lState;
        int ms = mState;
        int ds = dState;
        int lit = 0;
        int d = -1; // no previous distance yet
        for (long n = 0; n < nMatches; n++) {
            if (!in.refill()) {
                throw Lzfse.corrupt(rel, "L/M/D stream runs before its start at match " + n);
            }
            int e = lTable[ls];
            int v = in.pull(e & 0xFF);
            int vb = e >>> 8 & 0xFF;
            int l = lBase[ls] + (v & (1 << vb) - 1);
            ls = (e >>> 16) + (v >>> vb);
            e = mTable[ms];
            v = in.pull(e & 0xFF);
            vb = e >>> 8 & 0xFF;
            int m = mBase[ms] + (v & (1 << vb) - 1);
            ms = (e >>> 16) + (v >>> vb);
            e = dTable[ds];
            v = in.pull(e & 0xFF);
            vb = e >>> 8 & 0xFF;
            int newD = dBase[ds] + (v & (1 << vb) - 1);
            ds = (e >>> 16) + (v >>> vb);
            if (newD != 0) {
                d = newD;
            }
            if (l > nLiterals - lit) {
                throw Lzfse.corrupt(rel, "match " + n + " uses literals past the block's " + nLiterals);
            }
            if (l + m > opEnd - op) {
                throw Lzfse.corrupt(rel, "match " + n + " runs past the block's " + nRawBytes + " bytes");
            }
            if (d < 0 || d > op + l - dstStart) {
                throw Lzfse.corrupt(rel, "match " + n + " distance " + d + " reaches before the output start");
            }
            System.arraycopy(literals, lit, dst, op, l);
            lit += l;
            op += l;
            Lzfse.copyMatch(dst, op, d, m);
            op += m;
        }
        if (op != opEnd) {
            throw Lzfse.corrupt(rel, "block decodes to " + (nRawBytes - (opEnd - op)) + " bytes, header says " + nRawBytes);
        }
        return op;
    }

    private static int u16(byte[] b, int i) {
        return b[i] & 0xFF | (b[i + 1] & 0xFF) << 8;
    }

    private static long u32(byte[] b, int i) {
        return (u16(b, i) | (long) u16(b, i + 2) << 16) & 0xFFFFFFFFL;
    }

    private static long u64(byte[] b, int i) {
        return u32(b, i) | u32(b, i + 4) << 32;
    }
}
