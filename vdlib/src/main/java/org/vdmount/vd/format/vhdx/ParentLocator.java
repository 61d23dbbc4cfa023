package org.vdmount.vd.format.vhdx;

import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.Locale;
import java.util.Map;
import java.util.UUID;
import org.vdmount.vd.Bytes;
import org.vdmount.vd.CorruptImageException;
import org.vdmount.vd.UnsupportedFeatureException;

/**
 * The parent locator metadata item (MS-VHDX 2.6.2.6): a 20-byte header (0x00 locator type GUID,
 * 0x10 reserved u16, 0x12 key/value count u16), 12-byte entries (0x00 key offset u32, 0x04 value
 * offset u32, 0x08 key length u16, 0x0A value length u16; offsets from the item start), then
 * UTF-16LE keys and values. Known keys: parent_linkage, parent_linkage2, relative_path,
 * volume_path, absolute_win32_path.
 */
record ParentLocator(UUID type, Map<String, String> entries) {
    static final int HEADER_SIZE = 20;
    static final int ENTRY_SIZE = 12;

    static final String PARENT_LINKAGE = "parent_linkage";
    static final String PARENT_LINKAGE2 = "parent_linkage2";
    static final String RELATIVE_PATH = "relative_path";
    static final String VOLUME_PATH = "volume_path";
    static final String ABSOLUTE_WIN32_PATH = "absolute_win32_path";

    ParentLocator {
        entries = java.util.Collections.unmodifiableMap(new LinkedHashMap<>(entries));
    }

    static ParentLocator parse(byte[] b, Path file, long at) throws CorruptImageException,
            UnsupportedFeatureException {
        if (b.length < HEADER_SIZE) {
            throw corrupt(file, at, "item of " + b.length + " bytes is shorter than its header");
        }
        Bytes r = Bytes.of(b);
        UUID type = r.guid(0);
        if (!type.equals(Vhdx.VHDX_PARENT_LOCATOR_TYPE)) {
            throw new UnsupportedFeatureException("vhdx: parent locator type " + type + " in " + file
                    + " is not supported (only VHDX parents)");
        }
        int count = r.u16le(0x12);
        if (HEADER_SIZE + (long) count * ENTRY_SIZE > b.length) {
            throw corrupt(file, at, count + " entries do not fit in " + b.length + " bytes");
        }
        Map<String, String> map = new LinkedHashMap<>();
        for (int i = 0; i < count; i++) {
            int o = HEADER_SIZE + i * ENTRY_SIZE;
            String key = text(r, b.length, r.u32le(o), r.u16le(o + 8), file, at, "key " + i);
            String value = text(r, b.length, r.u32le(o + 4), r.u16le(o + 10), file, at, "value " + i);
            if (map.put(key, value) != null) {
                throw corrupt(file, at, "key '" + key + "' appears twice");
            }
        }
        return new ParentLocator(type, map);
    }

    private static String text(Bytes r, int size, long off, int len, Path file, long at, String what)
            throws CorruptImageException {
        if (len == 0 || (len & 1) != 0 || off < HEADER_SIZE || off + len > size) {
            throw corrupt(file, at, what + " at " + off + "+" + len + " is outside the " + size + "-byte item");
        }
        return new String(r.bytes((int) off, len), StandardCharsets.UTF_16LE);
    }

    private static CorruptImageException corrupt(Path file, long at, String detail) {
        return new CorruptImageException(Vhdx.FORMAT, file, "parent locator", at, detail);
    }

    byte[] write() {
        int count = entries.size();
        int size = HEADER_SIZE + count * ENTRY_SIZE;
        for (Map.Entry<String, String> e : entries.entrySet()) {
            size += 2 * (e.getKey().length() + e.getValue().length());
        }
        byte[] b = new byte[size];
        Bytes w = Bytes.of(b);
        w.putGuid(0, type);
        w.put16le(0x12, count);
        int i = 0;
        int data = HEADER_SIZE + count * ENTRY_SIZE;
        for (Map.Entry<String, String> e : entries.entrySet()) {
            byte[] k = e.getKey().getBytes(StandardCharsets.UTF_16LE);
            byte[] v = e.getValue().getBytes(StandardCharsets.UTF_16LE);
            int o = HEADER_SIZE + i * ENTRY_SIZE;
            w.put32le(o, data).put32le(o + 4, data + k.length).put16le(o + 8, k.length).put16le(o + 10, v.length);
            w.putBytes(data, k).putBytes(data + k.length, v);
            data += k.length + v.length;
            i++;
        }
        return b;
    }

    /** A locator GUID value, "{xxxxxxxx-...}" with or without braces; null if absent or malformed. */
    static UUID guidValue(String text) {
        if (text == null) {
            return null;
        }
        String s = text.trim();
        if (s.startsWith("{") && s.endsWith("}")) {
            s = s.substring(1, s.length() - 1);
        }
        if (s.length() != 36) {
            return null;
        }
        try {
            return UUID.fromString(s);
        } catch (IllegalArgumentException e) {
            return null;
        }
    }

    static String guidText(UUID u) {
        return "{" + u.toString().toLowerCase(Locale.ROOT) + "}";
    }
}
