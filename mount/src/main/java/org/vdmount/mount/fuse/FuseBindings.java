package org.vdmount.mount.fuse;

import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.Optional;
import java.util.ServiceLoader;

/**
 * Choosing the FUSE binding of a mount: the one {@code --fuse NAME} names, or else the available
 * one with the highest priority. Providers come from {@link ServiceLoader}; the choice itself takes
 * any list, so it can be checked without touching the class path.
 */
public final class FuseBindings {
    /** Highest priority first; equal priorities by name, so the choice never depends on jar order. */
    private static final Comparator<FuseBindingProvider> ORDER =
            Comparator.comparingInt(FuseBindingProvider::priority).reversed()
                    .thenComparing(FuseBindingProvider::name);

    private FuseBindings() {
    }

    /** Every provider registered on the class path, in the order they are tried. */
    public static List<FuseBindingProvider> installed() {
        List<FuseBindingProvider> out = new ArrayList<>();
        ServiceLoader.load(FuseBindingProvider.class, FuseBindings.class.getClassLoader()).forEach(out::add);
        out.sort(ORDER);
        return List.copyOf(out);
    }

    /** {@link #select(List, String)} over the {@link #installed} providers. */
    public static FuseBindingProvider select(String name) throws FuseBindingException {
        return select(installed(), name);
    }

    /**
     * The provider named {@code name} if it is available here, or (name null) the available one
     * with the highest priority. Fails with a one-line message that says what is missing.
     */
    public static FuseBindingProvider select(List<FuseBindingProvider> providers, String name)
            throws FuseBindingException {
        if (name != null) {
            FuseBindingProvider p = named(providers, name);
            Optional<String> missing = p.unavailableReason();
            if (missing.isPresent()) {
                throw new FuseBindingException(FuseBindingException.Reason.UNAVAILABLE,
                        "FUSE binding '" + name + "' is not available: " + missing.get());
            }
            return p;
        }
        List<String> reasons = new ArrayList<>();
        for (FuseBindingProvider p : sorted(providers)) {
            Optional<String> missing = p.unavailableReason();
            if (missing.isEmpty()) {
                return p;
            }
            reasons.add(p.name() + ": " + missing.get());
        }
        throw new FuseBindingException(FuseBindingException.Reason.NONE_AVAILABLE, providers.isEmpty()
                ? "no FUSE binding installed (no " + FuseBindingProvider.class.getName() + " service on the class path)"
                : "no FUSE binding is available: " + String.join("; ", reasons));
    }

    /** The provider called {@code name} (available or not); an unknown name lists the known ones. */
    public static FuseBindingProvider named(List<FuseBindingProvider> providers, String name)
            throws FuseBindingException {
        List<FuseBindingProvider> all = sorted(providers);
        for (FuseBindingProvider p : all) {
            if (p.name().equals(name)) {
                return p;
            }
        }
        List<String> known = all.stream().map(FuseBindingProvider::name).toList();
        throw new FuseBindingException(FuseBindingException.Reason.UNKNOWN_NAME, "unknown FUSE binding '" + name
                + "' (known: " + (known.isEmpty() ? "none" : String.join(", ", known)) + ")");
    }

    private static List<FuseBindingProvider> sorted(List<FuseBindingProvider> providers) {
        List<FuseBindingProvider> out = new ArrayList<>(providers);
        out.sort(ORDER);
        return out;
    }
}
