package org.vdmount.vd;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.HashSet;
import java.util.Map;
import java.util.Set;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** What formats declare (capabilities, create options) is consistent and enforced. */
class FormatDeclarationsTest {
    @TempDir
    Path dir;

    @Test
    void everyFormatReadsAndDeclaresConsistently() {
        for (ImageFormat f : FormatRegistry.all()) {
            assertTrue(f.can(Capability.READ), f.name());
            if (!f.can(Capability.CREATE)) {
                assertTrue(f.createOptions().isEmpty(), f.name() + ": create options without CREATE");
                assertFalse(f.can(Capability.CREATE_FIXED), f.name());
            }
            Set<String> names = new HashSet<>();
            for (CreateOption o : f.createOptions()) {
                assertTrue(names.add(o.name()), f.name() + ": option " + o.name() + " twice");
                assertFalse(o.help().isBlank(), f.name() + ": " + o.name() + " has no help");
                if (o.defaultValue() != null) {
                    assertEquals(o.defaultValue(), assertDoesNotThrowCheck(f, o), f.name() + ": default of " + o.name()
                            + " is not a valid value of its own kind");
                }
                if (o.kind() == CreateOption.Kind.CHOICE) {
                    assertFalse(o.choices().isEmpty(), f.name() + ": " + o.name());
                }
            }
        }
    }

    private static String assertDoesNotThrowCheck(ImageFormat f, CreateOption o) {
        try {
            return o.check(f.name(), o.defaultValue());
        } catch (UnsupportedFeatureException e) {
            throw new AssertionError(e.getMessage(), e);
        }
    }

    @Test
    void unknownOptionIsRefusedNamingTheKnownOnes() throws Exception {
        ImageFormat qcow2 = FormatRegistry.require("qcow2");
        Path img = dir.resolve("a.qcow2");
        UnsupportedFeatureException e = assertThrows(UnsupportedFeatureException.class,
                () -> qcow2.create(img, CreateOptions.of(1 << 20).with("clustersize", "4K")));
        assertEquals("qcow2: unknown option 'clustersize' (known: cluster_size, compat, refcount_bits, extended_l2, "
                + "compression_type, preallocation, lazy_refcounts, data_file, data_file_raw, encrypt.format, encrypt.cipher-alg, encrypt.cipher-mode, encrypt.ivgen-alg, "
                + "encrypt.ivgen-hash-alg, encrypt.hash-alg, encrypt.iter-time)", e.getMessage());
        assertFalse(Files.exists(img), "nothing created");
        e = assertThrows(UnsupportedFeatureException.class,
                () -> FormatRegistry.require("qcow").create(img, CreateOptions.of(1 << 20).with("x", "1")));
        assertEquals("qcow: unknown option 'x' (known: none)", e.getMessage());
    }

    @Test
    void valuesAreCheckedByKindAndCanonicalised() throws Exception {
        ImageFormat vmdk = FormatRegistry.require("vmdk");
        CreateOptions checked = CreateOptions.of(1 << 20).with("subformat", "MONOLITHICFLAT")
                .with("zeroed_grain", "yes").validate(vmdk);
        assertEquals(Map.of("subformat", "monolithicFlat", "zeroed_grain", "on"), checked.options());
        assertEquals("ide", checked.get(vmdk.createOptions().stream()
                .filter(o -> o.name().equals("adapter_type")).findFirst().orElseThrow()), "table default");

        assertEquals("vdi: subformat must be dynamic or fixed, not 'sparse'", assertThrows(
                UnsupportedFeatureException.class, () -> CreateOptions.of(1 << 20).with("subformat", "sparse")
                        .validate(FormatRegistry.require("vdi"))).getMessage());
        assertEquals("qcow2: cluster_size must be a size (like 64K), not 'big'", assertThrows(
                UnsupportedFeatureException.class, () -> CreateOptions.of(1 << 20).with("cluster_size", "big")
                        .validate(FormatRegistry.require("qcow2"))).getMessage());
        assertEquals("qed: table_size must be a number, not '4K'", assertThrows(
                UnsupportedFeatureException.class, () -> CreateOptions.of(1 << 20).with("table_size", "4K")
                        .validate(FormatRegistry.require("qed"))).getMessage());
        assertEquals("qcow2: extended_l2 must be on or off, not 'maybe'", assertThrows(
                UnsupportedFeatureException.class, () -> CreateOptions.of(1 << 20).with("extended_l2", "maybe")
                        .validate(FormatRegistry.require("qcow2"))).getMessage());
    }

    @Test
    void aParentIsRefusedByFormatsWithoutDifferencing() throws Exception {
        Path base = dir.resolve("base.qcow2");
        ImageFormat raw = FormatRegistry.require("raw");
        assertFalse(raw.can(Capability.DIFFERENCING));
        try (Disk parent = Disk.of(java.util.List.of(FormatRegistry.require("qcow2").create(base,
                CreateOptions.of(1 << 20))))) {
            Path child = dir.resolve("child.raw");
            UnsupportedFeatureException e = assertThrows(UnsupportedFeatureException.class,
                    () -> raw.create(child, CreateOptions.of(0).withParent(parent, base)));
            assertEquals("raw: images of this format cannot have a backing file", e.getMessage());
            assertFalse(Files.exists(child));
        }
    }
}
