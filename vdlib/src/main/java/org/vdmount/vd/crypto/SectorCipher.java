package org.vdmount.vd.crypto;

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
 * <p>Thread-safe: each thread gets its own JCE ciphers. {@link #close} zeroes the key it holds.
 */
public final class SectorCipher implements AutoCloseable {
    private enum Mode { XTS, CBC }

    private enum IvGen { PLAIN, PLAIN64, ESSIV }

    private final String spec;
    private final Mode mode;
    private final IvGen ivGen;
    private final byte[] key;
    private final byte[] essivKey;
    private final ThreadLocal<Cipher[]> ciphers;

    private SectorCipher(String spec, Mode mode, IvGen ivGen, byte[] key, byte[] essivKey) {
        this.spec = spec;
        this.mode = mode;
        this.ivGen = ivGen;
        this.key = key;
        this.essivKey = essivKey;
        this.ciphers = ThreadLocal.withInitial(this::newCiphers);
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
        c.ciphers.get(); // fail here, not at the first read, if the JCE refuses the key
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

    private Cipher[] newCiphers() {
        try {
            Cipher[] c = new Cipher[4];
            if (mode == Mode.XTS) {
                int half = key.length / 2;
                SecretKeySpec k1 = new SecretKeySpec(key, 0, half, "AES");
                SecretKeySpec k2 = new SecretKeySpec(key, half, half, "AES");
                c[0] = Cipher.getInstance("AES/ECB/NoPadding");
                c[0].init(Cipher.ENCRYPT_MODE, k1);
                c[1] = Cipher.getInstance("AES/ECB/NoPadding");
                c[1].init(Cipher.DECRYPT_MODE, k1);
                c[2] = Cipher.getInstance("AES/ECB/NoPadding");
                c[2].init(Cipher.ENCRYPT_MODE, k2);
            } else {
                c[0] = Cipher.getInstance("AES/CBC/NoPadding");
                c[1] = Cipher.getInstance("AES/CBC/NoPadding");
                if (essivKey != null) {
                    c[2] = Cipher.getInstance("AES/ECB/NoPadding");
                    c[2].init(Cipher.ENCRYPT_MODE, new SecretKeySpec(essivKey, "AES"));
                }
            }
            return c;
        } catch (GeneralSecurityException e) {
            throw new IllegalStateException(spec + ": " + e.getMessage(), e);
        }
    }

    /** Encrypts {@code len} bytes (whole sectors of {@code sectorSize}) in place, the first being {@code sector}. */
    public void encrypt(long sector, int sectorSize, byte[] buf, int off, int len) throws GeneralSecurityException {
        for (int i = 0; i < len; i += sectorSize, sector++) {
            sector(true, sector, buf, off + i, sectorSize);
        }
    }

    /** Decrypts {@code len} bytes (whole sectors of {@code sectorSize}) in place, the first being {@code sector}. */
    public void decrypt(long sector, int sectorSize, byte[] buf, int off, int len) throws GeneralSecurityException {
        for (int i = 0; i < len; i += sectorSize, sector++) {
            sector(false, sector, buf, off + i, sectorSize);
        }
    }

    private byte[] iv(long sector, Cipher[] c) throws GeneralSecurityException {
        byte[] iv = new byte[16];
        long n = ivGen == IvGen.PLAIN ? sector & 0xFFFF_FFFFL : sector;
        for (int i = 0; i < 8; i++) {
            iv[i] = (byte) (n >>> (8 * i));
        }
        if (ivGen == IvGen.ESSIV) {
            c[2].doFinal(iv, 0, 16, iv, 0);
        }
        return iv;
    }

    private void sector(boolean enc, long sector, byte[] buf, int off, int len) throws GeneralSecurityException {
        if (len % 16 != 0) {
            throw new GeneralSecurityException("sector of " + len + " bytes is not a multiple of the AES block");
        }
        Cipher[] c = ciphers.get();
        byte[] iv = iv(sector, c);
        if (mode == Mode.CBC) {
            Cipher k = enc ? c[0] : c[1];
            k.init(enc ? Cipher.ENCRYPT_MODE : Cipher.DECRYPT_MODE,
                    new SecretKeySpec(key, "AES"), new IvParameterSpec(iv));
            k.doFinal(buf, off, len, buf, off);
            return;
        }
        // XTS (IEEE 1619): T = AES_K2(IV); block j: C = AES_K1(P ^ T_j) ^ T_j, T_{j+1} = T_j * alpha.
        // Whole sectors of 16-byte blocks only: no ciphertext stealing is needed.
        c[2].doFinal(iv, 0, 16, iv, 0);
        byte[] tweaks = new byte[len];
        for (int j = 0; j < len; j += 16) {
            System.arraycopy(iv, 0, tweaks, j, 16);
            int carry = 0;
            for (int b = 0; b < 16; b++) {
                int v = iv[b] & 0xFF;
                iv[b] = (byte) (v << 1 | carry);
                carry = v >>> 7;
            }
            if (carry != 0) {
                iv[0] ^= (byte) 0x87;
            }
        }
        for (int j = 0; j < len; j++) {
            buf[off + j] ^= tweaks[j];
        }
        (enc ? c[0] : c[1]).doFinal(buf, off, len, buf, off);
        for (int j = 0; j < len; j++) {
            buf[off + j] ^= tweaks[j];
        }
    }

    /** Zeroes the key material this object holds (JCE key objects keep their own copies). */
    @Override
    public void close() {
        Arrays.fill(key, (byte) 0);
        if (essivKey != null) {
            Arrays.fill(essivKey, (byte) 0);
        }
        ciphers.remove();
    }
}
