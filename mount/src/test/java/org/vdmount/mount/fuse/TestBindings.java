package org.vdmount.mount.fuse;

import java.nio.file.Path;
import java.util.List;
import java.util.Optional;
import java.util.concurrent.CopyOnWriteArrayList;

/**
 * Two FUSE bindings registered for the tests in {@code META-INF/services} (test resources), so
 * the real ServiceLoader path finds them next to jnr: one that records what it was asked to
 * mount and fails with status {@link #STATUS}, and one that is never available.
 */
public final class TestBindings {
    public static final int STATUS = 7;
    /** The -o options of every mount the recording binding was asked for. */
    public static final List<List<String>> SERVED = new CopyOnWriteArrayList<>();

    private TestBindings() {
    }

    /** Available everywhere; below jnr so it is only chosen by name. */
    public static final class Available implements FuseBindingProvider {
        @Override
        public String name() {
            return "test";
        }

        @Override
        public String description() {
            return "records the mount and fails";
        }

        @Override
        public int priority() {
            return -100;
        }

        @Override
        public Optional<String> unavailableReason() {
            return Optional.empty();
        }

        @Override
        public List<String> defaultOptions() {
            return List.of("test_option=1");
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
    public static final class Missing implements FuseBindingProvider {
        public static final String REASON = "libtestfuse.so.9 not found (apt-get install libtestfuse9)";

        @Override
        public String name() {
            return "test-missing";
        }

        @Override
        public String description() {
            return "needs a library no host has";
        }

        @Override
        public int priority() {
            return 1000;
        }

        @Override
        public Optional<String> unavailableReason() {
            return Optional.of(REASON);
        }

        @Override
        public List<String> defaultOptions() {
            return List.of();
        }

        @Override
        public FuseBinding create() {
            throw new AssertionError("an unavailable binding was created");
        }
    }
}
