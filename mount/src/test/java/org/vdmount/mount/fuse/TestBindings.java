package org.vdmount.mount.fuse;

import java.nio.file.Path;
import java.util.List;
import java.util.Optional;
import java.util.concurrent.CopyOnWriteArrayList;

/**
 * FUSE bindings for the tests. Two are registered in {@code META-INF/services} (test resources),
 * so the real ServiceLoader path finds them next to jnr: {@link Available}, which records what it
 * was asked to mount and fails with status {@link #STATUS}, and {@link Missing}, never available.
 */
public final class TestBindings {
    public static final int STATUS = 7;
    /** The -o options of every mount the recording binding was asked for. */
    public static final List<List<String>> SERVED = new CopyOnWriteArrayList<>();

    private TestBindings() {
    }

    /** A provider whose answers are fixed; {@code missing} null means available. It never mounts. */
    public static class Fixed implements FuseBindingProvider {
        private final String name;
        private final int priority;
        private final String missing;
        private final List<String> options;

        public Fixed(String name, int priority, String missing, List<String> options) {
            this.name = name;
            this.priority = priority;
            this.missing = missing;
            this.options = List.copyOf(options);
        }

        @Override
        public String name() {
            return name;
        }

        @Override
        public String description() {
            return missing == null ? "test binding " + name : "needs a library no host has";
        }

        @Override
        public int priority() {
            return priority;
        }

        @Override
        public Optional<String> unavailableReason() {
            return Optional.ofNullable(missing);
        }

        @Override
        public List<String> defaultOptions() {
            return options;
        }

        @Override
        public FuseBinding create() {
            throw new AssertionError("binding " + name + " is not meant to mount");
        }
    }

    /** Available everywhere; below jnr so it is only chosen by name. */
    public static final class Available extends Fixed {
        public Available() {
            super("test", -100, null, List.of("test_option=1"));
        }

        @Override
        public FuseBinding create() {
            return (Path mountpoint, List<String> options, FuseOps ops) -> {
                SERVED.add(List.copyOf(options));
                return STATUS;
            };
        }
    }

    /** Preferred over every other binding, but never available. */
    public static final class Missing extends Fixed {
        public static final String REASON = "libtestfuse.so.9 not found (apt-get install libtestfuse9)";

        public Missing() {
            super("test-missing", 1000, REASON, List.of());
        }
    }
}
