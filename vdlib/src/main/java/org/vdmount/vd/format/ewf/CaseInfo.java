package org.vdmount.vd.format.ewf;

import java.io.ByteArrayOutputStream;
import java.nio.charset.StandardCharsets;
import java.time.Instant;
import java.time.ZoneOffset;
import java.time.format.DateTimeFormatter;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.zip.DataFormatException;
import java.util.zip.Inflater;

/**
 * The case metadata of a "header2" (UTF-16LE) or "header" (ASCII) section (spec: "Header2 section",
 * "Header section"): zlib-compressed text whose "main" category holds a line of tab-separated identifiers and
 * a line of values. Known identifiers become {@code vd info} keys; empty values are left out.
 */
final class CaseInfo {
    /** Header text is a few hundred bytes; more is refused rather than inflated without end. */
    static final int MAX_TEXT_BYTES = 1 << 20;

    private static final Map<String, String> KEYS = Map.ofEntries(
            Map.entry("c", "case-number"),
            Map.entry("n", "evidence-number"),
            Map.entry("a", "description"),
            Map.entry("e", "examiner"),
            Map.entry("t", "notes"),
            Map.entry("md", "model"),
            Map.entry("sn", "serial-number"),
            Map.entry("av", "acquiry-software"),
            Map.entry("ov", "acquiry-os"),
            Map.entry("m", "acquiry-date"),
            Map.entry("u", "system-date"));

    private CaseInfo() {
    }

    /**
     * The metadata of a header section's compressed bytes; {@code utf16} for "header2". Throws
     * {@link DataFormatException} if the text does not inflate within {@link #MAX_TEXT_BYTES}.
     */
    static Map<String, String> parse(byte[] compressed, boolean utf16) throws DataFormatException {
        byte[] text = inflate(compressed);
        String s;
        if (utf16) {
            int start = text.length >= 2 && (text[0] & 0xff) == 0xff && (text[1] & 0xff) == 0xfe ? 2 : 0;
            s = new String(text, start, (text.length - start) & ~1, StandardCharsets.UTF_16LE);
        } else {
            s = new String(text, StandardCharsets.ISO_8859_1);
        }
        String[] lines = s.replace("\r", "").split("\n", -1);
        Map<String, String> out = new LinkedHashMap<>();
        // line 0: number of categories; line 1: "main"; line 2: identifiers; line 3: values
        if (lines.length < 4 || !lines[1].equals("main")) {
            return out;
        }
        String[] ids = lines[2].split("\t", -1);
        String[] values = lines[3].split("\t", -1);
        for (int i = 0; i < Math.min(ids.length, values.length); i++) {
            String key = KEYS.get(ids[i]);
            String v = values[i].strip();
            if (key != null && !v.isEmpty()) {
                out.put(key, key.endsWith("-date") ? date(v, utf16) : v);
            }
        }
        return out;
    }

    /** header2 dates are POSIX seconds (UTC); header dates "YYYY M D h m s" in the acquirer's local time. */
    private static String date(String v, boolean posix) {
        try {
            if (posix) {
                return DateTimeFormatter.ISO_INSTANT.format(Instant.ofEpochSecond(Long.parseLong(v))
                        .atOffset(ZoneOffset.UTC));
            }
            String[] f = v.trim().split("\\s+");
            if (f.length == 6) {
                return String.format("%s-%02d-%02dT%02d:%02d:%02d", f[0], Integer.parseInt(f[1]),
                        Integer.parseInt(f[2]), Integer.parseInt(f[3]), Integer.parseInt(f[4]), Integer.parseInt(f[5]));
            }
        } catch (NumberFormatException | java.time.DateTimeException e) {
            // shown as recorded
        }
        return v;
    }

    private static byte[] inflate(byte[] compressed) throws DataFormatException {
        Inflater inf = new Inflater();
        try {
            inf.setInput(compressed);
            ByteArrayOutputStream out = new ByteArrayOutputStream();
            byte[] buf = new byte[8192];
            while (!inf.finished()) {
                int n = inf.inflate(buf);
                if (n == 0 && (inf.needsInput() || inf.needsDictionary())) {
                    throw new DataFormatException("compressed text ends early");
                }
                out.write(buf, 0, n);
                if (out.size() > MAX_TEXT_BYTES) {
                    throw new DataFormatException("text longer than " + MAX_TEXT_BYTES + " bytes");
                }
            }
            return out.toByteArray();
        } finally {
            inf.end();
        }
    }
}
