package org.vdmount.vd.crypto;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Set;
import org.vdmount.vd.Bytes;
import org.vdmount.vd.CorruptImageException;
import org.vdmount.vd.storage.Storage;

/**
 * The LUKS1 phdr (cryptsetup "LUKS On-Disk Format Specification" version 1.2.3, section 2.4,
 * table 1), all integers big-endian:
 * <pre>
 *   0 magic[6]  6 version u16  8 cipher-name[32]  40 cipher-mode[32]  72 hash-spec[32]
 * 104 payload-offset u32 (sectors)  108 key-bytes u32  112 mk-digest[20]  132 mk-digest-salt[32]
 * 164 mk-digest-iter u32  168 uuid[40]  208 key slots 8 x 48:
 *     +0 active u32 (0x00AC71F3 / 0x0000DEAD)  +4 iterations u32  +8 salt[32]
 *     +40 key-material-offset u32 (sectors)  +44 stripes u32
 * </pre>
 */
public final class Luks1Header {
    public static final int SIZE = 592;
    public static final int SLOTS = 8;
    public static final long ACTIVE = 0x00AC71F3L;
    public static final long INACTIVE = 0x0000DEADL;
    static final int DIGEST_BYTES = 20;
    /** Sanity bounds: no real header asks for more (cryptsetup: key <= 64 bytes, 4000 stripes). */
    static final int MAX_KEY_BYTES = 512;
    static final long MAX_STRIPES = 1 << 16;

    private Luks1Header() {
    }

    static LuksHeader parse(Storage storage, String format, Path file) throws IOException {
        ByteBuffer buf = ByteBuffer.allocate(SIZE);
        storage.readFully(buf, 0, format, "LUKS1 header");
        Bytes h = Bytes.of(buf.array());
        String cipher = text(h, 8);
        String mode = text(h, 40);
        String hash = text(h, 72);
        long payload = h.u32be(104);
        long keyBytes = h.u32be(108);
        if (keyBytes < 16 || keyBytes > MAX_KEY_BYTES) {
            throw new CorruptImageException(format, file, "LUKS1 header", 108, "key-bytes " + keyBytes
                    + " not in 16.." + MAX_KEY_BYTES);
        }
        long fileSize = storage.size();
        if (payload * 512 > fileSize) {
            throw new CorruptImageException(format, file, "LUKS1 header", 104, "payload offset "
                    + payload * 512 + " past the end of the file (" + fileSize + " bytes)");
        }
        List<LuksKeyslot> slots = new ArrayList<>();
        Set<String> ids = new java.util.LinkedHashSet<>();
        for (int i = 0; i < SLOTS; i++) {
            int at = 208 + 48 * i;
            long active = h.u32be(at);
            if (active == INACTIVE) {
                continue;
            }
            if (active != ACTIVE) {
                throw new CorruptImageException(format, file, "LUKS1 key slot " + i, at,
                        "state 0x" + Long.toHexString(active) + " is neither active nor disabled");
            }
            long stripes = h.u32be(at + 44);
            long offset = h.u32be(at + 40) * 512;
            if (stripes < 1 || stripes > MAX_STRIPES) {
                throw new CorruptImageException(format, file, "LUKS1 key slot " + i, at + 44,
                        "stripes " + stripes + " not in 1.." + MAX_STRIPES);
            }
            long material = (keyBytes * stripes + 511) / 512 * 512;
            if (offset < SIZE || offset + material > fileSize) {
                throw new CorruptImageException(format, file, "LUKS1 key slot " + i, at + 40,
                        "key material [" + offset + ", " + (offset + material) + ") outside the file ("
                        + fileSize + " bytes)");
            }
            slots.add(new LuksKeyslot(Integer.toString(i), "pbkdf2", hash, h.u32be(at + 4), 0, 0, h.bytes(at + 8, 32),
                    offset, material, cipher + "-" + mode, (int) keyBytes, (int) keyBytes, (int) stripes, hash));
            ids.add(Integer.toString(i));
        }
        LuksDigest digest = new LuksDigest(hash, h.u32be(164), h.bytes(132, 32), h.bytes(112, DIGEST_BYTES), ids);
        LuksSegment seg = new LuksSegment(payload * 512, -1, 0, cipher + "-" + mode, 512);
        return new LuksHeader(1, text(h, 168), (int) keyBytes, slots, List.of(digest), seg, payload * 512);
    }

    private static String text(Bytes h, int off) {
        return h.asciiz(off, off == 168 ? 40 : 32);
    }

    /**
     * The header bytes for one active slot 0 (the others disabled, their material offsets and
     * stripes laid out as cryptsetup and qemu do).
     */
    static byte[] encode(String cipher, String mode, String hash, long payloadSectors, int keyBytes, byte[] mkDigest,
                         byte[] mkSalt, long mkIterations, String uuid, long[] slotOffsetsSectors, int stripes,
                         long slotIterations, byte[] slotSalt) {
        Bytes h = Bytes.allocate(SIZE);
        h.putBytes(0, LuksHeader.MAGIC).put16be(6, 1);
        putText(h, 8, cipher, 32);
        putText(h, 40, mode, 32);
        putText(h, 72, hash, 32);
        h.put32be(104, payloadSectors).put32be(108, keyBytes);
        h.putBytes(112, mkDigest).putBytes(132, mkSalt).put32be(164, mkIterations);
        putText(h, 168, uuid, 40);
        for (int i = 0; i < SLOTS; i++) {
            int at = 208 + 48 * i;
            h.put32be(at, i == 0 ? ACTIVE : INACTIVE);
            if (i == 0) {
                h.put32be(at + 4, slotIterations).putBytes(at + 8, slotSalt);
            }
            h.put32be(at + 40, slotOffsetsSectors[i]).put32be(at + 44, stripes);
        }
        return h.buffer().array();
    }

    private static void putText(Bytes h, int off, String s, int max) {
        byte[] b = s.getBytes(StandardCharsets.US_ASCII);
        h.putBytes(off, java.util.Arrays.copyOf(b, Math.min(b.length, max - 1)));
    }
}
