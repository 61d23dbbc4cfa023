package org.vdmount.vd.crypto;

import java.security.GeneralSecurityException;
import java.security.MessageDigest;
import java.security.SecureRandom;
import java.util.Arrays;
import java.util.Base64;
import org.vdmount.vd.Bytes;
import org.vdmount.vd.VdException;

/**
 * VirtualBox's key store of an encrypted medium: the value of the medium property
 * {@code CRYPT/KeyStore} in the VM's {@code .vbox} file, base64 of this 250-byte little-endian
 * structure (VirtualBox's VDKeyStore.cpp, {@code VDKeyStore}, {@code #pragma pack(1)}, version
 * 0x0100; the fields after {@code u16Version} are misaligned because of the packing):
 * <pre>
 *   0  u32   magic 0x454e4353 ("SCNE" on disk)      106 u32   DEK digest size
 *   4  u16   version 0x0100                         110 [32]  DEK digest salt
 *   6  [32]  cipher, NUL padded                     142 u32   DEK digest iterations
 *  38  [32]  key derivation, NUL padded             146 [32]  DEK (wrapping key) salt
 *  70  u32   DEK size in bytes                      178 u32   DEK iterations
 *  74  [32]  DEK digest                             182 u32   encrypted DEK size
 *                                                   186 [64]  encrypted DEK
 * </pre>
 * Unlocking (vdKeyStoreGetDekFromEncoded): the wrapping key is PBKDF2-HMAC-H(password, DEK salt
 * (all 32 bytes), DEK iterations, DEK size bytes); the DEK is the encrypted DEK decrypted with the
 * store's cipher (AES-XTS, that key, a zero tweak, one data unit); it is right when
 * PBKDF2-HMAC-H(DEK, digest salt, digest iterations, digest size) equals the stored digest.
 *
 * @param cipher            "AES-XTS128-PLAIN64" (32-byte DEK) or "AES-XTS256-PLAIN64" (64-byte DEK)
 * @param keyDerivation     "PBKDF2-SHA1" or "PBKDF2-SHA256" (what VirtualBox writes)
 * @param dekBytes          the DEK's size
 * @param dekDigest         32 bytes, the first {@code dekDigestBytes} meaningful
 * @param dekEncrypted      64 bytes, the first {@code dekEncryptedBytes} meaningful
 */
public record VBoxKeyStore(String cipher, String keyDerivation, int dekBytes, byte[] dekDigest, int dekDigestBytes,
                           byte[] dekDigestSalt, long dekDigestIterations, byte[] dekSalt, long dekIterations,
                           int dekEncryptedBytes, byte[] dekEncrypted) {

    /** Size of the structure. */
    public static final int SIZE = 250;
    static final long MAGIC = 0x454e4353L;
    static final int VERSION = 0x0100;
    /** More PBKDF2 iterations than this are refused: they would stall an open for minutes. */
    public static final long MAX_ITERATIONS = 50_000_000L;
    /** What VirtualBox's benchmark never goes below (VD_KEYSTORE_ITERATIONS_MIN). */
    public static final long MIN_CREATE_ITERATIONS = 20_000;

    public VBoxKeyStore {
        dekDigest = Arrays.copyOf(dekDigest, 32);
        dekDigestSalt = Arrays.copyOf(dekDigestSalt, 32);
        dekSalt = Arrays.copyOf(dekSalt, 32);
        dekEncrypted = Arrays.copyOf(dekEncrypted, 64);
    }

    /**
     * The store in the base64 {@code value} (line breaks and blanks allowed, as the .vbox file
     * keeps it). {@code where} names it in errors: "vm.vbox: medium {uuid}: CRYPT/KeyStore".
     * Every field is checked here, so an unlock only fails on the password.
     */
    public static VBoxKeyStore decode(String value, String where) throws VdException {
        StringBuilder b64 = new StringBuilder();
        for (int i = 0; i < value.length(); i++) {
            char c = value.charAt(i);
            if (!Character.isWhitespace(c)) {
                if (b64.length() > 4 * SIZE) {
                    throw new VdException(where + ": key store of more than " + SIZE + " bytes");
                }
                b64.append(c);
            }
        }
        byte[] raw;
        try {
            raw = Base64.getDecoder().decode(b64.toString());
        } catch (IllegalArgumentException e) {
            throw new VdException(where + ": not base64 (" + e.getMessage() + ")");
        }
        return parse(raw, where);
    }

    /** The store in its 250 raw bytes. */
    public static VBoxKeyStore parse(byte[] raw, String where) throws VdException {
        if (raw.length != SIZE) {
            throw new VdException(where + ": key store of " + raw.length + " bytes, expected " + SIZE);
        }
        Bytes b = Bytes.of(raw);
        if (b.u32le(0) != MAGIC) {
            throw new VdException(where + ": bad key store magic 0x" + Long.toHexString(b.u32le(0)) + " at offset 0 "
                    + "(expected 0x454e4353, \"SCNE\")");
        }
        if (b.u16le(4) != VERSION) {
            throw new VdException(where + ": key store version 0x" + Integer.toHexString(b.u16le(4))
                    + " at offset 4 is not supported (0x100 is)");
        }
        VBoxKeyStore s = new VBoxKeyStore(b.asciiz(6, 32), b.asciiz(38, 32),
                (int) Math.min(b.u32le(70), Integer.MAX_VALUE),
                b.bytes(74, 32), (int) Math.min(b.u32le(106), Integer.MAX_VALUE), b.bytes(110, 32), b.u32le(142),
                b.bytes(146, 32), b.u32le(178), (int) Math.min(b.u32le(182), Integer.MAX_VALUE), b.bytes(186, 64));
        s.check(where);
        return s;
    }

    /** The 250 raw bytes. */
    public byte[] toBytes() {
        Bytes b = Bytes.allocate(SIZE);
        b.put32le(0, MAGIC).put16le(4, VERSION);
        b.putBytes(6, Arrays.copyOf(cipher.getBytes(java.nio.charset.StandardCharsets.US_ASCII), 32));
        b.putBytes(38, Arrays.copyOf(keyDerivation.getBytes(java.nio.charset.StandardCharsets.US_ASCII), 32));
        b.put32le(70, dekBytes).putBytes(74, dekDigest).put32le(106, dekDigestBytes).putBytes(110, dekDigestSalt)
                .put32le(142, dekDigestIterations).putBytes(146, dekSalt).put32le(178, dekIterations)
                .put32le(182, dekEncryptedBytes).putBytes(186, dekEncrypted);
        return b.bytes(0, SIZE);
    }

    /** Base64 as VirtualBox stores it in the .vbox (one line here; VirtualBox breaks it every 64 chars). */
    public String encode() {
        return Base64.getEncoder().encodeToString(toBytes());
    }

    /** The DEK size the store's cipher takes (the XTS key: two AES keys). */
    static int dekBytesOf(String cipher) {
        return switch (cipher) {
            case "AES-XTS128-PLAIN64" -> 32;
            case "AES-XTS256-PLAIN64" -> 64;
            default -> -1;
        };
    }

    private static String hashOf(String kdf) {
        return switch (kdf) {
            case "PBKDF2-SHA1" -> "sha1";
            case "PBKDF2-SHA256" -> "sha256";
            default -> null;
        };
    }

    private void check(String where) throws VdException {
        int want = dekBytesOf(cipher);
        if (want < 0) {
            throw new VdException(where + ": cipher '" + cipher + "' at offset 6 is not supported "
                    + "(AES-XTS128-PLAIN64 and AES-XTS256-PLAIN64 are)");
        }
        String hash = hashOf(keyDerivation);
        if (hash == null) {
            // PBKDF2-SHA512 too: its 64-byte digest does not fit the 32-byte field, VirtualBox
            // itself cannot verify such a store
            throw new VdException(where + ": key derivation '" + keyDerivation + "' at offset 38 is not supported "
                    + "(PBKDF2-SHA1 and PBKDF2-SHA256 are)");
        }
        if (dekBytes != want) {
            throw new VdException(where + ": DEK size " + dekBytes + " at offset 70 does not fit " + cipher
                    + " (" + want + " bytes)");
        }
        int hlen = hash.equals("sha1") ? 20 : 32;
        if (dekDigestBytes != hlen) {
            throw new VdException(where + ": DEK digest size " + dekDigestBytes + " at offset 106 is not the "
                    + keyDerivation + " size " + hlen);
        }
        if (dekEncryptedBytes != dekBytes) {
            throw new VdException(where + ": encrypted DEK size " + dekEncryptedBytes + " at offset 182 is not the "
                    + "DEK size " + dekBytes);
        }
        checkIterations(where, "DEK digest iterations", 142, dekDigestIterations);
        checkIterations(where, "DEK iterations", 178, dekIterations);
    }

    private static void checkIterations(String where, String what, int offset, long n) throws VdException {
        if (n < 1 || n > MAX_ITERATIONS) {
            throw new VdException(where + ": " + what + " " + n + " at offset " + offset + " out of range (1.."
                    + MAX_ITERATIONS + ")");
        }
    }

    /**
     * The DEK (the caller zeroes it) if {@code password} (UTF-8, zeroed here) unlocks the store;
     * else one line: "wrong password".
     */
    public byte[] unlock(byte[] password, String where) throws VdException {
        String hash = hashOf(keyDerivation);
        byte[] wrap = null;
        byte[] dek = null;
        try {
            wrap = Pbkdf2.derive(hash, password, dekSalt, dekIterations, dekBytes);
            dek = Arrays.copyOf(dekEncrypted, dekBytes);
            try (SectorCipher xts = SectorCipher.of("aes", "xts-plain64", wrap)) {
                xts.decrypt(0, dekBytes, dek, 0, dekBytes);
            }
            byte[] digest = Pbkdf2.derive(hash, dek, dekDigestSalt, dekDigestIterations, dekDigestBytes);
            boolean ok = MessageDigest.isEqual(digest, Arrays.copyOf(dekDigest, dekDigestBytes));
            if (!ok) {
                Arrays.fill(dek, (byte) 0);
                throw new VdException(where + ": wrong password (the DEK it decrypts does not match the key "
                        + "store's digest)");
            }
            byte[] out = dek;
            dek = null;
            return out;
        } catch (GeneralSecurityException e) {
            throw new VdException(where + ": " + e.getMessage());
        } finally {
            Arrays.fill(password, (byte) 0);
            if (wrap != null) {
                Arrays.fill(wrap, (byte) 0);
            }
            if (dek != null) {
                Arrays.fill(dek, (byte) 0);
            }
        }
    }

    /**
     * A store of {@code dek} under {@code password} as VirtualBox's vdKeyStoreCreate makes it:
     * PBKDF2-SHA256, fresh 32-byte salts from {@code random}, {@code iterations} for both the
     * wrapping key and the digest (VirtualBox benchmarks the first, never below 20000, and uses
     * 20000 for the second). Neither argument array is changed.
     */
    public static VBoxKeyStore create(byte[] password, byte[] dek, String cipher, long iterations,
                                      SecureRandom random) throws GeneralSecurityException {
        if (dekBytesOf(cipher) != dek.length) {
            throw new GeneralSecurityException("cipher '" + cipher + "' does not take a DEK of " + dek.length
                    + " bytes");
        }
        byte[] digestSalt = new byte[32];
        byte[] dekSalt = new byte[32];
        random.nextBytes(digestSalt);
        random.nextBytes(dekSalt);
        byte[] digest = Pbkdf2.derive("sha256", dek, digestSalt, iterations, 32);
        byte[] wrap = Pbkdf2.derive("sha256", password, dekSalt, iterations, dek.length);
        byte[] enc = dek.clone();
        try (SectorCipher xts = SectorCipher.of("aes", "xts-plain64", wrap)) {
            xts.encrypt(0, enc.length, enc, 0, enc.length);
        } finally {
            Arrays.fill(wrap, (byte) 0);
        }
        return new VBoxKeyStore(cipher, "PBKDF2-SHA256", dek.length, digest, 32, digestSalt, iterations, dekSalt,
                iterations, enc.length, enc);
    }

    /** A sector cipher for the filter, keyed with {@code dek} (copied). */
    public SectorCipher sectorCipher(byte[] dek) throws GeneralSecurityException {
        return SectorCipher.of("aes", "xts-plain64", dek);
    }
}
