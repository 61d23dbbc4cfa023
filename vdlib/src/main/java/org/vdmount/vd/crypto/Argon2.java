package org.vdmount.vd.crypto;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;

/**
 * Argon2 version 0x13 (RFC 9106), types i and id, as LUKS2 key slots use it (section 3.2 "kdf":
 * time = passes, memory in KiB, cpus = lanes). The lanes of one slice are independent (section
 * 3.4: a block references only its own lane's current segment and other lanes' finished slices),
 * so they are computed on up to one thread per core, as libargon2 and cryptsetup do; the result
 * does not depend on the threads.
 */
final class Argon2 {
    static final int TYPE_D = 0;
    static final int TYPE_I = 1;
    static final int TYPE_ID = 2;
    private static final int VERSION = 0x13;
    private static final int SYNC_POINTS = 4;
    private static final int WORDS = 128; // 64-bit words in a 1 KiB block

    private final long[] mem;
    private final int lanes;
    private final int laneLength;
    private final int segmentLength;
    private final int passes;
    private final int type;
    private final int blocks;

    private Argon2(int type, int passes, int memoryKiB, int lanes) {
        this.type = type;
        this.passes = passes;
        this.lanes = lanes;
        int m = Math.max(memoryKiB, 2 * SYNC_POINTS * lanes);
        this.segmentLength = m / (lanes * SYNC_POINTS);
        this.laneLength = segmentLength * SYNC_POINTS;
        this.blocks = laneLength * lanes;
        this.mem = new long[blocks * WORDS];
    }

    static byte[] derive(int type, byte[] password, byte[] salt, int passes, int memoryKiB, int lanes, int tagLength) {
        return derive(type, password, salt, new byte[0], new byte[0], passes, memoryKiB, lanes, tagLength);
    }

    /** With RFC 9106's optional secret K and associated data X (its test vectors use them). */
    static byte[] derive(int type, byte[] password, byte[] salt, byte[] secret, byte[] ad, int passes, int memoryKiB,
                         int lanes, int tagLength) {
        Argon2 a = new Argon2(type, passes, memoryKiB, lanes);
        // H0 (RFC 9106 section 3.2 step 1)
        Blake2b h = new Blake2b(64);
        h.updateLe32(lanes).updateLe32(tagLength).updateLe32(memoryKiB).updateLe32(passes).updateLe32(VERSION)
                .updateLe32(type).updateLe32(password.length).update(password).updateLe32(salt.length).update(salt)
                .updateLe32(secret.length).update(secret).updateLe32(ad.length).update(ad);
        byte[] h0 = h.digest();
        byte[] seed = Arrays.copyOf(h0, 72);
        for (int l = 0; l < lanes; l++) {
            for (int i = 0; i < 2; i++) {
                le32(seed, 64, i);
                le32(seed, 68, l);
                byte[] b = hashPrime(seed, 1024);
                a.load(l * a.laneLength + i, b);
                Arrays.fill(b, (byte) 0);
            }
        }
        Arrays.fill(seed, (byte) 0);
        Arrays.fill(h0, (byte) 0);
        a.fillMemory();
        long[] c = new long[WORDS];
        for (int l = 0; l < lanes; l++) {
            int last = (l * a.laneLength + a.laneLength - 1) * WORDS;
            for (int w = 0; w < WORDS; w++) {
                c[w] ^= a.mem[last + w];
            }
        }
        byte[] cb = new byte[1024];
        for (int w = 0; w < WORDS; w++) {
            for (int b = 0; b < 8; b++) {
                cb[w * 8 + b] = (byte) (c[w] >>> (8 * b));
            }
        }
        Arrays.fill(a.mem, 0);
        byte[] tag = hashPrime(cb, tagLength);
        Arrays.fill(cb, (byte) 0);
        return tag;
    }

    /** Every pass and slice; the lanes of a slice on up to one thread per core. */
    private void fillMemory() {
        int threads = Math.min(lanes, Runtime.getRuntime().availableProcessors());
        if (threads <= 1) {
            for (int pass = 0; pass < passes; pass++) {
                for (int slice = 0; slice < SYNC_POINTS; slice++) {
                    for (int lane = 0; lane < lanes; lane++) {
                        fillSegment(pass, lane, slice);
                    }
                }
            }
            return;
        }
        ExecutorService pool = Executors.newFixedThreadPool(threads, r -> {
            Thread t = new Thread(r, "argon2");
            t.setDaemon(true);
            return t;
        });
        try {
            for (int pass = 0; pass < passes; pass++) {
                for (int slice = 0; slice < SYNC_POINTS; slice++) {
                    List<Future<?>> lanesDone = new ArrayList<>(lanes);
                    for (int lane = 0; lane < lanes; lane++) {
                        int p = pass;
                        int l = lane;
                        int sl = slice;
                        lanesDone.add(pool.submit(() -> fillSegment(p, l, sl)));
                    }
                    for (Future<?> f : lanesDone) {
                        f.get(); // the next slice reads this one's blocks: all lanes first
                    }
                }
            }
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IllegalStateException("argon2 interrupted", e);
        } catch (ExecutionException e) {
            throw new IllegalStateException("argon2: " + e.getCause(), e.getCause());
        } finally {
            pool.shutdownNow();
        }
    }

    private static void le32(byte[] b, int off, int v) {
        b[off] = (byte) v;
        b[off + 1] = (byte) (v >>> 8);
        b[off + 2] = (byte) (v >>> 16);
        b[off + 3] = (byte) (v >>> 24);
    }

    /** H' (RFC 9106 section 3.3): the variable-length hash. */
    static byte[] hashPrime(byte[] x, int t) {
        if (t <= 64) {
            return new Blake2b(t).updateLe32(t).update(x).digest();
        }
        byte[] out = new byte[t];
        int r = (t + 31) / 32 - 2;
        byte[] v = new Blake2b(64).updateLe32(t).update(x).digest();
        System.arraycopy(v, 0, out, 0, 32);
        for (int i = 1; i < r; i++) {
            v = new Blake2b(64).update(v).digest();
            System.arraycopy(v, 0, out, i * 32, 32);
        }
        byte[] lastV = new Blake2b(t - 32 * r).update(v).digest();
        System.arraycopy(lastV, 0, out, r * 32, lastV.length);
        return out;
    }

    private void load(int index, byte[] b) {
        int base = index * WORDS;
        for (int w = 0; w < WORDS; w++) {
            long v = 0;
            for (int k = 7; k >= 0; k--) {
                v = v << 8 | (b[w * 8 + k] & 0xFF);
            }
            mem[base + w] = v;
        }
    }

    private void fillSegment(int pass, int lane, int slice) {
        boolean independent = type == TYPE_I || type == TYPE_ID && pass == 0 && slice < SYNC_POINTS / 2;
        long[] address = new long[WORDS];
        long[] input = new long[WORDS];
        long[] zero = new long[WORDS];
        long[] rr = new long[WORDS]; // fillBlock's scratch: one pair per segment, so per thread
        long[] tmp = new long[WORDS];
        if (independent) {
            input[0] = pass;
            input[1] = lane;
            input[2] = slice;
            input[3] = blocks;
            input[4] = passes;
            input[5] = type;
        }
        int start = 0;
        if (pass == 0 && slice == 0) {
            start = 2;
            if (independent) {
                nextAddresses(address, input, zero, rr, tmp);
            }
        }
        int cur = lane * laneLength + slice * segmentLength + start;
        int prev = cur % laneLength == 0 ? cur + laneLength - 1 : cur - 1;
        for (int i = start; i < segmentLength; i++, cur++, prev++) {
            if (cur % laneLength == 1) {
                prev = cur - 1;
            }
            long rand;
            if (independent) {
                if (i % WORDS == 0) {
                    nextAddresses(address, input, zero, rr, tmp);
                }
                rand = address[i % WORDS];
            } else {
                rand = mem[prev * WORDS];
            }
            int refLane = (int) ((rand >>> 32) % lanes);
            if (pass == 0 && slice == 0) {
                refLane = lane;
            }
            int refIndex = indexAlpha(pass, slice, i, rand & 0xFFFF_FFFFL, refLane == lane);
            fillBlock(mem, prev * WORDS, mem, (refLane * laneLength + refIndex) * WORDS, mem, cur * WORDS, pass != 0,
                    rr, tmp);
        }
    }

    private static void nextAddresses(long[] address, long[] input, long[] zero, long[] rr, long[] tmp) {
        input[6]++;
        fillBlock(zero, 0, input, 0, address, 0, false, rr, tmp);
        fillBlock(zero, 0, address, 0, address, 0, false, rr, tmp);
    }

    /** The reference block's index in its lane (RFC 9106 section 3.4.2). */
    private int indexAlpha(int pass, int slice, int index, long rand32, boolean sameLane) {
        long area;
        if (pass == 0) {
            if (slice == 0) {
                area = index - 1;
            } else if (sameLane) {
                area = (long) slice * segmentLength + index - 1;
            } else {
                area = (long) slice * segmentLength + (index == 0 ? -1 : 0);
            }
        } else if (sameLane) {
            area = laneLength - segmentLength + index - 1;
        } else {
            area = laneLength - segmentLength + (index == 0 ? -1 : 0);
        }
        long rel = (rand32 * rand32) >>> 32;
        rel = area - 1 - ((area * rel) >>> 32);
        long startPos = pass != 0 && slice != SYNC_POINTS - 1 ? (long) (slice + 1) * segmentLength : 0;
        return (int) ((startPos + rel) % laneLength);
    }

    /** Word indices of the 8 row and the 8 column applications of P (RFC 9106 section 3.6). */
    private static final int[][] ROWS = new int[8][16];
    private static final int[][] COLUMNS = new int[8][16];

    static {
        for (int i = 0; i < 8; i++) {
            for (int k = 0; k < 16; k++) {
                ROWS[i][k] = 16 * i + k;
                COLUMNS[i][k] = 2 * i + (k / 2) * 16 + (k % 2);
            }
        }
    }

    /**
     * G (RFC 9106 section 3.5): next = P(prev ^ ref) ^ prev ^ ref, XORed into next after the first
     * pass; {@code rr} and {@code tmp} are the caller's scratch blocks.
     */
    private static void fillBlock(long[] pa, int p, long[] ra, int r, long[] na, int n, boolean withXor, long[] rr,
                                  long[] tmp) {
        for (int w = 0; w < WORDS; w++) {
            rr[w] = ra[r + w] ^ pa[p + w];
            tmp[w] = rr[w] ^ (withXor ? na[n + w] : 0);
        }
        for (int i = 0; i < 8; i++) {
            round(rr, ROWS[i]);
        }
        for (int i = 0; i < 8; i++) {
            round(rr, COLUMNS[i]);
        }
        for (int w = 0; w < WORDS; w++) {
            na[n + w] = tmp[w] ^ rr[w];
        }
    }

    private static void round(long[] v, int[] i) {
        gb(v, i[0], i[4], i[8], i[12]);
        gb(v, i[1], i[5], i[9], i[13]);
        gb(v, i[2], i[6], i[10], i[14]);
        gb(v, i[3], i[7], i[11], i[15]);
        gb(v, i[0], i[5], i[10], i[15]);
        gb(v, i[1], i[6], i[11], i[12]);
        gb(v, i[2], i[7], i[8], i[13]);
        gb(v, i[3], i[4], i[9], i[14]);
    }

    private static long fBlaMka(long x, long y) {
        return x + y + 2 * (x & 0xFFFF_FFFFL) * (y & 0xFFFF_FFFFL);
    }

    private static void gb(long[] v, int a, int b, int c, int d) {
        v[a] = fBlaMka(v[a], v[b]);
        v[d] = Long.rotateRight(v[d] ^ v[a], 32);
        v[c] = fBlaMka(v[c], v[d]);
        v[b] = Long.rotateRight(v[b] ^ v[c], 24);
        v[a] = fBlaMka(v[a], v[b]);
        v[d] = Long.rotateRight(v[d] ^ v[a], 16);
        v[c] = fBlaMka(v[c], v[d]);
        v[b] = Long.rotateRight(v[b] ^ v[c], 63);
    }
}
