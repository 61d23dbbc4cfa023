package org.vdmount.mount.cli;

import java.util.Collection;
import java.util.Map;

/**
 * A tiny JSON writer (RFC 8259) for {@code vd info --json}: maps become objects (in iteration
 * order), collections and arrays become arrays, numbers and booleans stay, null is null, anything
 * else is written as its {@code toString()}. The output is pure ASCII: every character outside
 * printable ASCII is written as a {@code \}{@code uXXXX} escape, so it survives any terminal or
 * locale and stays valid even for file names that are not valid Unicode.
 */
final class Json {
    private static final char[] HEX = "0123456789abcdef".toCharArray();

    private Json() {
    }

    /**
     * {@code key} in the one key style of vd's JSON (kebab-case): {@code block_size}, {@code
     * block size}, {@code parentCID}, {@code createType} and {@code geometry.cylinders} become
     * {@code block-size}, {@code parent-cid}, {@code create-type} and {@code geometry-cylinders}.
     */
    static String kebab(String key) {
        StringBuilder sb = new StringBuilder(key.length() + 4);
        for (int i = 0; i < key.length(); i++) {
            char c = key.charAt(i);
            if (c == '_' || c == ' ' || c == '-' || c == '.') {
                if (sb.length() > 0 && sb.charAt(sb.length() - 1) != '-') {
                    sb.append('-');
                }
                continue;
            }
            if (Character.isUpperCase(c) && sb.length() > 0 && sb.charAt(sb.length() - 1) != '-') {
                char prev = key.charAt(i - 1);
                boolean nextLower = i + 1 < key.length() && Character.isLowerCase(key.charAt(i + 1));
                if (Character.isLowerCase(prev) || Character.isDigit(prev)
                        || Character.isUpperCase(prev) && nextLower) {
                    sb.append('-');
                }
            }
            sb.append(Character.toLowerCase(c));
        }
        return sb.toString();
    }

    /** {@code value} with the keys of every map inside it (at any depth) in {@link #kebab} style. */
    static Object kebabKeys(Object value) {
        if (value instanceof Map<?, ?> m) {
            Map<String, Object> out = new java.util.LinkedHashMap<>();
            m.forEach((k, v) -> out.put(kebab(String.valueOf(k)), kebabKeys(v)));
            return out;
        }
        if (value instanceof Collection<?> c) {
            return c.stream().map(Json::kebabKeys).toList();
        }
        return value;
    }

    /** The value as indented JSON (two spaces per level), without a trailing newline. */
    static String write(Object value) {
        StringBuilder sb = new StringBuilder();
        write(sb, value, 0);
        return sb.toString();
    }

    private static void write(StringBuilder sb, Object v, int depth) {
        if (v == null) {
            sb.append("null");
        } else if (v instanceof Boolean b) {
            sb.append(b.booleanValue());
        } else if (v instanceof Double || v instanceof Float) {
            double d = ((Number) v).doubleValue();
            sb.append(Double.isFinite(d) ? String.valueOf(d) : "null");
        } else if (v instanceof Number n) {
            sb.append(n); // Integer, Long, Short, Byte, BigInteger, BigDecimal: JSON digits
        } else if (v instanceof Map<?, ?> m) {
            writeObject(sb, m, depth);
        } else if (v instanceof Collection<?> c) {
            writeArray(sb, c.toArray(), depth);
        } else if (v instanceof Object[] a) {
            writeArray(sb, a, depth);
        } else {
            string(sb, v.toString());
        }
    }

    private static void writeObject(StringBuilder sb, Map<?, ?> m, int depth) {
        if (m.isEmpty()) {
            sb.append("{}");
            return;
        }
        sb.append('{');
        boolean first = true;
        for (Map.Entry<?, ?> e : m.entrySet()) {
            sb.append(first ? "\n" : ",\n");
            first = false;
            indent(sb, depth + 1);
            string(sb, String.valueOf(e.getKey()));
            sb.append(": ");
            write(sb, e.getValue(), depth + 1);
        }
        sb.append('\n');
        indent(sb, depth);
        sb.append('}');
    }

    private static void writeArray(StringBuilder sb, Object[] a, int depth) {
        if (a.length == 0) {
            sb.append("[]");
            return;
        }
        sb.append('[');
        for (int i = 0; i < a.length; i++) {
            sb.append(i == 0 ? "\n" : ",\n");
            indent(sb, depth + 1);
            write(sb, a[i], depth + 1);
        }
        sb.append('\n');
        indent(sb, depth);
        sb.append(']');
    }

    private static void indent(StringBuilder sb, int depth) {
        sb.append("  ".repeat(depth));
    }

    /** A JSON string literal: quotes, backslash and every non-printable or non-ASCII char escaped. */
    static void string(StringBuilder sb, String s) {
        sb.append('"');
        for (int i = 0; i < s.length(); i++) {
            char c = s.charAt(i);
            switch (c) {
                case '"' -> sb.append("\\\"");
                case '\\' -> sb.append("\\\\");
                case '\n' -> sb.append("\\n");
                case '\r' -> sb.append("\\r");
                case '\t' -> sb.append("\\t");
                case '\b' -> sb.append("\\b");
                case '\f' -> sb.append("\\f");
                default -> {
                    if (c >= 0x20 && c < 0x7f) {
                        sb.append(c);
                    } else {
                        sb.append("\\u").append(HEX[c >> 12 & 0xf]).append(HEX[c >> 8 & 0xf])
                                .append(HEX[c >> 4 & 0xf]).append(HEX[c & 0xf]);
                    }
                }
            }
        }
        sb.append('"');
    }
}
