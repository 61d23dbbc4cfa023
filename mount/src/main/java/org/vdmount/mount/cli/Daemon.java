package org.vdmount.mount.cli;

import java.io.BufferedReader;
import java.io.File;
import java.io.IOException;
import java.io.InputStreamReader;
import java.io.PrintStream;
import java.lang.management.ManagementFactory;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;

/**
 * Starting vdmount in the background. The command re-runs itself as a detached daemon
 * ({@code setsid java ... --daemon-child -f ...}, stdin /dev/null, cwd /) whose stdout and stderr
 * are a pipe back to the command. The daemon writes one status line there, READY or ERROR, then
 * points its stdout/stderr at the log (or /dev/null). Anything else it printed meanwhile (warnings,
 * libfuse's own messages, -v stack traces) is passed on to the user's stderr.
 */
final class Daemon {
    static final String CHILD_FLAG = "--daemon-child";
    private static final String READY = "\u0001vdmount-daemon READY";
    private static final String ERROR = "\u0001vdmount-daemon ERROR ";

    private Daemon() {
    }

    /** Daemon side: the mount is usable. */
    static void reportReady(PrintStream out) {
        out.println(READY);
        out.flush();
    }

    /** Daemon side: start-up failed; {@code message} is the one-line reason. */
    static void reportError(PrintStream out, String message) {
        out.println(ERROR + message.replace('\n', ' '));
        out.flush();
    }

    /** Command side: start the daemon and wait for its status line. Returns the exit status. */
    static int spawnAndWait(List<String> args, boolean verbose, PrintStream err) throws IOException, InterruptedException {
        return spawnAndWait(args, null, verbose, err);
    }

    /**
     * As {@link #spawnAndWait(List, boolean, PrintStream)}, with {@code input} (a password line for
     * {@code --password-file -}; zeroed here) on the daemon's standard input instead of /dev/null.
     */
    static int spawnAndWait(List<String> args, byte[] input, boolean verbose, PrintStream err)
            throws IOException, InterruptedException {
        List<String> cmd = new ArrayList<>();
        if (Files.isExecutable(Path.of("/usr/bin/setsid")) || Files.isExecutable(Path.of("/bin/setsid"))) {
            cmd.add("setsid");
        }
        cmd.add(ProcessHandle.current().info().command()
                .orElse(Path.of(System.getProperty("java.home"), "bin", "java").toString()));
        cmd.addAll(ManagementFactory.getRuntimeMXBean().getInputArguments());
        cmd.add("-cp");
        cmd.add(System.getProperty("java.class.path"));
        cmd.add(VdmountMain.class.getName());
        cmd.add(CHILD_FLAG);
        cmd.add("-f");
        cmd.addAll(args);
        Process p = new ProcessBuilder(cmd)
                .directory(new File("/"))
                .redirectInput(input == null ? ProcessBuilder.Redirect.from(new File("/dev/null"))
                        : ProcessBuilder.Redirect.PIPE)
                .redirectErrorStream(true)
                .start();
        if (input != null) {
            try (java.io.OutputStream in = p.getOutputStream()) {
                in.write(input);
            } finally {
                java.util.Arrays.fill(input, (byte) 0);
            }
        }
        String error = null;
        List<String> other = new ArrayList<>(); // warnings, libfuse's messages, -v stack traces
        try (BufferedReader r = new BufferedReader(new InputStreamReader(p.getInputStream(), StandardCharsets.UTF_8))) {
            String line;
            while ((line = r.readLine()) != null) {
                if (line.equals(READY)) {
                    other.forEach(err::println);
                    return 0;
                } else if (line.startsWith(ERROR)) {
                    error = line.substring(ERROR.length());
                } else if (!line.isBlank()) {
                    other.add(line);
                }
            }
        }
        if (!p.waitFor(30, TimeUnit.SECONDS)) {
            p.destroyForcibly();
        }
        // libfuse explains its own failures in "fuse: ..." lines: fold the first into the one line
        String fuseLine = other.stream().filter(l -> l.startsWith("fuse: ") || l.startsWith("fusermount"))
                .findFirst().orElse(null);
        if (verbose) {
            other.forEach(err::println);
        }
        if (error == null) {
            String last = other.isEmpty() ? null : other.get(other.size() - 1).strip();
            error = "mount failed" + (fuseLine != null ? ": " + fuseLine : last != null ? ": " + last : "")
                    + (p.isAlive() ? "" : " (daemon exit status " + p.exitValue() + ")");
        } else if (fuseLine != null && !verbose) {
            error = error + ": " + fuseLine;
        }
        err.println(VdmountMain.PROG + ": " + error);
        return 1;
    }
}
