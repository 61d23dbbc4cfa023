package org.vdmount.vd;

import java.io.IOException;

/**
 * Root of the library's checked exceptions. Messages are one line and name file, structure and
 * offset; they often quote text from untrusted files (locators, extent names), so control
 * characters are shown as {@code \xNN} and a message can never span several lines.
 */
public class VdException extends IOException {
    private static final long serialVersionUID = 1L;

    public VdException(String message) {
        super(oneLine(message));
    }

    public VdException(String message, Throwable cause) {
        super(oneLine(message), cause);
    }

    /** {@code s} with control characters (newlines, escapes, NUL) replaced by {@code \xNN}. */
    public static String oneLine(String s) {
        if (s == null) {
            return null;
        }
        StringBuilder out = null;
        for (int i = 0; i < s.length(); i++) {
            char c = s.charAt(i);
            if (Character.isISOControl(c)) {
                if (out == null) {
                    out = new StringBuilder(s.length() + 8).append(s, 0, i);
                }
                out.append(String.format("\\x%02x", (int) c));
            } else if (out != null) {
                out.append(c);
            }
        }
        return out == null ? s : out.toString();
    }
}
