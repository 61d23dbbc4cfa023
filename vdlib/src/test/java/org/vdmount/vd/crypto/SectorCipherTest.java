package org.vdmount.vd.crypto;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import java.security.GeneralSecurityException;
import java.util.Arrays;
import java.util.HexFormat;
import java.util.Random;
import javax.crypto.Cipher;
import javax.crypto.spec.SecretKeySpec;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

/**
 * XTS as {@link SectorCipher} batches it, checked against IEEE 1619's test vectors and against the
 * textbook form (one AES call per 16-byte block, the tweak doubled byte by byte) written out here.
 * The LUKS tests read and write images through qemu with the same cipher.
 */
class SectorCipherTest {
    private static final HexFormat HEX = HexFormat.of();

    /** IEEE 1619-2007 annex B, XTS-AES-128 vectors 1 and 2 (32-byte data units). */
    @ParameterizedTest
    @CsvSource({
        "00000000000000000000000000000000, 00000000000000000000000000000000, 0, 00,"
                + " 917cf69ebd68b2ec9b9fe9a3eadda692cd43d2f59598ed858c02c2652fbf922e",
        "11111111111111111111111111111111, 22222222222222222222222222222222, 3333333333, 44,"
                + " c454185e6a16936e39334038acef838bfb186fff7480adc4289382ecd6d394f0"})
    void ieee1619Vectors(String key1, String key2, String unitHex, String fill, String cipherHex) throws Exception {
        byte[] key = HEX.parseHex(key1 + key2);
        long unit = Long.parseLong(unitHex, 16);
        byte[] plain = new byte[32];
        Arrays.fill(plain, (byte) Integer.parseInt(fill, 16));
        byte[] buf = plain.clone();
        try (SectorCipher c = SectorCipher.of("aes", "xts-plain64", key)) {
            c.encrypt(unit, 32, buf, 0, 32);
            assertArrayEquals(HEX.parseHex(cipherHex), buf);
            c.decrypt(unit, 32, buf, 0, 32);
            assertArrayEquals(plain, buf);
        }
    }

    /**
     * Many sectors in one call (more than one batch of tweaks; sectors of 16 bytes to 64 KiB; sector
     * numbers past 2^32, where plain and plain64 differ) give what sector-by-sector textbook XTS gives.
     */
    @ParameterizedTest
    @CsvSource({"xts-plain64, 32, 512, 300", "xts-plain64, 64, 4096, 40", "xts-plain, 32, 512, 200",
        "xts-plain64, 64, 16, 9000", "xts-plain64, 32, 65536, 3", "xts-plain64, 32, 1536, 100"})
    void batchesMatchTheTextbookForm(String mode, int keyBytes, int sectorSize, int sectors) throws Exception {
        Random r = new Random(sectorSize * 31L + sectors);
        byte[] key = new byte[keyBytes];
        r.nextBytes(key);
        byte[] plain = new byte[sectorSize * sectors + 48];
        r.nextBytes(plain);
        long first = (1L << 32) - sectors / 2; // crosses 2^32
        byte[] expected = plain.clone();
        for (int s = 0; s < sectors; s++) {
            long iv = mode.endsWith("plain") ? (first + s) & 0xFFFF_FFFFL : first + s;
            textbookXts(key, iv, expected, 16 + s * sectorSize, sectorSize);
        }
        byte[] buf = plain.clone();
        try (SectorCipher c = SectorCipher.of("aes", mode, key)) {
            c.encrypt(first, sectorSize, buf, 16, sectorSize * sectors);
            assertArrayEquals(expected, buf, "encrypted, bytes outside the range untouched");
            c.decrypt(first, sectorSize, buf, 16, sectorSize * sectors);
            assertArrayEquals(plain, buf);
        }
    }

    @Test
    void partSectorsAreRefused() throws Exception {
        try (SectorCipher c = SectorCipher.of("aes", "xts-plain64", new byte[64])) {
            assertThrows(GeneralSecurityException.class, () -> c.decrypt(0, 512, new byte[1024], 0, 1000));
            assertThrows(GeneralSecurityException.class, () -> c.decrypt(0, 520, new byte[1040], 0, 1040));
        }
    }

    /** XTS encryption of one data unit, block by block: C = E_K1(P ^ T) ^ T, T = E_K2(iv), T *= alpha. */
    private static void textbookXts(byte[] key, long iv, byte[] buf, int off, int len) throws Exception {
        int half = key.length / 2;
        Cipher k1 = Cipher.getInstance("AES/ECB/NoPadding");
        k1.init(Cipher.ENCRYPT_MODE, new SecretKeySpec(key, 0, half, "AES"));
        Cipher k2 = Cipher.getInstance("AES/ECB/NoPadding");
        k2.init(Cipher.ENCRYPT_MODE, new SecretKeySpec(key, half, half, "AES"));
        byte[] t = new byte[16];
        for (int i = 0; i < 8; i++) {
            t[i] = (byte) (iv >>> (8 * i));
        }
        t = k2.doFinal(t);
        for (int j = 0; j < len; j += 16) {
            byte[] block = new byte[16];
            for (int b = 0; b < 16; b++) {
                block[b] = (byte) (buf[off + j + b] ^ t[b]);
            }
            block = k1.doFinal(block);
            for (int b = 0; b < 16; b++) {
                buf[off + j + b] = (byte) (block[b] ^ t[b]);
            }
            int carry = 0;
            for (int b = 0; b < 16; b++) {
                int v = t[b] & 0xFF;
                t[b] = (byte) (v << 1 | carry);
                carry = v >>> 7;
            }
            if (carry != 0) {
                t[0] ^= (byte) 0x87;
            }
        }
    }
}
