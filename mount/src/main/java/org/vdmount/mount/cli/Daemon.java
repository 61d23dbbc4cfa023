package org.vdmount.mount.cli;

import java.io.BufferedReader;
import java.io.File;
import java.io.FileOutputStream;
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
import org.vdmount.vd.nativeio.Posix;
import org.vdmount.vd.nativeio.StderrCapture;

/**
 * Starting vdmount in the background, in one of two ways.
 * <ul>
 * <li>In place (the launcher's way): the launcher starts this JVM as a background job whose
 * descriptor {@value #READY_FD_ENV} is a pipe back to it. This process prompts, opens and mounts
 * with stderr captured ({@link StderrCapture}), leaves the command's session, points its stdio at
 * the log (or /dev/null) and writes {@code READY} on that pipe; the launcher then exits 0. A failure
 * is one line on the real stderr and the exit status; the launcher passes the status on. One JVM
 * starts, not two.</li>
 * <li>Spawned (without the launcher's pipe): the command re-runs itself as a detached daemon
 * ({@code setsid java ... --daemon-child -f ...}, stdin /dev/null, cwd /) whose stdout and stderr
 * are a pipe back to the command. The daemon writes one status line there, READY or ERROR, then
 * points its stdout/stderr at the log (or /dev/null).</li>
 * </ul>
 * Either way, anything else printed meanwhile (warnings, libfuse's own messages, -v stack traces)
 * is passed on to the user's stderr, and libfuse's first "fuse: ..." line is folded into an error.
 */
final class Daemon {
    static final String CHILD_FLAG = "--daemon-child";
    /** Environment variable naming the launcher's status descriptor (a pipe's write end). */
    static final String READY_FD_ENV = "VDMOUNT_READY_FD";
    private static final String READY = "\u0001vdmount-daemon READY";
    private static final String ERROR = "\u0001vdmount-daemon ERROR ";

    private Daemon() {
    }

    /** The launcher's status descriptor, or -1 when vdmount was not started that way. */
    static int readyFd() {
        String v = System.getenv(READY_FD_ENV);
        if (v == null || !v.matches("[0-9]{1,4}") || Integer.parseInt(v) < 3) {
            return -1;
        }
        int fd = Integer.parseInt(v);
        // a descriptor that is not open (the variable inherited by some other start) is not ours
        return Files.exists(Path.of("/proc/self/fd/" + fd)) ? fd : -1;
    }

    /** A start in place: stderr captured until {@link #ready} or {@link #fail}. */
    static final class InPlace {
        private final int statusFd;
        private final StderrCapture capture;

        private InPlace(int statusFd, StderrCapture capture) {
            this.statusFd = statusFd;
            this.capture = capture;
        }

        /** Takes the status descriptor (hidden from programs started from here) and captures stderr. */
        static InPlace begin(int statusFd) throws IOException {
            Posix.closeOnExec(statusFd);
            return new InPlace(statusFd, StderrCapture.begin());
        }

        /** Leaves the command's session (after any password prompt, before fusermount is started). */
        void detachSession() {
            Posix.setsid();
        }

        /** The mount is usable: passes the captured lines on, detaches stdio and tells the launcher. */
        void ready(Path logFile, PrintStream err) throws IOException, InterruptedException {
            capture.end().forEach(err::println);
            err.flush();
            Posix.chdirRoot();
            Posix.redirectStdio(logFile != null ? logFile.toAbsolutePath().toString() : null);
            try (FileOutputStream status = new FileOutputStream("/proc/self/fd/" + statusFd)) {
                status.write("READY\n".getBytes(StandardCharsets.US_ASCII));
            } finally {
                Posix.close(statusFd);
            }
        }

        /** Start-up failed with {@code error} (one line): says so on the real stderr; the exit status. */
        int fail(String error, boolean verbose, PrintStream err) throws InterruptedException {
            List<String> other = capture.end();
            err.println(VdmountMain.PROG + ": " + failureLine(error, other, verbose, err, ""));
            return 1;
        }
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
        String exit = p.isAlive() ? "" : " (daemon exit status " + p.exitValue() + ")";
        err.println(VdmountMain.PROG + ": " + failureLine(error, other, verbose, err, exit));
        return 1;
    }

    /**
     * The error line of a failed start: {@code error} (null: none reported) with libfuse's first
     * "fuse: ..." line folded in; {@code other}, all else printed, goes to {@code err} only with -v.
     */
    private static String failureLine(String error, List<String> other, boolean verbose, PrintStream err, String exit) {
        // libfuse explains its own failures in "fuse: ..." lines: fold the first into the one line
        String fuseLine = other.stream().filter(l -> l.startsWith("fuse: ") || l.startsWith("fusermount"))
                .findFirst().orElse(null);
        if (verbose) {
            other.forEach(err::println);
        }
        if (error == null) {
            String last = other.isEmpty() ? null : other.get(other.size() - 1).strip();
            return "mount failed" + (fuseLine != null ? ": " + fuseLine : last != null ? ": " + last : "") + exit;
        }
        return fuseLine != null && !verbose ? error + ": " + fuseLine : error;
    }
}
