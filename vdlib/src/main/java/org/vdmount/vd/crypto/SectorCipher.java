package org.vdmount.vd.crypto;

import java.lang.invoke.MethodHandles;
import java.lang.invoke.VarHandle;
import java.nio.ByteOrder;
import java.security.GeneralSecurityException;
import java.util.Arrays;
import java.util.Locale;
import javax.crypto.Cipher;
import javax.crypto.spec.IvParameterSpec;
import javax.crypto.spec.SecretKeySpec;

/**
 * A dm-crypt style sector cipher: a cipher spec as LUKS names it (cipher "aes", mode
 * "xts-plain64", "cbc-essiv:sha256", ...) and its key. Each sector is encrypted on its own with an
 * IV made from its sector number by the IV generator ("plain": the low 32 bits, "plain64": all 64,
 * little-endian; "essiv:H": the sector number encrypted under H(key)).
 *
 * <p>XTS runs many sectors per JCE call: their tweaks are made first (one AES-ECB call encrypts every
 * sector's IV under the second key, then each tweak is doubled in GF(2^128) block by block), XORed
 * in, and one AES-ECB call covers all the sectors' blocks; a call per 16-byte block or per sector
 * made XTS run at ~145 MB/s, this way it runs at the speed of ECB.
 *
 * <p>Thread-safe: each thread gets its own JCE ciphers and scratch arrays. {@link #close} zeroes the
 * key it holds.
 */
public final class SectorCipher implements AutoCloseable {
    private enum Mode { XTS, CBC }

    /** The bytes of data whose tweaks are made ahead of one ECB call (a scratch array per thread). */
    private static final int XTS_BATCH = 64 << 10;
    /** Little-endian longs over a byte array: XTS's tweaks are 128-bit little-endian numbers. */
    private static final VarHandle LE64 = MethodHandles.byteArrayViewVarHandle(long[].class, ByteOrder.LITTLE_ENDIAN);

    private enum IvGen { PLAIN, PLAIN64, ESSIV }

    private final String spec;
    private final Mode mode;
    private final IvGen ivGen;
    private final byte[] key;
    private final byte[] essivKey;
    private final ThreadLocal<Worker> workers;

    private SectorCipher(String spec, Mode mode, IvGen ivGen, byte[] key, byte[] essivKey) {
        this.spec = spec;
        this.mode = mode;
        this.ivGen = ivGen;
        this.key = key;
        this.essivKey = essivKey;
        this.workers = ThreadLocal.withInitial(this::newWorker);
    }

    /**
     * The cipher for LUKS's {@code cipherName} ("aes") and {@code cipherMode} ("xts-plain64") with
     * {@code key} (copied; the caller zeroes its own). Unsupported names are refused in one line.
     */
    public static SectorCipher of(String cipherName, String cipherMode, byte[] key) throws GeneralSecurityException {
        String name = cipherName.toLowerCase(Locale.ROOT);
        String m = cipherMode.toLowerCase(Locale.ROOT);
        String spec = name + "-" + m;
        if (!name.equals("aes")) {
            throw new GeneralSecurityException("cipher '" + spec + "' is not supported (aes is)");
        }
        int dash = m.indexOf('-');
        String chain = dash < 0 ? m : m.substring(0, dash);
        String iv = dash < 0 ? "" : m.substring(dash + 1);
        Mode mode = switch (chain) {
            case "xts" -> Mode.XTS;
            case "cbc" -> Mode.CBC;
            default -> throw new GeneralSecurityException("cipher mode '" + cipherMode + "' is not supported "
                    + "(xts and cbc are)");
        };
        int aesKey = mode == Mode.XTS ? key.length / 2 : key.length;
        if (aesKey != 16 && aesKey != 24 && aesKey != 32 || mode == Mode.XTS && key.length % 2 != 0) {
            throw new GeneralSecurityException("key of " + key.length + " bytes does not fit " + spec);
        }
        IvGen gen;
        byte[] essiv = null;
        if (iv.equals("plain")) {
            gen = IvGen.PLAIN;
        } else if (iv.equals("plain64")) {
            gen = IvGen.PLAIN64;
        } else if (iv.startsWith("essiv:")) {
            gen = IvGen.ESSIV;
            essiv = LuksHash.digest(iv.substring(6)).digest(key);
            if (essiv.length != 16 && essiv.length != 24 && essiv.length != 32) {
                throw new GeneralSecurityException("ESSIV hash of '" + spec + "' gives no AES key size");
            }
        } else {
            throw new GeneralSecurityException("IV generator '" + iv + "' of '" + spec + "' is not supported "
                    + "(plain, plain64, essiv:HASH are)");
        }
        SectorCipher c = new SectorCipher(spec, mode, gen, key.clone(), essiv);
        c.workers.get(); // fail here, not at the first read, if the JCE refuses the key
        return c;
    }

    /** As LUKS2 spells it: "aes-xts-plain64". */
    public static SectorCipher of(String encryption, byte[] key) throws GeneralSecurityException {
        int dash = encryption.indexOf('-');
        if (dash < 0) {
            throw new GeneralSecurityException("encryption '" + encryption + "' names no mode");
        }
        return of(encryption.substring(0, dash), encryption.substring(dash + 1), key);
    }

    public String spec() {
        return spec;
    }

    public int keyBytes() {
        return key.length;
    }

    /**
     * One thread's JCE ciphers (a Cipher is not thread-safe) and scratch arrays. XTS: K1 encrypt and
     * decrypt, K2 encrypt (the tweaks), the ESSIV key's encrypt. CBC: encrypt and decrypt (given an
     * IV per sector), the ESSIV key's encrypt.
     */
    private static final class Worker {
        Cipher encrypt;
        Cipher decrypt;
        Cipher tweak;
        Cipher essiv;
        SecretKeySpec cbcKey;
        byte[] ivs = new byte[0];
        byte[] tweaks = new byte[0];

        byte[] ivs(int n) {
            if (ivs.length < n) {
                ivs = new byte[n];
            }
            return ivs;
        }

        byte[] tweaks(int n) {
            if (tweaks.length < n) {
                tweaks = new byte[n];
            }
            return tweaks;
        }
    }

    private Worker newWorker() {
        try {
            Worker w = new Worker();
            if (mode == Mode.XTS) {
                int half = key.length / 2;
                SecretKeySpec k1 = new SecretKeySpec(key, 0, half, "AES");
                w.encrypt = Cipher.getInstance("AES/ECB/NoPadding");
                w.encrypt.init(Cipher.ENCRYPT_MODE, k1);
                w.decrypt = Cipher.getInstance("AES/ECB/NoPadding");
                w.decrypt.init(Cipher.DECRYPT_MODE, k1);
                w.tweak = Cipher.getInstance("AES/ECB/NoPadding");
                w.tweak.init(Cipher.ENCRYPT_MODE, new SecretKeySpec(key, half, half, "AES"));
            } else {
                w.cbcKey = new SecretKeySpec(key, "AES");
                w.encrypt = Cipher.getInstance("AES/CBC/NoPadding");
                w.decrypt = Cipher.getInstance("AES/CBC/NoPadding");
            }
            if (essivKey != null) {
                w.essiv = Cipher.getInstance("AES/ECB/NoPadding");
                w.essiv.init(Cipher.ENCRYPT_MODE, new SecretKeySpec(essivKey, "AES"));
            }
            return w;
        } catch (GeneralSecurityException e) {
            throw new IllegalStateException(spec + ": " + e.getMessage(), e);
        }
    }

    /** Encrypts {@code len} bytes (whole sectors of {@code sectorSize}) in place, the first being {@code sector}. */
    public void encrypt(long sector, int sectorSize, byte[] buf, int off, int len) throws GeneralSecurityException {
        run(true, sector, sectorSize, buf, off, len);
    }

    /** Decrypts {@code len} bytes (whole sectors of {@code sectorSize}) in place, the first being {@code sector}. */
    public void decrypt(long sector, int sectorSize, byte[] buf, int off, int len) throws GeneralSecurityException {
        run(false, sector, sectorSize, buf, off, len);
    }

    private void run(boolean enc, long sector, int sectorSize, byte[] buf, int off, int len)
            throws GeneralSecurityException {
        if (sectorSize <= 0 || sectorSize % 16 != 0) {
            throw new GeneralSecurityException("sector of " + sectorSize + " bytes is not a multiple of the AES block");
        }
        if (len % sectorSize != 0) {
            throw new GeneralSecurityException(len + " bytes are not whole sectors of " + sectorSize);
        }
        Worker w = workers.get();
        int batch = Math.max(1, XTS_BATCH / sectorSize);
        for (int done = 0; done < len; ) {
            int n = mode == Mode.XTS ? Math.min(batch, (len - done) / sectorSize) : 1;
            byte[] ivs = ivs(w, sector, n);
            if (mode == Mode.XTS) {
                xts(enc, w, ivs, n, sectorSize, buf, off + done);
            } else {
                Cipher k = enc ? w.encrypt : w.decrypt;
                k.init(enc ? Cipher.ENCRYPT_MODE : Cipher.DECRYPT_MODE, w.cbcKey, new IvParameterSpec(ivs, 0, 16));
                k.doFinal(buf, off + done, sectorSize, buf, off + done);
            }
            done += n * sectorSize;
            sector += n;
        }
    }

    /** The IVs of sectors {@code sector ... sector + n - 1}, 16 bytes each, in the worker's scratch array. */
    private byte[] ivs(Worker w, long sector, int n) throws GeneralSecurityException {
        byte[] ivs = w.ivs(16 * n);
        for (int s = 0; s < n; s++) {
            long v = ivGen == IvGen.PLAIN ? (sector + s) & 0xFFFF_FFFFL : sector + s;
            LE64.set(ivs, 16 * s, v);
            LE64.set(ivs, 16 * s + 8, 0L);
        }
        if (ivGen == IvGen.ESSIV) {
            w.essiv.doFinal(ivs, 0, 16 * n, ivs, 0);
        }
        return ivs;
    }

    /**
     * XTS (IEEE 1619) over {@code n} whole sectors at {@code buf[off]}: T = AES_K2(IV); block j:
     * C = AES_K1(P ^ T_j) ^ T_j, T_{j+1} = T_j * alpha (a left shift of the little-endian 128-bit
     * number, 0x87 folded into the low byte on carry). Sectors are whole 16-byte blocks, so no
     * ciphertext stealing is needed.
     */
    private static void xts(boolean enc, Worker w, byte[] ivs, int n, int sectorSize, byte[] buf, int off)
            throws GeneralSecurityException {
        int bytes = n * sectorSize;
        w.tweak.doFinal(ivs, 0, 16 * n, ivs, 0);
        byte[] tw = w.tweaks(bytes);
        for (int s = 0; s < n; s++) {
            long lo = (long) LE64.get(ivs, 16 * s);
            long hi = (long) LE64.get(ivs, 16 * s + 8);
            for (int j = s * sectorSize, end = j + sectorSize; j < end; j += 16) {
                LE64.set(tw, j, lo);
                LE64.set(tw, j + 8, hi);
                long carry = hi >> 63; // all ones when bit 127 is set
                hi = hi << 1 | lo >>> 63;
                lo = lo << 1 ^ (carry & 0x87);
            }
        }
        xor(buf, off, tw, bytes);
        (enc ? w.encrypt : w.decrypt).doFinal(buf, off, bytes, buf, off);
        xor(buf, off, tw, bytes);
    }

    /** {@code buf[off ... off + len) ^= tw[0 ... len)}, {@code len} a multiple of 8. */
    private static void xor(byte[] buf, int off, byte[] tw, int len) {
        for (int i = 0; i < len; i += 8) {
            LE64.set(buf, off + i, (long) LE64.get(buf, off + i) ^ (long) LE64.get(tw, i));
        }
    }

    /** Zeroes the key material this object holds (JCE key objects keep their own copies). */
    @Override
    public void close() {
        Arrays.fill(key, (byte) 0);
        if (essivKey != null) {
            Arrays.fill(essivKey, (byte) 0);
        }
        workers.remove();
    }
}
