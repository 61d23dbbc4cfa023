package org.vdmount.vd.crypto;

/**
 * One active key slot, LUKS1 and LUKS2 alike: how to derive the slot key from the password (the
 * KDF), where the split master key lies and how it is encrypted, and how to merge it.
 *
 * @param id             the slot number (LUKS1 0..7, LUKS2 the JSON key)
 * @param kdf            "pbkdf2", "argon2i" or "argon2id"
 * @param kdfHash        PBKDF2's hash (null for argon2)
 * @param iterations     PBKDF2 iterations, or argon2's time cost
 * @param memoryKiB      argon2's memory cost in KiB (0 for PBKDF2)
 * @param parallel       argon2's lanes (0 for PBKDF2)
 * @param salt           the KDF salt
 * @param areaOffset     byte offset of the key material in the file
 * @param areaSize       bytes reserved for it
 * @param areaEncryption the cipher of the key material, as "aes-xts-plain64"
 * @param areaKeyBytes   the slot key's length (what the KDF produces)
 * @param keyBytes       the master key's length
 * @param stripes        anti-forensic stripes
 * @param afHash         the AF diffuser's hash
 */
public record LuksKeyslot(String id, String kdf, String kdfHash, long iterations, long memoryKiB, int parallel,
                          byte[] salt, long areaOffset, long areaSize, String areaEncryption, int areaKeyBytes,
                          int keyBytes, int stripes, String afHash) {

    /** Bytes of split key material: keyBytes * stripes, rounded up to 512-byte sectors. */
    public long materialBytes() {
        return ((long) keyBytes * stripes + 511) / 512 * 512;
    }
}
