package org.vdmount.vd.conformance;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Path;
import java.util.HashSet;
import java.util.List;
import java.util.Set;
import org.junit.jupiter.api.Test;
import org.vdmount.vd.Capability;
import org.vdmount.vd.FormatRegistry;
import org.vdmount.vd.Image;
import org.vdmount.vd.ImageFormat;
import org.vdmount.vd.OpenOptions;
import org.vdmount.vd.ProbeInput;

/** The kit covers every registered format: each has exactly one fixture, and it is well formed. */
class ConformanceFixturesTest {

    @Test
    void everyRegisteredFormatHasAFixture() {
        List<FormatFixture> fixtures = Fixtures.of(FormatRegistry.all()); // never narrowed by vdmount.conformance.formats
        assertEquals(FormatRegistry.all().size(), fixtures.size());
        for (int i = 0; i < fixtures.size(); i++) {
            FormatFixture f = fixtures.get(i);
            ImageFormat registered = FormatRegistry.all().get(i);
            assertEquals(registered.name(), f.format().name());
            assertTrue(f.getClass().getPackageName().equals(registered.getClass().getPackageName()),
                    f.getClass() + " lives beside " + registered.getClass());
        }
    }

    @Test
    void fixturesAreWellFormed() {
        for (FormatFixture f : Fixtures.all()) {
            String n = f.format().name();
            assertFalse(f.variants().isEmpty(), n + ": no variants");
            Set<String> names = new HashSet<>();
            for (Variant v : f.variants()) {
                assertTrue(names.add(v.name()), n + ": variant " + v.name() + " twice");
                assertTrue(v.name().matches("[A-Za-z0-9-]+"), n + ": variant name '" + v.name() + "' must suit file names");
                for (int layers = 1; layers <= (f.format().can(Capability.DIFFERENCING) ? 3 : 1); layers++) {
                    Oracle o = f.oracle(v, layers);
                    assertTrue(o.kind() != Oracle.Kind.NONE || o.reason() != null && !o.reason().isBlank(),
                            n + ": an oracle of none needs a reason");
                    assertTrue(o.kind() != Oracle.Kind.QEMU || o.driver() != null, n + ": QEMU oracle without driver");
                }
            }
            assertTrue(f.mutationCases() > 0, n + ": no mutation cases");
            assertTrue(f.format().extensions().contains(f.extension()), n + ": extension " + f.extension()
                    + " is not one of " + f.format().extensions());
        }
    }

    /** The check itself: a format nobody wrote a fixture for fails, naming the class to add. */
    @Test
    void aFormatWithoutAFixtureFails() {
        ImageFormat stray = new StrayFormat();
        assertTrue(Fixtures.find(stray).isEmpty());
        AssertionError e = assertThrows(AssertionError.class, () -> Fixtures.of(List.of(FormatRegistry.all().get(0),
                stray)));
        assertEquals("org.vdmount.vd.conformance.ConformanceFixturesTest$StrayFixture", Fixtures.fixtureClassName(stray));
        assertTrue(e.getMessage().endsWith("without a conformance fixture: stray (add "
                + Fixtures.fixtureClassName(stray) + " implements FormatFixture)"), e.getMessage());
    }

    /** A format registered nowhere, whose fixture class does not exist. */
    private static final class StrayFormat implements ImageFormat {
        @Override
        public String name() {
            return "stray";
        }

        @Override
        public List<String> extensions() {
            return List.of("stray");
        }

        @Override
        public Set<Capability> capabilities() {
            return Set.of(Capability.READ);
        }

        @Override
        public int probe(ProbeInput in) {
            return 0;
        }

        @Override
        public Image open(Path path, OpenOptions options) {
            throw new UnsupportedOperationException("never opened");
        }
    }
}
