package org.vdmount.vd;

import java.nio.file.Path;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.Set;

/**
 * A request to create an image.
 *
 * @param virtualSize bytes; with a parent, 0 means "the parent's size"
 * @param options     format options (-o K=V); a format must reject keys it does not know
 * @param parent      the opened parent chain for a differencing image, else null
 * @param parentPath  the parent's path as the user gave it (to record locators), else null
 */
public record CreateOptions(long virtualSize, Map<String, String> options, Disk parent, Path parentPath) {

    public CreateOptions {
        options = Map.copyOf(new LinkedHashMap<>(options));
    }

    public static CreateOptions of(long virtualSize) {
        return new CreateOptions(virtualSize, Map.of(), null, null);
    }

    public CreateOptions with(String key, String value) {
        Map<String, String> m = new LinkedHashMap<>(options);
        m.put(key, value);
        return new CreateOptions(virtualSize, m, parent, parentPath);
    }

    public CreateOptions withParent(Disk parentDisk, Path path) {
        return new CreateOptions(virtualSize, options, parentDisk, path);
    }

    public String option(String key, String dflt) {
        return options.getOrDefault(key, dflt);
    }

    /** Throws if any option key is not in {@code known}: options are never silently ignored. */
    public void checkKnown(String format, String... known) throws UnsupportedFeatureException {
        Set<String> ok = new HashSet<>(Set.of(known));
        for (String k : options.keySet()) {
            if (!ok.contains(k)) {
                throw new UnsupportedFeatureException(format + ": unknown option '" + k + "' (known: "
                        + String.join(", ", known) + ")");
            }
        }
    }

    /** Parses a size option (bytes, or with K/M/G/T suffix). */
    public long sizeOption(String key, long dflt) throws UnsupportedFeatureException {
        String v = options.get(key);
        return v == null ? dflt : Sizes.parse(v);
    }
}
