package org.vdmount.mount.fuse.jnr;

import java.io.File;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;
import jnr.ffi.LibraryLoader;
import org.vdmount.mount.fuse.FuseBinding;
import org.vdmount.mount.fuse.FuseBindingProvider;

/** The jnr-fuse transport over libfuse 2.9: the default until a faster binding proves itself. */
public final class JnrFuseProvider implements FuseBindingProvider {
    static final String LIBRARY = "libfuse.so.2";

    /** The one libfuse function the availability check binds. */
    public interface LibFuseVersion {
        int fuse_version();
    }

    /** The check runs once per process: it loads the library. */
    private static final class Check {
        static final Optional<String> MISSING = check();
    }

    @Override
    public String name() {
        return "jnr";
    }

    @Override
    public String description() {
        return "jnr-fuse on " + LIBRARY + " (libfuse 2.9), 128 KiB writes";
    }

    @Override
    public int priority() {
        return 100;
    }

    @Override
    public Optional<String> unavailableReason() {
        return Check.MISSING;
    }

    /**
     * libfuse 2 caps requests at 4 KiB without {@code big_writes}; 128 KiB is its largest write.
     * libfuse 3 rejects {@code big_writes}, hence an option of this binding, not of the core.
     */
    @Override
    public List<String> defaultOptions() {
        return List.of("big_writes", "max_write=131072");
    }

    @Override
    public FuseBinding create() {
        return new JnrFuseBinding();
    }

    private static Optional<String> check() {
        try {
            LibraryLoader.create(LibFuseVersion.class).failImmediately().load(LIBRARY).fuse_version();
        } catch (RuntimeException | LinkageError e) {
            return Optional.of(LIBRARY + " not found (apt-get install libfuse2)");
        }
        // libfuse 2 mounts through fusermount whenever auto_unmount is set (always, by the core)
        if (!onPath("fusermount")) {
            return Optional.of("fusermount not found on PATH (apt-get install fuse3)");
        }
        if (!Files.exists(Path.of("/dev/fuse"))) {
            return Optional.of("/dev/fuse not found (modprobe fuse; in a container, pass --device /dev/fuse)");
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
