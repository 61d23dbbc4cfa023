package org.vdmount.vd.crypto;

import java.security.GeneralSecurityException;
import java.security.MessageDigest;
import java.security.SecureRandom;
import java.util.Arrays;

/**
 * LUKS's anti-forensic information splitter (LUKS1 on-disk format, section 2.4 "AF-Splitter"):
 * a key of n bytes is stored as {@code stripes} stripes of n bytes; all but the last are random,
 * and the key is recovered by folding them through the hash diffuser.
 */
public final class AfSplitter {
    private AfSplitter() {
    }

    /** The key from its {@code stripes * keyBytes} split material (AFmerge). */
    public static byte[] merge(byte[] material, int keyBytes, int stripes, String hash) throws GeneralSecurityException {
        MessageDigest md = LuksHash.digest(hash);
        byte[] d = new byte[keyBytes];
        for (int i = 0; i < stripes - 1; i++) {
            xor(material, i * keyBytes, d);
            diffuse(md, d);
        }
        xor(material, (stripes - 1) * keyBytes, d);
        return d;
    }

    /** Split material for {@code key}: random stripes, the last chosen so that {@link #merge} gives the key. */
    public static byte[] split(byte[] key, int stripes, String hash, SecureRandom random) throws GeneralSecurityException {
        MessageDigest md = LuksHash.digest(hash);
        int n = key.length;
        byte[] out = new byte[n * stripes];
        byte[] d = new byte[n];
        for (int i = 0; i < stripes - 1; i++) {
            byte[] s = new byte[n];
            random.nextBytes(s);
            System.arraycopy(s, 0, out, i * n, n);
            xor(s, 0, d);
            diffuse(md, d);
        }
        for (int j = 0; j < n; j++) {
            out[(stripes - 1) * n + j] = (byte) (d[j] ^ key[j]);
        }
        Arrays.fill(d, (byte) 0);
        return out;
    }

    private static void xor(byte[] src, int off, byte[] d) {
        for (int j = 0; j < d.length; j++) {
            d[j] ^= src[off + j];
        }
    }

    /**
     * The diffuser: each hash-sized piece j of {@code d} (the last may be shorter) becomes
     * H(be32(j) || piece), cut to the piece's length.
     */
    static void diffuse(MessageDigest md, byte[] d) {
        int h = md.getDigestLength();
        for (int j = 0, off = 0; off < d.length; j++, off += h) {
            int len = Math.min(h, d.length - off);
            md.reset();
            md.update(new byte[] {(byte) (j >>> 24), (byte) (j >>> 16), (byte) (j >>> 8), (byte) j});
            md.update(d, off, len);
            byte[] out = md.digest();
            System.arraycopy(out, 0, d, off, len);
        }
    }
}
