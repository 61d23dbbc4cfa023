package org.vdmount.vd.crypto;

import java.security.GeneralSecurityException;
import java.util.Arrays;
import javax.crypto.Mac;
import javax.crypto.spec.SecretKeySpec;

/**
 * PBKDF2 (RFC 8018 section 5.2) over an HMAC. Written over {@link Mac} rather than JCE's
 * PBKDF2WithHmac* key factory because LUKS also runs it over binary input (the master key, for
 * the digest check), which that factory's char[] password cannot carry unchanged.
 */
public final class Pbkdf2 {
    /**
     * The most iterations a header may ask for: tens of seconds here, several times what
     * cryptsetup's and qemu's benchmarks choose on today's machines; more is a damaged or hostile
     * header, refused rather than computed for hours.
     */
    public static final long MAX_ITERATIONS = 50_000_000;

    private Pbkdf2() {
    }

    /** {@code length} bytes of PBKDF2-HMAC-{@code hash} ("sha1", "sha256", "sha512"). */
    public static byte[] derive(String hash, byte[] password, byte[] salt, long iterations, int length)
            throws GeneralSecurityException {
        if (iterations < 1 || iterations > MAX_ITERATIONS) {
            throw new GeneralSecurityException("PBKDF2 iteration count " + iterations + " not in 1.." + MAX_ITERATIONS);
        }
        Mac mac = Mac.getInstance(LuksHash.hmacName(hash));
        // HMAC of an empty key: the JCE refuses a zero-length key; HMAC pads the key with zeros to
        // the block size anyway, so one zero byte gives the same MAC (RFC 2104 section 2).
        byte[] key = password.length == 0 ? new byte[1] : password;
        mac.init(new SecretKeySpec(key, mac.getAlgorithm()));
        int hlen = mac.getMacLength();
        byte[] out = new byte[length];
        byte[] u = new byte[hlen];
        byte[] t = new byte[hlen];
        for (int block = 1, done = 0; done < length; block++) {
            mac.update(salt);
            mac.update(new byte[] {(byte) (block >>> 24), (byte) (block >>> 16), (byte) (block >>> 8), (byte) block});
            mac.doFinal(u, 0);
            System.arraycopy(u, 0, t, 0, hlen);
            for (long i = 1; i < iterations; i++) {
                mac.update(u);
                mac.doFinal(u, 0);
                for (int j = 0; j < hlen; j++) {
                    t[j] ^= u[j];
                }
            }
            int n = Math.min(hlen, length - done);
            System.arraycopy(t, 0, out, done, n);
            done += n;
        }
        Arrays.fill(u, (byte) 0);
        Arrays.fill(t, (byte) 0);
        return out;
    }

    /** Iterations that take about {@code millis} ms on this machine (as cryptsetup and qemu benchmark). */
    public static long iterationsFor(String hash, long millis) throws GeneralSecurityException {
        int probe = 20_000;
        long t0 = System.nanoTime();
        derive(hash, new byte[] {1}, new byte[32], probe, 32);
        long ns = Math.max(1, System.nanoTime() - t0);
        long n = probe * millis * 1_000_000L / ns;
        return Math.max(1000, Math.min(n, MAX_ITERATIONS));
    }
}
