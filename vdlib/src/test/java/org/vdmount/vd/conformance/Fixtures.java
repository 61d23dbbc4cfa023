package org.vdmount.vd.conformance;

import java.lang.reflect.InvocationTargetException;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;
import org.vdmount.vd.FormatRegistry;
import org.vdmount.vd.ImageFormat;

/**
 * Finds the fixture of each format by convention, so that a new format is its package plus its
 * fixture and nothing else: {@code org.vdmount.vd.format.x.XFormat} is described by
 * {@code org.vdmount.vd.format.x.XFixture} in the test sources.
 */
public final class Fixtures {
    private Fixtures() {
    }

    /** The class name the fixture of {@code format} must have. */
    public static String fixtureClassName(ImageFormat format) {
        String n = format.getClass().getName();
        return (n.endsWith("Format") ? n.substring(0, n.length() - "Format".length()) : n) + "Fixture";
    }

    /** The fixture of {@code format}, if its class exists (a broken one fails loudly). */
    public static Optional<FormatFixture> find(ImageFormat format) {
        Class<?> c;
        try {
            c = Class.forName(fixtureClassName(format), true, Fixtures.class.getClassLoader());
        } catch (ClassNotFoundException e) {
            return Optional.empty();
        }
        if (!FormatFixture.class.isAssignableFrom(c)) {
            throw new AssertionError(c.getName() + " does not implement " + FormatFixture.class.getName());
        }
        try {
            FormatFixture f = (FormatFixture) c.getConstructor().newInstance();
            if (!f.format().name().equals(format.name())) {
                throw new AssertionError(c.getName() + " describes format '" + f.format().name() + "', not '"
                        + format.name() + "'");
            }
            return Optional.of(f);
        } catch (NoSuchMethodException | InstantiationException | IllegalAccessException e) {
            throw new AssertionError(c.getName() + " needs a public no-argument constructor", e);
        } catch (InvocationTargetException e) {
            throw new AssertionError(c.getName() + " failed to construct: " + e.getCause(), e.getCause());
        }
    }

    /** The fixture of {@code format}; fails, saying what to add, when there is none. */
    public static FormatFixture require(ImageFormat format) {
        return find(format).orElseThrow(() -> new AssertionError(missingMessage(List.of(format))));
    }

    /** The fixtures of {@code formats}; fails naming every format without one. */
    public static List<FormatFixture> of(List<ImageFormat> formats) {
        List<FormatFixture> found = new ArrayList<>();
        List<ImageFormat> missing = new ArrayList<>();
        for (ImageFormat f : formats) {
            find(f).ifPresentOrElse(found::add, () -> missing.add(f));
        }
        if (!missing.isEmpty()) {
            throw new AssertionError(missingMessage(missing));
        }
        return found;
    }

    /**
     * The fixtures of every registered format, or of those named (comma separated) by
     * {@code -Dvdmount.conformance.formats=...}, to run the kit over one format while working on it.
     */
    public static List<FormatFixture> all() {
        String only = System.getProperty("vdmount.conformance.formats", "").strip();
        if (only.isEmpty()) {
            return of(FormatRegistry.all());
        }
        List<String> names = List.of(only.split("\\s*,\\s*"));
        return of(FormatRegistry.all().stream().filter(f -> names.contains(f.name())).toList());
    }

    private static String missingMessage(List<ImageFormat> missing) {
        StringBuilder b = new StringBuilder("registered formats without a conformance fixture:");
        for (ImageFormat f : missing) {
            b.append(' ').append(f.name()).append(" (add ").append(fixtureClassName(f)).append(" implements ")
                    .append(FormatFixture.class.getSimpleName()).append(')');
        }
        return b.toString();
    }
}
