package org.vdmount.vd;

import java.io.IOException;
import java.nio.file.Path;
import java.util.Collections;
import java.util.EnumSet;
import java.util.List;
import java.util.Set;

/**
 * The declarative half of a format's table in one constructor call (QEMU's BlockDriver fields,
 * VirtualBox's VDIMAGEBACKEND header): name, extensions, capabilities, create options and thread
 * model. A format extends this and implements only its verbs: probe, open, createImage, ...
 */
public abstract class DeclaredFormat implements ImageFormat {
    private final String name;
    private final List<String> extensions;
    private final Set<Capability> capabilities;
    private final List<CreateOption> createOptions;
    private final ThreadModel threadModel;

    protected DeclaredFormat(String name, List<String> extensions, Set<Capability> capabilities,
                             List<CreateOption> createOptions) {
        this(name, extensions, capabilities, createOptions, ThreadModel.PARALLEL);
    }

    protected DeclaredFormat(String name, List<String> extensions, Set<Capability> capabilities,
                             List<CreateOption> createOptions, ThreadModel threadModel) {
        this.name = name;
        this.extensions = List.copyOf(extensions);
        EnumSet<Capability> caps = EnumSet.of(Capability.READ);
        caps.addAll(capabilities);
        this.capabilities = Collections.unmodifiableSet(caps);
        this.createOptions = List.copyOf(createOptions);
        this.threadModel = threadModel;
    }

    /** {@link Capability#READ} plus {@code more}: the usual start of a capability set. */
    protected static Set<Capability> reads(Capability... more) {
        EnumSet<Capability> caps = EnumSet.of(Capability.READ);
        caps.addAll(List.of(more));
        return caps;
    }

    @Override
    public final String name() {
        return name;
    }

    @Override
    public final List<String> extensions() {
        return extensions;
    }

    @Override
    public final Set<Capability> capabilities() {
        return capabilities;
    }

    @Override
    public final List<CreateOption> createOptions() {
        return createOptions;
    }

    @Override
    public final ThreadModel threadModel() {
        return threadModel;
    }

    /** Final: every format's options are checked against its table before {@link #createImage}. */
    @Override
    public final Image create(Path path, CreateOptions options) throws IOException {
        return ImageFormat.super.create(path, options);
    }

    @Override
    public String toString() {
        return name;
    }
}
