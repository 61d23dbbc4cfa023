package org.vdmount.vd.crypto;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.security.GeneralSecurityException;
import java.security.SecureRandom;
import java.util.Arrays;
import java.util.Base64;
import java.util.UUID;
import org.vdmount.vd.storage.Storage;

/**
 * Writes a new LUKS header with one key slot (slot 0) for a password, laid out as cryptsetup and
 * qemu lay it out: LUKS1 key material 4 KiB-aligned after the 592-byte phdr, all 8 slots' areas
 * reserved, payload at 2 MiB (4096 sectors) unless the areas need more; LUKS2 two 16 KiB headers,
 * the key-slot area from 32 KiB, payload at 16 MiB. Key material is written first, the header
 * last, so a kill leaves a file without a valid header rather than a header with a missing slot.
 */
public final class LuksWriter {
    static final int STRIPES = 4000;
    static final long LUKS2_HDR = 16384;
    static final long LUKS2_AREA_START = 2 * LUKS2_HDR;
    static final long LUKS2_PAYLOAD = 16L << 20;

    /**
     * What to create.
     *
     * @param version      1 or 2
     * @param cipher       "aes"
     * @param mode         "xts-plain64", "cbc-essiv:sha256", ...
     * @param keyBytes     master key length (64 for aes-256 in XTS)
     * @param hash         PBKDF2 and AF hash
     * @param kdf          "pbkdf2", "argon2i", "argon2id" (LUKS1: pbkdf2 only)
     * @param iterTimeMs   PBKDF2: benchmark to about this many ms (as qemu's iter-time)
     * @param argonTime    argon2 passes
     * @param argonMemKiB  argon2 memory in KiB
     * @param argonLanes   argon2 lanes
     * @param sectorSize   LUKS2 segment sector size (LUKS1: 512)
     */
    public record Params(int version, String cipher, String mode, int keyBytes, String hash, String kdf, long iterTimeMs,
                         int argonTime, int argonMemKiB, int argonLanes, int sectorSize) {
    }

    private LuksWriter() {
    }

    /**
     * Writes the header and slot 0 into {@code storage} (empty) and returns the payload's cipher
     * and offset. Zeroes {@code password}.
     */
    public static Opened create(Storage storage, Params p, byte[] password) throws IOException, GeneralSecurityException {
        SecureRandom random = new SecureRandom();
        byte[] mk = new byte[p.keyBytes()];
        byte[] slotKey = null;
        try {
            random.nextBytes(mk);
            SectorCipher payload = SectorCipher.of(p.cipher(), p.mode(), mk); // checks the spec first
            long bench = Pbkdf2.iterationsFor(p.hash(), p.iterTimeMs());
            long slotIter = p.kdf().equals("pbkdf2") ? bench : p.argonTime();
            // the digest's iteration count: as cryptsetup, an eighth of the slot's, at least 1000
            long mkIter = Math.max(1000, bench / 8);
            byte[] mkSalt = random(random, 32);
            byte[] slotSalt = random(random, 32);
            byte[] mkDigest = Pbkdf2.derive(p.hash(), mk, mkSalt, mkIter, p.version() == 1 ? Luks1Header.DIGEST_BYTES
                    : LuksHash.digest(p.hash()).getDigestLength());
            LuksKeyslot slot = new LuksKeyslot("0", p.kdf(), p.kdf().equals("pbkdf2") ? p.hash() : null, slotIter,
                    p.argonMemKiB(), p.argonLanes(), slotSalt, 0, 0, p.cipher() + "-" + p.mode(), p.keyBytes(),
                    p.keyBytes(), STRIPES, p.hash());
            long material = slot.materialBytes();
            long areaStride = (material + 4095) / 4096 * 4096;
            long areaStart = p.version() == 1 ? 4096 : LUKS2_AREA_START;
            long payloadOffset = payloadOffset(p);
            // slot 0's material
            slotKey = KeyDerivation.derive(slot, password);
            byte[] split = AfSplitter.split(mk, STRIPES, p.hash(), random);
            byte[] area = Arrays.copyOf(split, (int) material);
            Arrays.fill(split, (byte) 0);
            try (SectorCipher c = SectorCipher.of(slot.areaEncryption(), slotKey)) {
                c.encrypt(0, 512, area, 0, area.length);
            }
            storage.write(ByteBuffer.wrap(area), areaStart);
            storage.force();
            String uuid = UUID.randomUUID().toString();
            byte[] header;
            if (p.version() == 1) {
                long[] offsets = new long[Luks1Header.SLOTS];
                for (int i = 0; i < offsets.length; i++) {
                    offsets[i] = (areaStart + i * areaStride) / 512;
                }
                header = Luks1Header.encode(p.cipher(), p.mode(), p.hash(), payloadOffset / 512, p.keyBytes(), mkDigest,
                        mkSalt, mkIter, uuid, offsets, STRIPES, slotIter, slotSalt);
            } else {
                header = Luks2Header.encode(json(p, slot, slotIter, areaStart, areaStride, payloadOffset, mkIter, mkSalt,
                        mkDigest), LUKS2_HDR, 1, uuid, random(random, 64));
            }
            storage.write(ByteBuffer.wrap(header), 0);
            storage.force();
            return new Opened(payload, payloadOffset, p.version() == 1 ? 512 : p.sectorSize());
        } finally {
            Arrays.fill(mk, (byte) 0);
            Arrays.fill(password, (byte) 0);
            if (slotKey != null) {
                Arrays.fill(slotKey, (byte) 0);
            }
        }
    }

    /** Where the payload starts: all the bytes the header and the key slots' areas take. */
    public static long payloadOffset(Params p) {
        long material = ((long) p.keyBytes() * STRIPES + 511) / 512 * 512;
        long areaStride = (material + 4095) / 4096 * 4096;
        long mib = 1 << 20;
        return p.version() == 1
                ? Math.max(2 * mib, (4096 + 8 * areaStride + mib - 1) / mib * mib)
                : Math.max(LUKS2_PAYLOAD, (LUKS2_AREA_START + areaStride + mib - 1) / mib * mib);
    }

    /** The payload cipher and where the payload starts, of a volume just created or opened. */
    public record Opened(SectorCipher cipher, long payloadOffset, int sectorSize) {
    }

    private static byte[] random(SecureRandom r, int n) {
        byte[] b = new byte[n];
        r.nextBytes(b);
        return b;
    }

    /** The LUKS2 JSON metadata (section 3): one keyslot, one segment, one digest. */
    private static String json(Params p, LuksKeyslot slot, long slotIter, long areaStart, long areaStride,
                               long payloadOffset, long mkIter, byte[] mkSalt, byte[] mkDigest) {
        Base64.Encoder b64 = Base64.getEncoder();
        String enc = p.cipher() + "-" + p.mode();
        String kdf = p.kdf().equals("pbkdf2")
                ? "{\"type\":\"pbkdf2\",\"hash\":\"" + p.hash() + "\",\"iterations\":" + slotIter + ",\"salt\":\""
                        + b64.encodeToString(slot.salt()) + "\"}"
                : "{\"type\":\"" + p.kdf() + "\",\"time\":" + p.argonTime() + ",\"memory\":" + p.argonMemKiB()
                        + ",\"cpus\":" + p.argonLanes() + ",\"salt\":\"" + b64.encodeToString(slot.salt()) + "\"}";
        return "{\"keyslots\":{\"0\":{\"type\":\"luks2\",\"key_size\":" + p.keyBytes()
                + ",\"af\":{\"type\":\"luks1\",\"stripes\":" + STRIPES + ",\"hash\":\"" + p.hash() + "\"}"
                + ",\"area\":{\"type\":\"raw\",\"offset\":\"" + areaStart + "\",\"size\":\"" + areaStride
                + "\",\"encryption\":\"" + enc + "\",\"key_size\":" + p.keyBytes() + "}"
                + ",\"kdf\":" + kdf + "}}"
                + ",\"tokens\":{}"
                + ",\"segments\":{\"0\":{\"type\":\"crypt\",\"offset\":\"" + payloadOffset
                + "\",\"size\":\"dynamic\",\"iv_tweak\":\"0\",\"encryption\":\"" + enc + "\",\"sector_size\":"
                + p.sectorSize() + "}}"
                + ",\"digests\":{\"0\":{\"type\":\"pbkdf2\",\"keyslots\":[\"0\"],\"segments\":[\"0\"],\"hash\":\""
                + p.hash() + "\",\"iterations\":" + mkIter + ",\"salt\":\"" + b64.encodeToString(mkSalt)
                + "\",\"digest\":\"" + b64.encodeToString(mkDigest) + "\"}}"
                + ",\"config\":{\"json_size\":\"" + (LUKS2_HDR - 4096) + "\",\"keyslots_size\":\""
                + (payloadOffset - areaStart) + "\"}}";
    }
}
