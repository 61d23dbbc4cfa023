package org.vdmount.nativetests;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.File;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;
import org.junit.jupiter.api.Assumptions;

/**
 * Mounting with the real {@code ./vdmount} launcher and always cleaning up: every mount made here
 * is recorded and {@link #cleanup} unmounts it, waits for its daemon, and kills the daemon (by
 * its pid) only if it does not go away.
 */
final class Fuse {
    static final Path REPO = Path.of(System.getProperty("vdmount.repo", "..")).toAbsolutePath().normalize();
    static final Path LAUNCHER = REPO.resolve("vdmount");
    /**
     * The FUSE binding every mount of the suite uses ({@code -Dvdmount.fuse=kernel} runs the whole
     * suite through that transport); empty: vdmount's default.
     */
    static final String BINDING = System.getProperty("vdmount.fuse", "");

    private final String binding;

    private final List<Path> mounts = new ArrayList<>();
    private final List<Path> fsMounts = new ArrayList<>();
    private final List<String> loops = new ArrayList<>();
    private final List<Process> foreground = new ArrayList<>();

    /** Mounts through {@link #BINDING}. */
    Fuse() {
        this(BINDING);
    }

    /** Mounts through the binding named {@code binding} (empty: vdmount's default). */
    Fuse(String binding) {
        this.binding = binding;
    }

    /** {@code --fuse NAME} when a binding is chosen, then {@code args}. */
    private List<String> withBinding(String... args) {
        List<String> out = new ArrayList<>();
        if (!binding.isEmpty() && !List.of(args).contains("--fuse")) {
            out.add("--fuse");
            out.add(binding);
        }
        out.addAll(List.of(args));
        return out;
    }

    /** Skips unless real FUSE mounts are possible here (root, /dev/fuse, libfuse2, fusermount). */
    static void assumeFuse() {
        Assumptions.assumeTrue(Files.exists(Path.of("/dev/fuse")), "/dev/fuse absent");
        Assumptions.assumeTrue("root".equals(System.getProperty("user.name")), "native tests need root");
        Sh.require("fusermount");
        Assumptions.assumeTrue(Sh.run("bash", "-c", "ldconfig -p | grep -q 'libfuse\\.so\\.2 '").exit() == 0,
                "libfuse.so.2 absent");
    }

    /** A failed vdmount: non-zero exit, exactly one stderr line "vdmount: ..." naming the problem, no trace. */
    static void assertOneLineFailure(Sh.Result r, String expectedFragment) {
        assertNotEquals(0, r.exit(), "exit status");
        List<String> lines = r.err().lines().filter(l -> !l.isBlank()).toList();
        assertEquals(1, lines.size(), "stderr must be one line: " + r.err());
        assertTrue(lines.get(0).startsWith("vdmount: "), lines.get(0));
        assertTrue(lines.get(0).contains(expectedFragment), lines.get(0) + " lacks " + expectedFragment);
        assertFalse(r.err().contains("\tat ") || r.err().contains("Exception"), "stack trace: " + r.err());
    }

    /** vdmount ARGS... (detached); returns the command's result after it exited. */
    Sh.Result vdmount(String... args) {
        return vdmountVia(List.of(), args);
    }

    /** vdmount -u ARGS... as a user types it: no --fuse (unmounting names no binding). */
    Sh.Result unmountAndWait(String... args) {
        List<String> cmd = new ArrayList<>(List.of(LAUNCHER.toString(), "-u"));
        cmd.addAll(List.of(args));
        return Sh.run(180, cmd);
    }

    /** As {@link #vdmount}, the launcher started through {@code wrapper} (env VAR=..., bash -c ...). */
    Sh.Result vdmountVia(List<String> wrapper, String... args) {
        List<String> cmd = new ArrayList<>(wrapper);
        cmd.add(LAUNCHER.toString());
        cmd.addAll(withBinding(args));
        Sh.Result r = Sh.run(180, cmd);
        if (r.exit() == 0) {
            mounts.add(Path.of(args[args.length - 1]).toAbsolutePath());
        }
        return r;
    }

    /** Mounts and asserts success. */
    void mount(String... args) {
        Sh.Result r = vdmount(args);
        assertEquals(0, r.exit(), () -> "vdmount " + String.join(" ", args) + " failed: " + r.err());
        assertTrue(isMounted(Path.of(args[args.length - 1])), "not mounted after exit 0");
    }

    /**
     * Mounts with another FUSE tool (an independent reader such as libvhdi's vhdimount) whose last
     * argument is the mountpoint; recorded for {@link #cleanup} like our own mounts.
     */
    void mountWith(String... cmd) {
        Path mp = Path.of(cmd[cmd.length - 1]).toAbsolutePath();
        Sh.Result r = Sh.run(60, List.of(cmd));
        mounts.add(mp);
        assertEquals(0, r.exit(), () -> String.join(" ", cmd) + " failed: " + r.err() + r.out());
        assertTrue(isMounted(mp), String.join(" ", cmd) + ": not mounted after exit 0");
    }

    /** vdmount -f ARGS... as a child process of this test; returns once the mount is visible. */
    Process mountForeground(String... args) throws IOException, InterruptedException {
        List<String> cmd = new ArrayList<>();
        cmd.add(LAUNCHER.toString());
        cmd.add("-f");
        cmd.addAll(withBinding(args));
        Path log = Files.createTempFile("vdmount-fg", ".log");
        Process p = new ProcessBuilder(cmd).redirectErrorStream(true).redirectOutput(log.toFile())
                .redirectInput(ProcessBuilder.Redirect.from(new File("/dev/null"))).start();
        foreground.add(p);
        Path mp = Path.of(args[args.length - 1]).toAbsolutePath();
        mounts.add(mp);
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(120);
        // ready = the daemon logged "mounted" after its own readiness check (not just in mountinfo)
        while (!isMounted(mp) || !Files.readString(log).contains(" mounted ")) {
            if (!p.isAlive()) {
                throw new AssertionError("vdmount -f exited " + p.exitValue() + ": " + Files.readString(log));
            }
            if (System.nanoTime() > deadline) {
                throw new AssertionError("vdmount -f did not mount within 120 s: " + Files.readString(log));
            }
            Thread.sleep(50);
        }
        return p;
    }

    static boolean isMounted(Path mp) {
        String want = mp.toAbsolutePath().normalize().toString();
        try {
            for (String line : Files.readAllLines(Path.of("/proc/self/mountinfo"), StandardCharsets.UTF_8)) {
                String[] f = line.split(" ");
                if (f.length > 4 && f[4].replace("\\040", " ").equals(want)) {
                    return true;
                }
            }
        } catch (IOException e) {
            throw new AssertionError(e);
        }
        return false;
    }

    /** The pid of the daemon serving {@code mp}, found by its command line. */
    static Optional<Long> daemonPid(Path mp) {
        String want = mp.toAbsolutePath().normalize().toString();
        try (Stream<ProcessHandle> all = ProcessHandle.allProcesses()) {
            return all.filter(h -> h.info().arguments().map(a -> List.of(a).contains(want)
                            && List.of(a).contains("org.vdmount.mount.cli.VdmountMain")).orElse(false))
                    .map(ProcessHandle::pid).findFirst();
        }
    }

    /** fusermount -u, then waits (bounded) for the daemon to exit. */
    void unmount(Path mp) throws InterruptedException {
        Optional<Long> pid = daemonPid(mp);
        Sh.Result r = Sh.run(30, List.of("fusermount", "-u", mp.toString()));
        if (r.exit() != 0 && isMounted(mp)) {
            Sh.run(30, List.of("fusermount", "-u", "-z", mp.toString()));
        }
        mounts.remove(mp.toAbsolutePath());
        if (pid.isPresent()) {
            awaitExit(pid.get(), 20);
        }
        assertTrue(!isMounted(mp), mp + " still mounted");
    }

    static boolean awaitExit(long pid, int seconds) throws InterruptedException {
        Optional<ProcessHandle> h = ProcessHandle.of(pid);
        if (h.isEmpty()) {
            return true;
        }
        try {
            h.get().onExit().get(seconds, TimeUnit.SECONDS);
            return true;
        } catch (java.util.concurrent.ExecutionException | java.util.concurrent.TimeoutException e) {
            return !h.get().isAlive();
        }
    }

    /** losetup (read-only unless rw) over a file; returns the device. */
    String loop(Path file, boolean readOnly) {
        List<String> cmd = new ArrayList<>(List.of("losetup", "--find", "--show"));
        if (readOnly) {
            cmd.add("-r");
        }
        cmd.add(file.toString());
        String dev = Sh.run(60, cmd).ok().out().strip();
        loops.add(dev);
        return dev;
    }

    void mountFs(String device, Path dir, String options) {
        Sh.run(60, List.of("mount", "-o", options, device, dir.toString())).ok();
        fsMounts.add(dir);
    }

    void unmountFs(Path dir) {
        Sh.run(60, List.of("umount", dir.toString())).ok();
        fsMounts.remove(dir);
    }

    void detach(String device) {
        Sh.run(60, List.of("losetup", "-d", device)).ok();
        loops.remove(device);
    }

    /** Undoes everything, innermost first; never throws. */
    void cleanup() {
        for (Path d : List.copyOf(fsMounts)) {
            Sh.run(60, List.of("umount", "-l", d.toString()));
        }
        fsMounts.clear();
        for (String dev : List.copyOf(loops)) {
            Sh.run(60, List.of("losetup", "-d", dev));
        }
        loops.clear();
        for (Path mp : List.copyOf(mounts)) {
            Optional<Long> pid = daemonPid(mp);
            if (isMounted(mp)) {
                Sh.run(30, List.of("fusermount", "-u", "-z", mp.toString()));
            }
            try {
                if (pid.isPresent() && !awaitExit(pid.get(), 20)) {
                    ProcessHandle.of(pid.get()).ifPresent(ProcessHandle::destroyForcibly);
                }
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
        }
        mounts.clear();
        for (Process p : foreground) {
            try {
                if (!p.waitFor(20, TimeUnit.SECONDS)) {
                    p.destroyForcibly();
                }
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
        }
        foreground.clear();
    }
}
