package org.vdmount.vd.conformance;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import org.vdmount.vd.Capability;

/** Fresh images and chains of a fixture's variant, each in a directory of its own. */
public final class Layers {
    private Layers() {
    }

    /** A fresh base of {@code variant} in a new directory {@code dir/name}. */
    public static Path base(FormatFixture fixture, Variant variant, Path dir, String name, long size)
            throws IOException {
        Path d = Files.createDirectories(dir.resolve(name));
        return fixture.createBase(d, "base", variant, size);
    }

    /**
     * A fresh chain {@code depth} deep in a new directory {@code dir/name}: a base of
     * {@code variant} and children of it ({@code DIFFERENCING} formats only when depth > 1).
     * Each layer gets {@code fill} called while it is the top, before the next is stacked.
     */
    public static List<Path> chain(FormatFixture fixture, Variant variant, Path dir, String name, long size,
                                   int depth, LayerFill fill) throws IOException {
        if (depth > 1 && !fixture.format().can(Capability.DIFFERENCING)) {
            throw new IllegalArgumentException(fixture.format().name() + " has no differencing images");
        }
        Path d = Files.createDirectories(dir.resolve(name));
        List<Path> paths = new ArrayList<>();
        paths.add(fixture.createBase(d, "layer0", variant, size));
        fill.fill(paths.get(0), 0);
        for (int i = 1; i < depth; i++) {
            paths.add(fixture.createChild(d, "layer" + i, paths.get(i - 1), variant));
            fill.fill(paths.get(i), i);
        }
        return paths;
    }

    /** Puts data into one layer while it is the top of the chain. */
    @FunctionalInterface
    public interface LayerFill {
        void fill(Path top, int index) throws IOException;
    }
}
