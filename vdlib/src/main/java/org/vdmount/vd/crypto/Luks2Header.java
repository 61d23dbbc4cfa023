package org.vdmount.vd.crypto;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.security.GeneralSecurityException;
import java.security.MessageDigest;
import java.util.ArrayList;
import java.util.Base64;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import org.vdmount.vd.Bytes;
import org.vdmount.vd.CorruptImageException;
import org.vdmount.vd.UnsupportedFeatureException;
import org.vdmount.vd.storage.Storage;

/**
 * The LUKS2 header (cryptsetup "LUKS2 On-Disk Format Specification" version 1.1.x, sections 2 and
 * 3): a 4096-byte binary header, big-endian, followed by the JSON metadata area, both kept twice
 * (primary at 0, secondary at hdr_size):
 * <pre>
 *   0 magic[6] ("LUKS\xba\xbe" / "SKUL\xba\xbe")  6 version u16 (2)  8 hdr_size u64
 *  16 seqid u64  24 label[48]  72 checksum_alg[32]  104 salt[64]  168 uuid[40]
 * 208 subsystem[48]  256 hdr_offset u64  264 padding[184]  448 csum[64]  512 padding[7*512]
 * </pre>
 * The checksum covers hdr_size bytes (binary header and JSON) with csum zeroed. The JSON holds
 * "keyslots", "segments", "digests", "config" (section 3).
 */
public final class Luks2Header {
    static final int BINARY_SIZE = 4096;
    static final byte[] MAGIC2 = {'S', 'K', 'U', 'L', (byte) 0xba, (byte) 0xbe};
    /** hdr_size values the spec allows (section 2.1): 16 KiB .. 4 MiB, powers of two. */
    static final long MIN_HDR = 16384;
    static final long MAX_HDR = 4L << 20;

    private Luks2Header() {
    }

    static LuksHeader parse(Storage storage, String format, Path file) throws IOException {
        String why;
        Bytes primary = null;
        try {
            primary = readChecked(storage, 0, LuksHeader.MAGIC, format, file);
            why = null;
        } catch (CorruptImageException e) {
            why = e.getMessage();
        }
        long second = primary != null ? primary.u64be(8) : MIN_HDR;
        Bytes secondary = null;
        // the secondary sits at the primary's hdr_size; when the primary is unreadable, try the
        // offsets the spec lists (section 2.2: 16 KiB .. 4 MiB)
        for (long off = second; secondary == null && off <= MAX_HDR; off *= 2) {
            try {
                secondary = readChecked(storage, off, MAGIC2, format, file);
            } catch (CorruptImageException e) {
                if (primary != null) {
                    break;
                }
            }
        }
        Bytes use = primary;
        long at = 0;
        if (use == null || secondary != null && secondary.u64be(16) > primary.u64be(16)) {
            use = secondary;
            at = use == null ? 0 : use.u64be(256);
        }
        if (use == null) {
            throw new CorruptImageException(why);
        }
        long hdrSize = use.u64be(8);
        String json = new String(use.bytes(BINARY_SIZE, (int) hdrSize - BINARY_SIZE), StandardCharsets.UTF_8);
        int nul = json.indexOf('\0');
        json = nul >= 0 ? json.substring(0, nul) : json;
        Object root;
        try {
            root = JsonReader.parse(json);
        } catch (JsonReader.JsonException e) {
            throw new CorruptImageException(format, file, "LUKS2 JSON metadata", at + BINARY_SIZE + e.offset,
                    e.getMessage());
        }
        return new Luks2Json(format, file, at + BINARY_SIZE, storage.size()).header(root, use.asciiz(168, 40),
                2 * hdrSize);
    }

    /** The binary header at {@code off} and its JSON area, checksum verified. */
    private static Bytes readChecked(Storage storage, long off, byte[] magic, String format, Path file)
            throws IOException {
        ByteBuffer b = ByteBuffer.allocate(BINARY_SIZE);
        storage.readFully(b, off, format, "LUKS2 binary header");
        Bytes h = Bytes.of(b.array());
        if (!java.util.Arrays.equals(h.bytes(0, 6), magic) || h.u16be(6) != 2) {
            throw new CorruptImageException(format, file, "LUKS2 binary header", off, "bad magic or version");
        }
        long hdrSize = h.u64be(8);
        if (hdrSize < MIN_HDR || hdrSize > MAX_HDR || Long.bitCount(hdrSize) != 1) {
            throw new CorruptImageException(format, file, "LUKS2 binary header", off + 8, "hdr_size " + hdrSize
                    + " is not a power of two in " + MIN_HDR + ".." + MAX_HDR);
        }
        if (h.u64be(256) != off) {
            throw new CorruptImageException(format, file, "LUKS2 binary header", off + 256, "hdr_offset "
                    + h.u64be(256) + " is not where it lies (" + off + ")");
        }
        String alg = h.asciiz(72, 32);
        ByteBuffer all = ByteBuffer.allocate((int) hdrSize);
        storage.readFully(all, off, format, "LUKS2 header and JSON area");
        Bytes whole = Bytes.of(all.array());
        byte[] stored;
        try {
            stored = checksum(whole, alg);
        } catch (GeneralSecurityException e) {
            throw new UnsupportedFeatureException(format + ": " + file + ": LUKS2 header checksum '" + alg
                    + "' is not supported");
        }
        if (!MessageDigest.isEqual(stored, whole.bytes(448, stored.length))) {
            throw new CorruptImageException(format, file, "LUKS2 binary header", off + 448,
                    "checksum (" + alg + ") does not match");
        }
        return whole;
    }

    /** The checksum of a header area (hdr_size bytes) with its csum field taken as zeros. */
    static byte[] checksum(Bytes whole, String alg) throws GeneralSecurityException {
        MessageDigest md = LuksHash.digest(alg);
        md.update(whole.slice(0, 448));
        md.update(new byte[64]);
        md.update(whole.slice(512, whole.size() - 512));
        return md.digest();
    }

    /**
     * Both headers (primary, then secondary at {@code hdrSize}) for {@code json}, each hdrSize
     * bytes, checksummed with sha256.
     */
    static byte[] encode(String json, long hdrSize, long seqid, String uuid, byte[] salt) throws GeneralSecurityException {
        byte[] out = new byte[(int) (2 * hdrSize)];
        byte[] text = json.getBytes(StandardCharsets.UTF_8);
        if (text.length >= hdrSize - BINARY_SIZE) {
            throw new GeneralSecurityException("LUKS2 metadata of " + text.length + " bytes does not fit");
        }
        for (int copy = 0; copy < 2; copy++) {
            Bytes h = Bytes.of(ByteBuffer.wrap(out, (int) (copy * hdrSize), (int) hdrSize).slice());
            h.putBytes(0, copy == 0 ? LuksHeader.MAGIC : MAGIC2).put16be(6, 2).put64be(8, hdrSize).put64be(16, seqid);
            h.putBytes(72, "sha256".getBytes(StandardCharsets.US_ASCII));
            h.putBytes(104, salt);
            h.putBytes(168, uuid.getBytes(StandardCharsets.US_ASCII));
            h.put64be(256, copy * hdrSize);
            h.putBytes(BINARY_SIZE, text);
            h.putBytes(448, checksum(h, "sha256"));
        }
        return out;
    }

    /** The JSON metadata read into the common header model (section 3). */
    private record Luks2Json(String format, Path file, long jsonAt, long fileSize) {

        LuksHeader header(Object root, String uuid, long headerBytes) throws IOException {
            Map<String, Object> top = obj(root, "metadata");
            Map<String, Object> config = obj(top.get("config"), "config");
            Object req = config.get("requirements");
            if (req != null) {
                Object mandatory = obj(req, "config.requirements").get("mandatory");
                if (mandatory instanceof List<?> l && !l.isEmpty()) {
                    throw new UnsupportedFeatureException(format + ": " + file + ": LUKS2 requirement " + l
                            + " is not supported (an interrupted re-encryption?)");
                }
            }
            Map<String, Object> segments = obj(top.get("segments"), "segments");
            if (segments.size() != 1 || !segments.containsKey("0")) {
                throw new UnsupportedFeatureException(format + ": " + file + ": LUKS2 with " + segments.size()
                        + " segments " + segments.keySet() + " is not supported (one segment \"0\" is)");
            }
            Map<String, Object> s = obj(segments.get("0"), "segments.0");
            if (!"crypt".equals(s.get("type"))) {
                throw new UnsupportedFeatureException(format + ": " + file + ": LUKS2 segment type '"
                        + s.get("type") + "' is not supported (crypt is)");
            }
            long offset = number(s, "offset", "segments.0");
            String size = str(s, "size", "segments.0");
            long sectorSize = number(s, "sector_size", "segments.0");
            if (sectorSize < 512 || sectorSize > 4096 || Long.bitCount(sectorSize) != 1) {
                throw corrupt("segments.0", "sector_size " + sectorSize + " is not a power of two in 512..4096");
            }
            long bytes = size.equals("dynamic") ? -1 : parseLong(size, "segments.0.size");
            if (offset % 512 != 0 || offset > fileSize || bytes > 0 && (bytes % sectorSize != 0)) {
                throw corrupt("segments.0", "offset " + offset + " / size " + size + " out of range or unaligned");
            }
            LuksSegment seg = new LuksSegment(offset, bytes, number(s, "iv_tweak", "segments.0"),
                    str(s, "encryption", "segments.0"), (int) sectorSize);

            List<LuksDigest> digests = new ArrayList<>();
            for (Map.Entry<String, Object> e : obj(top.get("digests"), "digests").entrySet()) {
                String where = "digests." + e.getKey();
                Map<String, Object> d = obj(e.getValue(), where);
                if (!"pbkdf2".equals(d.get("type"))) {
                    throw new UnsupportedFeatureException(format + ": " + file + ": LUKS2 digest type '" + d.get("type")
                            + "' is not supported (pbkdf2 is)");
                }
                Set<String> slots = new LinkedHashSet<>();
                for (Object o : list(d.get("keyslots"), where + ".keyslots")) {
                    slots.add(String.valueOf(o));
                }
                List<Object> segs = list(d.get("segments"), where + ".segments");
                if (!segs.contains("0")) {
                    continue;
                }
                digests.add(new LuksDigest(str(d, "hash", where), number(d, "iterations", where), b64(d, "salt", where),
                        b64(d, "digest", where), slots));
            }

            List<LuksKeyslot> slots = new ArrayList<>();
            int keyBytes = -1;
            for (Map.Entry<String, Object> e : obj(top.get("keyslots"), "keyslots").entrySet()) {
                String where = "keyslots." + e.getKey();
                Map<String, Object> k = obj(e.getValue(), where);
                if (!"luks2".equals(k.get("type"))) {
                    continue; // reencrypt slots and others hold no volume key
                }
                Map<String, Object> area = obj(k.get("area"), where + ".area");
                Map<String, Object> kdf = obj(k.get("kdf"), where + ".kdf");
                Map<String, Object> af = obj(k.get("af"), where + ".af");
                if (!"raw".equals(area.get("type")) || !"luks1".equals(af.get("type"))) {
                    throw new UnsupportedFeatureException(format + ": " + file + ": " + where + ": area type '"
                            + area.get("type") + "' / af type '" + af.get("type") + "' is not supported (raw / luks1 are)");
                }
                long ks = number(k, "key_size", where);
                long aks = number(area, "key_size", where + ".area");
                long stripes = number(af, "stripes", where + ".af");
                long aOff = number(area, "offset", where + ".area");
                long aSize = number(area, "size", where + ".area");
                if (ks < 16 || ks > Luks1Header.MAX_KEY_BYTES || aks < 16 || aks > Luks1Header.MAX_KEY_BYTES
                        || stripes < 1 || stripes > Luks1Header.MAX_STRIPES) {
                    throw corrupt(where, "key_size " + ks + ", area key_size " + aks + " or stripes " + stripes
                            + " out of range");
                }
                if (aOff < 0 || aSize < ks * stripes || aOff + aSize > fileSize) {
                    throw corrupt(where, "area [" + aOff + ", +" + aSize + ") outside the file (" + fileSize
                            + " bytes) or too small for " + ks + " x " + stripes);
                }
                String type = str(kdf, "type", where + ".kdf");
                LuksKeyslot slot;
                if (type.equals("pbkdf2")) {
                    slot = new LuksKeyslot(e.getKey(), type, str(kdf, "hash", where + ".kdf"),
                            number(kdf, "iterations", where + ".kdf"), 0, 0, b64(kdf, "salt", where + ".kdf"),
                            aOff, aSize, str(area, "encryption", where + ".area"), (int) aks, (int) ks, (int) stripes,
                            str(af, "hash", where + ".af"));
                } else if (type.equals("argon2i") || type.equals("argon2id")) {
                    slot = new LuksKeyslot(e.getKey(), type, null, number(kdf, "time", where + ".kdf"),
                            number(kdf, "memory", where + ".kdf"), (int) Math.min(Integer.MAX_VALUE,
                            number(kdf, "cpus", where + ".kdf")), b64(kdf, "salt", where + ".kdf"),
                            aOff, aSize, str(area, "encryption", where + ".area"), (int) aks, (int) ks, (int) stripes,
                            str(af, "hash", where + ".af"));
                } else {
                    throw new UnsupportedFeatureException(format + ": " + file + ": " + where + ": KDF '" + type
                            + "' is not supported (pbkdf2, argon2i, argon2id are)");
                }
                keyBytes = (int) ks;
                slots.add(slot);
            }
            return new LuksHeader(2, uuid, keyBytes, slots, digests, seg, headerBytes);
        }

        private CorruptImageException corrupt(String where, String detail) {
            return new CorruptImageException(format, file, "LUKS2 JSON " + where, jsonAt, detail);
        }

        @SuppressWarnings("unchecked")
        private Map<String, Object> obj(Object o, String where) throws CorruptImageException {
            if (!(o instanceof Map)) {
                throw corrupt(where, "missing or not an object");
            }
            return (Map<String, Object>) o;
        }

        @SuppressWarnings("unchecked")
        private List<Object> list(Object o, String where) throws CorruptImageException {
            if (!(o instanceof List)) {
                throw corrupt(where, "missing or not an array");
            }
            return (List<Object>) o;
        }

        private String str(Map<String, Object> m, String key, String where) throws CorruptImageException {
            Object o = m.get(key);
            if (!(o instanceof String s)) {
                throw corrupt(where + "." + key, "missing or not a string");
            }
            return s;
        }

        /** LUKS2 writes 64-bit values as strings, small ones as JSON numbers: both are taken. */
        private long number(Map<String, Object> m, String key, String where) throws CorruptImageException {
            Object o = m.get(key);
            if (o instanceof Long l && l >= 0) {
                return l;
            }
            if (o instanceof String s) {
                return parseLong(s, where + "." + key);
            }
            throw corrupt(where + "." + key, "missing or not a number");
        }

        private long parseLong(String s, String where) throws CorruptImageException {
            try {
                long v = Long.parseLong(s);
                if (v < 0) {
                    throw new NumberFormatException();
                }
                return v;
            } catch (NumberFormatException e) {
                throw corrupt(where, "'" + s + "' is not a non-negative number");
            }
        }

        private byte[] b64(Map<String, Object> m, String key, String where) throws CorruptImageException {
            try {
                return Base64.getDecoder().decode(str(m, key, where));
            } catch (IllegalArgumentException e) {
                throw corrupt(where + "." + key, "not base64");
            }
        }
    }
}
