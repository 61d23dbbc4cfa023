package org.vdmount.vd.crypto;

import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * A small, bounded JSON parser (RFC 8259) for LUKS2's metadata area: objects become
 * {@code Map<String,Object>}, arrays {@code List<Object>}, numbers {@code Long} (LUKS2 writes only
 * integers; fractions and exponents are refused), and strings, booleans and null as Java values.
 * Nesting is limited to {@link #MAX_DEPTH}; the input is already bounded by the area's size.
 */
final class JsonReader {
    static final int MAX_DEPTH = 32;

    /** Thrown with the offset of the bad character. */
    static final class JsonException extends Exception {
        private static final long serialVersionUID = 1L;
        final int offset;

        JsonException(int offset, String message) {
            super(message);
            this.offset = offset;
        }
    }

    private final String s;
    private int pos;

    private JsonReader(String s) {
        this.s = s;
    }

    static Object parse(String text) throws JsonException {
        JsonReader r = new JsonReader(text);
        Object v = r.value(0);
        r.ws();
        if (r.pos != r.s.length()) {
            throw new JsonException(r.pos, "text after the JSON value");
        }
        return v;
    }

    private void ws() {
        while (pos < s.length() && " \t\r\n".indexOf(s.charAt(pos)) >= 0) {
            pos++;
        }
    }

    private char peek() throws JsonException {
        if (pos >= s.length()) {
            throw new JsonException(pos, "unexpected end of JSON");
        }
        return s.charAt(pos);
    }

    private void expect(char c) throws JsonException {
        if (peek() != c) {
            throw new JsonException(pos, "expected '" + c + "'");
        }
        pos++;
    }

    private Object value(int depth) throws JsonException {
        if (depth > MAX_DEPTH) {
            throw new JsonException(pos, "nested deeper than " + MAX_DEPTH);
        }
        ws();
        char c = peek();
        switch (c) {
            case '{': {
                pos++;
                Map<String, Object> m = new LinkedHashMap<>();
                ws();
                if (peek() == '}') {
                    pos++;
                    return m;
                }
                while (true) {
                    ws();
                    int at = pos;
                    String k = string();
                    ws();
                    expect(':');
                    if (m.put(k, value(depth + 1)) != null) {
                        throw new JsonException(at, "duplicate key \"" + k + "\"");
                    }
                    ws();
                    if (peek() == ',') {
                        pos++;
                        continue;
                    }
                    expect('}');
                    return m;
                }
            }
            case '[': {
                pos++;
                List<Object> l = new ArrayList<>();
                ws();
                if (peek() == ']') {
                    pos++;
                    return l;
                }
                while (true) {
                    l.add(value(depth + 1));
                    ws();
                    if (peek() == ',') {
                        pos++;
                        continue;
                    }
                    expect(']');
                    return l;
                }
            }
            case '"':
                return string();
            case 't':
                return word("true", Boolean.TRUE);
            case 'f':
                return word("false", Boolean.FALSE);
            case 'n':
                return word("null", null);
            default:
                return number();
        }
    }

    private Object word(String w, Object v) throws JsonException {
        if (!s.startsWith(w, pos)) {
            throw new JsonException(pos, "unexpected character");
        }
        pos += w.length();
        return v;
    }

    private Long number() throws JsonException {
        int start = pos;
        if (pos < s.length() && s.charAt(pos) == '-') {
            pos++;
        }
        while (pos < s.length() && Character.isDigit(s.charAt(pos)) && pos - start < 20) {
            pos++;
        }
        if (pos < s.length() && ".eE".indexOf(s.charAt(pos)) >= 0) {
            throw new JsonException(pos, "only integers are expected");
        }
        try {
            return Long.parseLong(s.substring(start, pos));
        } catch (NumberFormatException e) {
            throw new JsonException(start, "bad number");
        }
    }

    private String string() throws JsonException {
        expect('"');
        StringBuilder b = new StringBuilder();
        while (true) {
            char c = peek();
            pos++;
            if (c == '"') {
                return b.toString();
            }
            if (c < 0x20) {
                throw new JsonException(pos - 1, "control character in a string");
            }
            if (c != '\\') {
                b.append(c);
                continue;
            }
            char e = peek();
            pos++;
            switch (e) {
                case '"', '\\', '/' -> b.append(e);
                case 'b' -> b.append('\b');
                case 'f' -> b.append('\f');
                case 'n' -> b.append('\n');
                case 'r' -> b.append('\r');
                case 't' -> b.append('\t');
                case 'u' -> {
                    if (pos + 4 > s.length()) {
                        throw new JsonException(pos, "short \\u escape");
                    }
                    try {
                        b.append((char) Integer.parseInt(s.substring(pos, pos + 4), 16));
                    } catch (NumberFormatException x) {
                        throw new JsonException(pos, "bad \\u escape");
                    }
                    pos += 4;
                }
                default -> throw new JsonException(pos - 1, "bad escape");
            }
        }
    }
}
