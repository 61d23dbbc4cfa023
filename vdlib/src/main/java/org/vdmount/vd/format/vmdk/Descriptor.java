package org.vdmount.vd.format.vmdk;

import java.nio.charset.Charset;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.UUID;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.vdmount.vd.CorruptImageException;
import org.vdmount.vd.UnsupportedFeatureException;
import org.vdmount.vd.VdException;

/**
 * The text descriptor of a VMDK (VMware "Virtual Disk Format 5.0", "The Descriptor File"; libvmdk
 * notes "The descriptor file"): a header ({@code version}, {@code CID}, {@code parentCID},
 * {@code createType}, {@code parentFileNameHint}), extent lines, and the disk database
 * ({@code ddb.*}). Either a file of its own or embedded in a hosted sparse extent.
 *
 * @param cid       content ID, or -1 if absent
 * @param parentCid parent's content ID; {@link #NO_PARENT} (ffffffff) for a base disk
 * @param text      the text as read (up to the first NUL), kept for in-place CID updates
 * @param charset   the declared {@code encoding} (UTF-8 if none), used to write the text back
 */
record Descriptor(int version, long cid, long parentCid, String createType, String parentFileNameHint,
                  List<ExtentLine> extents, Map<String, String> ddb, String text, Charset charset) {

    static final long NO_PARENT = 0xFFFF_FFFFL;
    /** Upper bound for a descriptor's size (a real one is well under 10 KiB). */
    static final int MAX_BYTES = 1 << 20;
    /** Upper bound for extent lines: 10000 x 2 GiB extents = 20 TiB (each is an open file). */
    static final int MAX_EXTENTS = 10_000;
    static final String SIGNATURE = "# Disk DescriptorFile";
    private static final Pattern ENCODING = Pattern.compile("(?im)^\\s*encoding\\s*=\\s*\"?([A-Za-z0-9._:-]{1,40})\"?\\s*$");

    Descriptor {
        extents = List.copyOf(extents);
        ddb = Collections.unmodifiableMap(new LinkedHashMap<>(ddb));
    }

    boolean hasParent() {
        return parentFileNameHint != null || parentCid != NO_PARENT;
    }

    /** ddb.uuid ("60 00 C2 9e ...-..."), or null when absent or malformed. */
    UUID uuid() {
        String v = ddb.get("ddb.uuid");
        if (v == null) {
            return null;
        }
        String hex = v.replace(" ", "").replace("-", "");
        if (hex.length() != 32) {
            return null;
        }
        try {
            return new UUID(Long.parseUnsignedLong(hex.substring(0, 16), 16),
                    Long.parseUnsignedLong(hex.substring(16), 16));
        } catch (NumberFormatException e) {
            return null;
        }
    }

    /** Decodes raw descriptor bytes up to the first NUL in the declared encoding (UTF-8 by default). */
    static String decode(byte[] raw, int length) {
        int n = 0;
        while (n < length && raw[n] != 0) {
            n++;
        }
        String s = new String(raw, 0, n, charsetOf(new String(raw, 0, n, StandardCharsets.ISO_8859_1)));
        return s.startsWith("\uFEFF") ? s.substring(1) : s;
    }

    /** The charset an {@code encoding="..."} line names (VMware writes UTF-8 or windows-1252). */
    static Charset charsetOf(String text) {
        Matcher m = ENCODING.matcher(text);
        if (m.find()) {
            try {
                return Charset.forName(m.group(1));
            } catch (IllegalArgumentException unknown) {
                return StandardCharsets.UTF_8;
            }
        }
        return StandardCharsets.UTF_8;
    }

    /** Whether {@code text} starts like a descriptor (signature, or "version=" as first statement). */
    static boolean looksLikeDescriptor(String text) {
        for (String raw : text.split("\n", 64)) {
            String line = raw.strip();
            if (line.isEmpty()) {
                continue;
            }
            if (line.startsWith("#")) {
                if (line.regionMatches(true, 0, SIGNATURE, 0, SIGNATURE.length())) {
                    return true;
                }
                continue;
            }
            return line.matches("(?i)version\\s*=\\s*\"?[1-3]\"?") && text.contains("createType");
        }
        return false;
    }

    /**
     * Parses descriptor text. {@code where} names the file and offset for messages. Unknown keys
     * are kept in {@link #ddb} when they start with "ddb.", ignored otherwise.
     */
    static Descriptor parse(String text, String where) throws VdException {
        int version = 1;
        long cid = -1;
        long parentCid = NO_PARENT;
        String createType = null;
        String hint = null;
        List<ExtentLine> extents = new ArrayList<>();
        Map<String, String> ddb = new LinkedHashMap<>();
        int lineNo = 0;
        for (String raw : text.split("\n")) {
            lineNo++;
            String line = raw.strip();
            if (line.isEmpty() || line.startsWith("#")) {
                continue;
            }
            ExtentLine ext = parseExtent(line, where, lineNo);
            if (ext != null) {
                if (extents.size() >= MAX_EXTENTS) {
                    throw corrupt(where, "more than " + MAX_EXTENTS + " extents");
                }
                extents.add(ext);
                continue;
            }
            int eq = line.indexOf('=');
            if (eq <= 0) {
                continue; // tolerated like VMware does: unknown statement
            }
            String key = line.substring(0, eq).strip();
            String value = unquote(line.substring(eq + 1).strip());
            switch (key.toLowerCase(Locale.ROOT)) {
                case "version" -> version = (int) parseNumber(value, 10, 1, 3, where, "version");
                case "cid" -> cid = parseNumber(value, 16, 0, 0xFFFF_FFFFL, where, "CID");
                case "parentcid" -> parentCid = parseNumber(value, 16, 0, 0xFFFF_FFFFL, where, "parentCID");
                case "createtype" -> createType = value;
                case "parentfilenamehint" -> hint = value.isEmpty() ? null : value;
                default -> {
                    if (key.startsWith("ddb.") && ddb.size() < 1000) {
                        ddb.put(key, value);
                    }
                }
            }
        }
        if (createType == null) {
            throw corrupt(where, "no createType");
        }
        return new Descriptor(version, cid, parentCid, createType, hint, extents, ddb, text, charsetOf(text));
    }

    /**
     * The same text with extent line {@code index} (counted from 0 among extent lines) giving
     * {@code sectors} as its size; every other line stays as it is.
     */
    String withExtentSectors(int index, long sectors) throws VdException {
        String[] lines = text.split("\n", -1);
        int seen = 0;
        for (int i = 0; i < lines.length; i++) {
            String line = lines[i].strip();
            ExtentLine e = line.isEmpty() || line.startsWith("#") ? null : parseExtent(line, "descriptor", i + 1);
            if (e != null && seen++ == index) {
                ExtentLine changed = new ExtentLine(e.access(), sectors, e.type(), e.fileName(), e.offsetSectors());
                lines[i] = changed.render() + (lines[i].endsWith("\r") ? "\r" : "");
                return String.join("\n", lines);
            }
        }
        throw new IllegalArgumentException("no extent line " + index);
    }

    /** The same text with the CID line set to {@code newCid} (added after "version=" if absent). */
    String withCid(long newCid) {
        String[] lines = text.split("\n", -1);
        int cidLine = -1;
        int versionLine = -1;
        for (int i = 0; i < lines.length; i++) {
            String s = lines[i].strip();
            int eq = s.indexOf('=');
            String key = eq > 0 ? s.substring(0, eq).strip() : "";
            if (cidLine < 0 && key.equalsIgnoreCase("CID")) {
                cidLine = i;
            } else if (versionLine < 0 && key.equalsIgnoreCase("version")) {
                versionLine = i;
            }
        }
        StringBuilder out = new StringBuilder(text.length() + 16);
        for (int i = 0; i < lines.length; i++) {
            if (i == cidLine) {
                out.append("CID=").append(hex(newCid)).append(lines[i].endsWith("\r") ? "\r" : "");
            } else {
                out.append(lines[i]);
            }
            if (cidLine < 0 && i == versionLine) {
                out.append('\n').append("CID=").append(hex(newCid));
            }
            if (i < lines.length - 1) {
                out.append('\n');
            }
        }
        return out.toString();
    }

    /**
     * The same text with header lines ({@code header}: key to raw value, null = remove the line)
     * and disk database lines ({@code ddb}: key to unquoted value) set; a missing header line is
     * added after "version=" (or "CID="), a missing ddb line at the end. Other lines stay as
     * they are (VirtualBox's vmdkDescSetStr / vmdkDescDDBSetStr).
     */
    String withChanges(Map<String, String> header, Map<String, String> ddbValues) {
        String[] lines = text.split("\n", -1);
        Map<String, String> todoHeader = new java.util.LinkedHashMap<>();
        header.forEach((k, v) -> todoHeader.put(k.toLowerCase(Locale.ROOT), v));
        Map<String, String> todoDdb = new java.util.LinkedHashMap<>();
        ddbValues.forEach((k, v) -> todoDdb.put(k.toLowerCase(Locale.ROOT), v));
        Map<String, String> headerNames = new java.util.HashMap<>();
        header.keySet().forEach(k -> headerNames.put(k.toLowerCase(Locale.ROOT), k));
        Map<String, String> ddbNames = new java.util.HashMap<>();
        ddbValues.keySet().forEach(k -> ddbNames.put(k.toLowerCase(Locale.ROOT), k));
        List<String> out = new ArrayList<>();
        int insertAt = -1;
        for (String line : lines) {
            String s = line.strip();
            int eq = s.indexOf('=');
            String key = eq > 0 ? s.substring(0, eq).strip().toLowerCase(Locale.ROOT) : "";
            String cr = line.endsWith("\r") ? "\r" : "";
            if (todoHeader.containsKey(key)) {
                String v = todoHeader.remove(key);
                if (v != null) {
                    out.add(headerNames.get(key) + "=" + v + cr);
                }
            } else if (todoDdb.containsKey(key)) {
                out.add(ddbNames.get(key) + " = \"" + todoDdb.remove(key) + "\"" + cr);
            } else {
                out.add(line);
            }
            if (key.equals("version") || key.equals("cid") || key.equals("parentcid")) {
                insertAt = out.size();
            }
        }
        List<String> add = new ArrayList<>();
        todoHeader.forEach((k, v) -> {
            if (v != null) {
                add.add(headerNames.get(k) + "=" + v);
            }
        });
        out.addAll(insertAt < 0 ? 0 : insertAt, add);
        int end = out.size();
        while (end > 0 && out.get(end - 1).isBlank()) {
            end--;
        }
        List<String> ddbAdd = new ArrayList<>();
        todoDdb.forEach((k, v) -> ddbAdd.add(ddbNames.get(k) + " = \"" + v + "\""));
        out.addAll(end, ddbAdd);
        return String.join("\n", out);
    }

    static String hex(long cid) {
        return String.format(Locale.ROOT, "%08x", cid);
    }

    /** Renders a new descriptor in the layout VMware and QEMU write. */
    static String render(long cid, long parentCid, String createType, String parentHint,
                         List<ExtentLine> extents, Map<String, String> ddb) {
        StringBuilder sb = new StringBuilder();
        sb.append(SIGNATURE).append('\n');
        sb.append("version=1\n");
        sb.append("CID=").append(hex(cid)).append('\n');
        sb.append("parentCID=").append(hex(parentCid)).append('\n');
        sb.append("createType=\"").append(createType).append("\"\n");
        if (parentHint != null) {
            sb.append("parentFileNameHint=\"").append(parentHint).append("\"\n");
        }
        sb.append("\n# Extent description\n");
        for (ExtentLine e : extents) {
            sb.append(e.render()).append('\n');
        }
        sb.append("\n# The Disk Data Base\n#DDB\n\n");
        for (Map.Entry<String, String> e : ddb.entrySet()) {
            sb.append(e.getKey()).append(" = \"").append(e.getValue()).append("\"\n");
        }
        return sb.toString();
    }

    // ---- helpers ------------------------------------------------------------------------------

    /** An extent line, or null if the line is not one (it starts with RW/RDONLY/NOACCESS). */
    private static ExtentLine parseExtent(String line, String where, int lineNo) throws VdException {
        int sp = 0;
        while (sp < line.length() && !Character.isWhitespace(line.charAt(sp))) {
            sp++;
        }
        sp = sp == line.length() ? -1 : sp;
        String first = sp < 0 ? line : line.substring(0, sp);
        ExtentLine.Access access;
        switch (first.toUpperCase(Locale.ROOT)) {
            case "RW" -> access = ExtentLine.Access.RW;
            case "RDONLY" -> access = ExtentLine.Access.RDONLY;
            case "NOACCESS" -> access = ExtentLine.Access.NOACCESS;
            default -> {
                return null;
            }
        }
        if (sp < 0) {
            return null; // a lone word is no extent line
        }
        List<String> tokens = tokenize(line.substring(first.length()), where, lineNo);
        if (tokens.size() < 2) {
            throw corrupt(where, "extent line " + lineNo + " too short: " + clip(line));
        }
        long sectors = parseNumber(tokens.get(0), 10, 0, Long.MAX_VALUE / 512, where, "extent size on line " + lineNo);
        String type = tokens.get(1).toUpperCase(Locale.ROOT);
        String file = tokens.size() > 2 ? tokens.get(2) : null;
        long offset = 0;
        if (tokens.size() > 3) {
            offset = parseNumber(tokens.get(3), 10, 0, Long.MAX_VALUE / 512, where, "extent offset on line " + lineNo);
        }
        if (file == null && !type.equals("ZERO")) {
            throw corrupt(where, "extent line " + lineNo + " names no file: " + clip(line));
        }
        return new ExtentLine(access, sectors, type, type.equals("ZERO") ? null : file, offset);
    }

    /** Splits on blanks; a double-quoted token may contain blanks. */
    private static List<String> tokenize(String s, String where, int lineNo) throws VdException {
        List<String> out = new ArrayList<>();
        int i = 0;
        int n = s.length();
        while (i < n) {
            char c = s.charAt(i);
            if (Character.isWhitespace(c)) {
                i++;
            } else if (c == '"') {
                int end = s.indexOf('"', i + 1);
                if (end < 0) {
                    throw corrupt(where, "unterminated quote on extent line " + lineNo);
                }
                out.add(s.substring(i + 1, end));
                i = end + 1;
            } else {
                int j = i;
                while (j < n && !Character.isWhitespace(s.charAt(j))) {
                    j++;
                }
                out.add(s.substring(i, j));
                i = j;
            }
        }
        return out;
    }

    private static String unquote(String v) {
        if (v.length() >= 2 && v.startsWith("\"") && v.endsWith("\"")) {
            return v.substring(1, v.length() - 1);
        }
        return v;
    }

    private static long parseNumber(String v, int radix, long min, long max, String where, String what)
            throws VdException {
        try {
            long x = Long.parseLong(v.strip(), radix);
            if (x < min || x > max) {
                throw new NumberFormatException();
            }
            return x;
        } catch (NumberFormatException e) {
            if (what.equals("version")) {
                throw new UnsupportedFeatureException("vmdk: descriptor version '" + clip(v) + "' in " + where
                        + " (supported: 1-3)");
            }
            throw corrupt(where, "invalid " + what + " '" + clip(v) + "'");
        }
    }

    private static String clip(String s) {
        return s.length() > 80 ? s.substring(0, 80) + "..." : s;
    }

    private static CorruptImageException corrupt(String where, String detail) {
        return new CorruptImageException("vmdk: corrupt descriptor in " + where + ": " + detail);
    }
}
