package org.vdmount.vd.crypto;

/**
 * The encrypted payload (LUKS1: from payload-offset to the end; LUKS2: segment "0").
 *
 * @param offset     byte offset of the first payload sector in the file
 * @param size       payload bytes, or -1 for "dynamic" (to the end of the file)
 * @param ivTweak    added to the sector number for the IV (LUKS2 iv_tweak)
 * @param encryption the payload cipher, as "aes-xts-plain64"
 * @param sectorSize the encryption sector (LUKS1: 512; LUKS2: 512 to 4096)
 */
public record LuksSegment(long offset, long size, long ivTweak, String encryption, int sectorSize) {
}
