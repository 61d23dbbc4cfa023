package org.vdmount.mount.fuse.kernel;

import java.io.File;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.Optional;
import org.vdmount.mount.fuse.FuseBinding;
import org.vdmount.mount.fuse.FuseBindingProvider;

/**
 * The kernel FUSE protocol over /dev/fuse from Java threads ({@code vdmount --fuse kernel}):
 * 1 MiB requests, SEEK_HOLE/SEEK_DATA, async direct I/O, one reader per cloned channel. The
 * default where it can run (it passes every native test and reads 2-5x faster than jnr in
 * bench/fuse-bench.sh); jnr serves where it cannot (no fusermount3, old glibc, other CPUs).
 */
public final class KernelFuseProvider implements FuseBindingProvider {

    private static final class Check {
        static final Optional<String> MISSING = check();
    }

    @Override
    public String name() {
        return "kernel";
    }

    @Override
    public String description() {
        return "kernel FUSE protocol on /dev/fuse from Java threads (" + Fusermount.PROGRAM
                + "), 1 MiB requests, SEEK_HOLE/SEEK_DATA";
    }

    @Override
    public int priority() {
        return 200;
    }

    @Override
    public Optional<String> unavailableReason() {
        return Check.MISSING;
    }

    @Override
    public List<String> defaultOptions() {
        return List.of();
    }

    @Override
    public FuseBinding create() {
        return new KernelFuseBinding();
    }

    private static Optional<String> check() {
        String arch = System.getProperty("os.arch", "");
        if (!System.getProperty("os.name", "").toLowerCase(Locale.ROOT).contains("linux")
                || !(arch.equals("amd64") || arch.equals("x86_64") || arch.equals("aarch64"))) {
            return Optional.of("needs Linux on x86_64 or aarch64 (struct layouts)");
        }
        if (!Files.exists(Path.of("/dev/fuse"))) {
            return Optional.of("/dev/fuse not found (modprobe fuse; in a container, pass --device /dev/fuse)");
        }
        if (!onPath(Fusermount.PROGRAM)) {
            return Optional.of(Fusermount.PROGRAM + " not found on PATH (apt-get install fuse3)");
        }
        try {
            Syscalls.libc();
        } catch (RuntimeException | LinkageError e) {
            return Optional.of("cannot bind the C library: " + e.getMessage());
        }
        return Optional.empty();
    }

    private static boolean onPath(String program) {
        String path = System.getenv("PATH");
        List<String> dirs = new ArrayList<>(List.of("/usr/bin", "/bin"));
        if (path != null) {
            dirs.addAll(0, List.of(path.split(File.pathSeparator)));
        }
        return dirs.stream().filter(d -> !d.isEmpty()).anyMatch(d -> Files.isExecutable(Path.of(d, program)));
    }
}
