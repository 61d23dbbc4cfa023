package org.vdmount.mount.cli;

import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.util.List;

/** Runs {@code vd} in-process and captures its exit status, stdout and stderr. */
final class Cli {
    private Cli() {
    }

    record Result(int exit, String out, String err) {
        /** The lines of stderr, each ended by a newline (an unterminated last line counts too). */
        List<String> errLines() {
            if (err.isEmpty()) {
                return List.of();
            }
            List<String> lines = List.of(err.split("\n", -1));
            return err.endsWith("\n") ? lines.subList(0, lines.size() - 1) : lines;
        }

        @Override
        public String toString() {
            return "exit " + exit + "\n--- stdout\n" + out + "--- stderr\n" + err;
        }
    }

    static Result vd(Object... args) {
        return run(false, args);
    }

    /** As if a terminal were attached (progress bars on). */
    static Result vdOnTerminal(Object... args) {
        return run(true, args);
    }

    private static Result run(boolean terminal, Object... args) {
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        ByteArrayOutputStream err = new ByteArrayOutputStream();
        String[] a = new String[args.length];
        for (int i = 0; i < args.length; i++) {
            a[i] = args[i].toString();
        }
        int exit;
        try (PrintStream o = new PrintStream(out, true, StandardCharsets.UTF_8);
             PrintStream e = new PrintStream(err, true, StandardCharsets.UTF_8)) {
            exit = VdMain.run(a, o, e, terminal);
        }
        return new Result(exit, out.toString(StandardCharsets.UTF_8), err.toString(StandardCharsets.UTF_8));
    }
}
