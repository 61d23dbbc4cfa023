package org.vdmount.mount;

import java.io.File;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Unmounting a FUSE mount with {@code fusermount3 -u} (libfuse 2's {@code fusermount} where only
 * that is installed): from inside the daemon ({@link #unmount}, lazily when busy) and for
 * {@code vdmount -u} ({@link #fusermount}, whose messages the user sees).
 */
public final class Unmount {
    private static final Logger LOG = LoggerFactory.getLogger(Unmount.class);
    private static final List<String> PROGRAMS = List.of("fusermount3", "fusermount");
    /** Exit status of a command that could not start or did not end in time. */
    public static final int DID_NOT_RUN = -1;

    /** A command's exit status ({@link #DID_NOT_RUN} when it did not run or end) and its output, stripped. */
    public record Result(int status, String output) {
        public boolean ok() {
            return status == 0;
        }
    }

    private Unmount() {
    }

    /** From the daemon: {@code -u}, then {@code -u -z} (a busy mount), then {@code umount -l}; a warning if none worked. */
    static void unmount(Path mountpoint) {
        Path mp = mountpoint.toAbsolutePath();
        try {
            if (fusermount(mp, false).ok() || fusermount(mp, true).ok()
                    || run(List.of("umount", "-l", mp.toString())).ok()) {
                return;
            }
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
        LOG.warn("could not unmount {}", mp);
    }

    /**
     * {@code fusermount3 -u [-z] DIR}, or {@code fusermount} when fusermount3 is not installed:
     * the first that starts; {@link #DID_NOT_RUN} with a line saying so when neither does.
     */
    public static Result fusermount(Path dir, boolean lazy) throws InterruptedException {
        for (String program : PROGRAMS) {
            Result r = run(lazy ? List.of(program, "-u", "-z", dir.toString()) : List.of(program, "-u", dir.toString()));
            if (r.status() != DID_NOT_RUN || !r.output().isEmpty()) {
                return r;
            }
        }
        return new Result(DID_NOT_RUN, "fusermount3 not found on PATH (install fuse3)");
    }

    /**
     * Runs {@code cmd} with no input, for 10 s at most; output empty and {@link #DID_NOT_RUN} when
     * it cannot start, a line saying so when it had to be killed.
     */
    private static Result run(List<String> cmd) throws InterruptedException {
        Process p;
        try {
            p = new ProcessBuilder(cmd).redirectInput(ProcessBuilder.Redirect.from(new File("/dev/null")))
                    .redirectErrorStream(true).start();
        } catch (IOException e) {
            return new Result(DID_NOT_RUN, ""); // not installed
        }
        if (!p.waitFor(10, TimeUnit.SECONDS)) {
            p.destroyForcibly();
            return new Result(DID_NOT_RUN, cmd.get(0) + " did not finish in 10 s");
        }
        String out; // a few lines at most: they fit the pipe, so reading after the exit is safe
        try {
            out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8).strip();
        } catch (IOException e) {
            out = "";
        }
        return new Result(p.exitValue(), out);
    }
}
