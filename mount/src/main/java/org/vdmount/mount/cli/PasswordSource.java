package org.vdmount.mount.cli;

import java.io.Console;
import java.io.IOException;
import java.io.InputStream;
import java.nio.ByteBuffer;
import java.nio.CharBuffer;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import org.vdmount.vd.VdException;
import org.vdmount.vd.crypto.SecretSource;

/**
 * The password of encrypted images from {@code --password-file FILE} (its first line: a trailing
 * newline is not part of the password; {@code -} is standard input) or, without one, from a
 * prompt on the terminal. Never from the command line; nothing here prints or logs it. The bytes
 * are read once and handed out as copies (one password opens every image of a command); {@link #close}
 * zeroes them.
 */
final class PasswordSource implements SecretSource, AutoCloseable {
    /** No password file is larger: a key file of a megabyte is a mistake, not a password. */
    static final int MAX_BYTES = 64 * 1024;

    private final Path file;
    private final boolean confirm;
    private final String prog;
    private byte[] cached;

    /**
     * @param file    the password file, "-" for standard input, or null to prompt
     * @param confirm ask twice at a prompt (a new image's password)
     */
    PasswordSource(Path file, boolean confirm, String prog) {
        this.file = file;
        this.confirm = confirm;
        this.prog = prog;
    }

    @Override
    public synchronized byte[] password(String what) throws IOException {
        if (cached == null) {
            cached = file != null ? fromFile() : fromPrompt(what);
        }
        return cached.clone();
    }

    private byte[] fromFile() throws IOException {
        byte[] all;
        if (file.toString().equals("-")) {
            all = readBounded(System.in, "standard input");
        } else {
            try (InputStream in = Files.newInputStream(file)) {
                all = readBounded(in, file.toString());
            }
        }
        int end = 0;
        while (end < all.length && all[end] != '\n') {
            end++;
        }
        int len = end > 0 && all[end - 1] == '\r' ? end - 1 : end;
        byte[] pw = Arrays.copyOf(all, len);
        Arrays.fill(all, (byte) 0);
        if (pw.length == 0) {
            throw new VdException("password file " + file + " is empty");
        }
        return pw;
    }

    private static byte[] readBounded(InputStream in, String name) throws IOException {
        byte[] buf = new byte[MAX_BYTES + 1];
        int n = 0;
        for (int r; n < buf.length && (r = in.read(buf, n, buf.length - n)) > 0; ) {
            n += r;
        }
        if (n > MAX_BYTES) {
            Arrays.fill(buf, (byte) 0);
            throw new VdException("password file " + name + " is larger than " + MAX_BYTES + " bytes");
        }
        byte[] out = Arrays.copyOf(buf, n);
        Arrays.fill(buf, (byte) 0);
        return out;
    }

    private byte[] fromPrompt(String what) throws IOException {
        Console console = System.console();
        if (console == null) {
            throw new VdException(what + " is encrypted: give its password with --password-file FILE "
                    + "(no terminal to ask on)");
        }
        char[] first = console.readPassword("%s: password for %s: ", prog, what);
        if (first == null || first.length == 0) {
            throw new VdException(what + ": no password given");
        }
        try {
            if (confirm) {
                char[] again = console.readPassword("%s: the same password again: ", prog);
                boolean same = Arrays.equals(first, again);
                if (again != null) {
                    Arrays.fill(again, '\0');
                }
                if (!same) {
                    throw new VdException("the two passwords differ");
                }
            }
            return utf8(first);
        } finally {
            Arrays.fill(first, '\0');
        }
    }

    /** UTF-8 bytes of {@code chars} without a String copy (Strings cannot be zeroed). */
    static byte[] utf8(char[] chars) {
        ByteBuffer b = StandardCharsets.UTF_8.encode(CharBuffer.wrap(chars));
        byte[] out = new byte[b.remaining()];
        b.get(out);
        if (b.hasArray()) {
            Arrays.fill(b.array(), (byte) 0);
        }
        return out;
    }

    @Override
    public synchronized void close() {
        if (cached != null) {
            Arrays.fill(cached, (byte) 0);
            cached = null;
        }
    }
}
