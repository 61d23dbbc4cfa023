package org.vdmount.vd.nativeio;

import java.io.BufferedReader;
import java.io.FileDescriptor;
import java.io.FileInputStream;
import java.io.FileOutputStream;
import java.io.IOException;
import java.io.InputStreamReader;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;

/**
 * Descriptor 2 turned into a pipe that this process reads itself, for a daemon that starts in the
 * command's own process: what lands on stderr while it starts (its warnings, and through the
 * inherited descriptor libfuse's and fusermount's messages) is held until the outcome is known,
 * then folded into one error line or passed on. {@link #end} puts the real stderr back; output that
 * reaches the pipe later (a fusermount that stays for auto_unmount keeps its copy) goes on to
 * whatever stderr is by then, the log or /dev/null.
 */
public final class StderrCapture {
    /** Written through the pipe at {@link #end}: every line before it has been read. */
    private static final String MARK = "\u0001vdmount-stderr-capture-end";
    private static final long DRAIN_MS = 5000;

    private final int savedFd;
    private final List<String> lines = new ArrayList<>();
    private final CountDownLatch drained = new CountDownLatch(1);
    private final CountDownLatch restored = new CountDownLatch(1);

    private StderrCapture(int savedFd) {
        this.savedFd = savedFd;
    }

    /** Starts capturing; throws when the descriptors cannot be set up (nothing changed then). */
    public static StderrCapture begin() throws IOException {
        Libc.Calls c = Libc.require();
        int[] p = new int[2];
        if (c.pipe(p) != 0) {
            throw new IOException("pipe(2) failed");
        }
        int saved = c.dup(2);
        if (saved < 0) {
            c.close(p[0]);
            c.close(p[1]);
            throw new IOException("dup(2) of stderr failed");
        }
        Posix.closeOnExec(saved);
        Posix.closeOnExec(p[0]);
        System.err.flush();
        c.dup2(p[1], 2);
        c.close(p[1]);
        FileInputStream in;
        try {
            in = new FileInputStream("/proc/self/fd/" + p[0]); // the pipe's read end as a stream
        } catch (IOException e) {
            c.dup2(saved, 2);
            c.close(saved);
            throw e;
        } finally {
            c.close(p[0]);
        }
        StderrCapture capture = new StderrCapture(saved);
        Thread reader = new Thread(() -> capture.read(in), "stderr-capture");
        reader.setDaemon(true);
        reader.start();
        return capture;
    }

    private void read(FileInputStream in) {
        try (BufferedReader r = new BufferedReader(new InputStreamReader(in, StandardCharsets.UTF_8))) {
            for (String line; (line = r.readLine()) != null; ) {
                if (drained.getCount() == 0) {
                    restored.await(); // not into the pipe itself
                    System.err.println(line);
                } else if (line.equals(MARK)) {
                    drained.countDown();
                } else if (!line.isBlank()) {
                    synchronized (lines) {
                        lines.add(line);
                    }
                }
            }
        } catch (IOException e) {
            // the pipe broke: nothing more to pass on
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        } finally {
            drained.countDown();
        }
    }

    /** Restores the real stderr and returns the non-blank lines written meanwhile. */
    public List<String> end() throws InterruptedException {
        System.err.flush();
        // straight to descriptor 2, wherever System.err was pointed (a test harness's stream)
        FileOutputStream fd2 = new FileOutputStream(FileDescriptor.err);
        try {
            fd2.write((MARK + "\n").getBytes(StandardCharsets.UTF_8));
        } catch (IOException e) {
            drained.countDown(); // the pipe is gone: nothing left to wait for
        }
        drained.await(DRAIN_MS, TimeUnit.MILLISECONDS);
        Libc.Calls c = Libc.require();
        c.dup2(savedFd, 2);
        c.close(savedFd);
        restored.countDown();
        synchronized (lines) {
            return new ArrayList<>(lines);
        }
    }
}
