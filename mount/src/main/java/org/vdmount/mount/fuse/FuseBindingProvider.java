package org.vdmount.mount.fuse;

import java.util.List;
import java.util.Optional;

/**
 * One FUSE transport, as the mount core finds it: through {@link java.util.ServiceLoader}, listed
 * in {@code META-INF/services/org.vdmount.mount.fuse.FuseBindingProvider} of the jar that holds it.
 * Adding a transport is one package (or module) with a {@link FuseBinding}, its provider and that
 * service line; nothing in the core names it. {@link FuseBindings} chooses among the providers.
 *
 * <p>A provider is cheap to construct: it loads no native code until {@link #unavailableReason}
 * or {@link #create} is called.
 */
public interface FuseBindingProvider {

    /** The name {@code vdmount --fuse NAME} chooses it by: short, lower case (e.g. {@code jnr}). */
    String name();

    /** One line for {@code --version}: what the binding is built on. */
    String description();

    /** Without {@code --fuse}, the available provider with the highest priority serves the mount. */
    int priority();

    /**
     * Empty when this host has everything the binding needs; otherwise what is missing and how to
     * get it, in one line, e.g. {@code libfuse.so.2 not found (apt-get install libfuse2)}.
     */
    Optional<String> unavailableReason();

    /**
     * The binding's own {@code -o} options. They go after the core's ({@code fsname}, {@code
     * subtype}) and before the user's {@code -o}, which may override them.
     */
    List<String> defaultOptions();

    /** A binding for one mount. Called only when {@link #unavailableReason} is empty. */
    FuseBinding create();
}
