package org.vdmount.mount.fuse;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;

/** Choosing a FUSE binding: priority, --fuse NAME, unknown names and what an unavailable one lacks. */
class FuseBindingsTest {

    private static final FuseBindingProvider LOW = fake("low", 10, null);
    private static final FuseBindingProvider MID = fake("mid", 50, null);
    private static final FuseBindingProvider HIGH_MISSING = fake("high", 90,
            "libhigh.so.1 not found (apt-get install libhigh1)");

    private static FuseBindingProvider fake(String name, int priority, String missing) {
        return new TestBindings.Fixed(name, priority, missing, List.of());
    }

    @Test
    void highestAvailablePriorityWinsWhateverTheListOrder() throws Exception {
        assertSame(MID, FuseBindings.select(List.of(LOW, MID), null));
        assertSame(MID, FuseBindings.select(List.of(MID, LOW), null));
        assertSame(MID, FuseBindings.select(List.of(LOW, HIGH_MISSING, MID), null), "unavailable ones are skipped");
        FuseBindingProvider twin = fake("another", 50, null);
        assertSame(twin, FuseBindings.select(List.of(MID, twin), null), "equal priorities: by name");
    }

    @Test
    void aNamedBindingIsUsedEvenWithLowerPriority() throws Exception {
        assertSame(LOW, FuseBindings.select(List.of(MID, LOW, HIGH_MISSING), "low"));
    }

    @Test
    void anUnknownNameIsAUsageErrorListingTheKnownOnes() {
        FuseBindingException e = assertThrows(FuseBindingException.class,
                () -> FuseBindings.select(List.of(LOW, HIGH_MISSING, MID), "fast"));
        assertEquals(FuseBindingException.Reason.UNKNOWN_NAME, e.reason());
        assertEquals("unknown FUSE binding 'fast' (known: high, mid, low)", e.getMessage());
        assertEquals("unknown FUSE binding 'jnr' (known: none)",
                assertThrows(FuseBindingException.class, () -> FuseBindings.named(List.of(), "jnr")).getMessage());
    }

    @Test
    void aNamedUnavailableBindingSaysWhatIsMissing() {
        FuseBindingException e = assertThrows(FuseBindingException.class,
                () -> FuseBindings.select(List.of(LOW, HIGH_MISSING), "high"));
        assertEquals(FuseBindingException.Reason.UNAVAILABLE, e.reason());
        assertEquals("FUSE binding 'high' is not available: libhigh.so.1 not found (apt-get install libhigh1)",
                e.getMessage());
    }

    @Test
    void noneAvailableListsEveryReason() {
        FuseBindingProvider other = fake("other", 5, "/dev/fuse not found (modprobe fuse)");
        FuseBindingException e = assertThrows(FuseBindingException.class,
                () -> FuseBindings.select(List.of(other, HIGH_MISSING), null));
        assertEquals(FuseBindingException.Reason.NONE_AVAILABLE, e.reason());
        assertEquals("no FUSE binding is available: high: libhigh.so.1 not found (apt-get install libhigh1); "
                + "other: /dev/fuse not found (modprobe fuse)", e.getMessage());
        assertTrue(assertThrows(FuseBindingException.class, () -> FuseBindings.select(List.of(), null))
                .getMessage().startsWith("no FUSE binding installed"));
    }

    @Test
    void serviceLoaderFindsJnrAndTheTestBindingsInPriorityOrder() throws Exception {
        List<String> names = FuseBindings.installed().stream().map(FuseBindingProvider::name).toList();
        assertEquals(List.of("test-missing", "kernel", "jnr", "test"), names);
        FuseBindingProvider jnr = FuseBindings.named(FuseBindings.installed(), "jnr");
        FuseBindingProvider kernel = FuseBindings.named(FuseBindings.installed(), "kernel");
        // test-missing outranks them but is never available: the default is the kernel transport
        // where it can run, then jnr
        String expected = kernel.unavailableReason().isEmpty() ? "kernel"
                : jnr.unavailableReason().isEmpty() ? "jnr" : "test";
        assertEquals(expected, FuseBindings.select(null).name());
        assertEquals("test", FuseBindings.select("test").name());
        assertEquals("FUSE binding 'test-missing' is not available: " + TestBindings.Missing.REASON,
                assertThrows(FuseBindingException.class, () -> FuseBindings.select("test-missing")).getMessage());
    }

    @Test
    void jnrKeepsItsLibfuse2OptionsToItself() throws Exception {
        FuseBindingProvider jnr = FuseBindings.named(FuseBindings.installed(), "jnr");
        assertEquals(List.of("big_writes", "max_write=131072"), jnr.defaultOptions());
        jnr.unavailableReason().ifPresent(why -> assertTrue(why.matches("[^\n]+ \\((apt-get install|modprobe) .+\\)"),
                "one line naming what is missing and how to get it: " + why));
    }

    @Test
    void theKernelBindingNeedsNoLibfuse() throws Exception {
        FuseBindingProvider kernel = FuseBindings.named(FuseBindings.installed(), "kernel");
        assertEquals(List.of(), kernel.defaultOptions());
        assertTrue(kernel.priority() > FuseBindings.named(FuseBindings.installed(), "jnr").priority(),
                "the kernel transport is the default where it can run");
        kernel.unavailableReason().ifPresent(why -> assertTrue(why.matches("[^\n]+ \\((apt-get install|modprobe|struct) .+\\)"),
                "one line naming what is missing and how to get it: " + why));
    }

    /**
     * Only the bindings' own packages may see jnr-fuse (or jnr-ffi: other native calls live in the
     * vd library's nativeio package): the core knows no binding.
     */
    @Test
    void onlyTheBindingPackagesImportJnr() throws IOException {
        Path main = Path.of("src/main/java");
        Path jnrPackage = main.resolve("org/vdmount/mount/fuse/jnr");
        Path kernelPackage = main.resolve("org/vdmount/mount/fuse/kernel");
        try (Stream<Path> files = Files.walk(main)) {
            List<Path> offenders = files.filter(p -> p.toString().endsWith(".java") && !p.startsWith(jnrPackage)
                            && !p.startsWith(kernelPackage))
                    .filter(p -> {
                        try {
                            return Files.readString(p).lines().anyMatch(l -> l.startsWith("import ru.serce.jnrfuse")
                                    || l.startsWith("import jnr.") || l.startsWith("import com.kenai.jffi"));
                        } catch (IOException e) {
                            throw new AssertionError(e);
                        }
                    }).toList();
            assertTrue(Files.isDirectory(jnrPackage), "run from the mount module: " + jnrPackage.toAbsolutePath());
            assertEquals(List.of(), offenders);
        }
    }
}
