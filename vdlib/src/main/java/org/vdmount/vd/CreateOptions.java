package org.vdmount.vd;

import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.vdmount.vd.crypto.SecretSource;

/**
 * A request to create an image.
 *
 * @param virtualSize bytes; with a parent, 0 means "the parent's size"
 * @param options     format options (-o K=V); checked against the format's table by {@link #validate}
 * @param parent      the opened parent chain for a differencing image, else null
 * @param parentPath  the parent's path as the user gave it (to record locators), else null
 * @param secrets     the password of an encrypted image to create ({@link SecretSource#NONE}: none given)
 */
public record CreateOptions(long virtualSize, Map<String, String> options, Disk parent, Path parentPath,
                            SecretSource secrets) {

    public CreateOptions {
        options = Map.copyOf(new LinkedHashMap<>(options));
        secrets = secrets == null ? SecretSource.NONE : secrets;
    }

    public CreateOptions(long virtualSize, Map<String, String> options, Disk parent, Path parentPath) {
        this(virtualSize, options, parent, parentPath, SecretSource.NONE);
    }

    /** With the password for an encrypted image. */
    public CreateOptions withSecrets(SecretSource source) {
        return new CreateOptions(virtualSize, options, parent, parentPath, source);
    }

    public static CreateOptions of(long virtualSize) {
        return new CreateOptions(virtualSize, Map.of(), null, null);
    }

    public CreateOptions with(String key, String value) {
        Map<String, String> m = new LinkedHashMap<>(options);
        m.put(key, value);
        return new CreateOptions(virtualSize, m, parent, parentPath, secrets);
    }

    public CreateOptions withParent(Disk parentDisk, Path path) {
        return new CreateOptions(virtualSize, options, parentDisk, path, secrets);
    }

    /**
     * Checks every key against the format's {@link ImageFormat#createOptions()} table and every
     * value against its kind; returns the options with values in canonical spelling. Options are
     * never silently ignored: an unknown key or a malformed value is an error naming both.
     */
    public CreateOptions validate(ImageFormat format) throws UnsupportedFeatureException {
        List<CreateOption> table = format.createOptions();
        Map<String, String> checked = new LinkedHashMap<>();
        for (Map.Entry<String, String> e : options.entrySet()) {
            CreateOption opt = table.stream().filter(o -> o.name().equals(e.getKey())).findFirst()
                    .orElseThrow(() -> new UnsupportedFeatureException(format.name() + ": unknown option '"
                            + e.getKey() + "' (known: " + (table.isEmpty() ? "none"
                            : String.join(", ", table.stream().map(CreateOption::name).toList())) + ")"));
            checked.put(e.getKey(), opt.check(format.name(), e.getValue()));
        }
        return new CreateOptions(virtualSize, checked, parent, parentPath, secrets);
    }

    /** Whether the user gave {@code option}. */
    public boolean has(CreateOption option) {
        return options.containsKey(option.name());
    }

    /** The value given, else the table's default (null if it has none). */
    public String get(CreateOption option) {
        return options.getOrDefault(option.name(), option.defaultValue());
    }

    /** The value given, else {@code dflt} (for options whose default depends on other choices). */
    public String get(CreateOption option, String dflt) {
        return options.getOrDefault(option.name(), dflt);
    }

    /** A {@link CreateOption.Kind#SIZE} option in bytes. */
    public long size(CreateOption option) throws UnsupportedFeatureException {
        return Sizes.parse(get(option));
    }

    /** A {@link CreateOption.Kind#SIZE} option in bytes, {@code dflt} when not given. */
    public long size(CreateOption option, long dflt) throws UnsupportedFeatureException {
        String v = options.get(option.name());
        return v == null ? dflt : Sizes.parse(v);
    }

    /** A {@link CreateOption.Kind#NUMBER} option. */
    public long number(CreateOption option) throws UnsupportedFeatureException {
        String v = get(option);
        try {
            return Long.parseLong(v.strip());
        } catch (NumberFormatException e) {
            throw new UnsupportedFeatureException(option.name() + " must be a number, not '" + v + "'");
        }
    }

    /** A {@link CreateOption.Kind#FLAG} option. */
    public boolean flag(CreateOption option) throws UnsupportedFeatureException {
        return option.check("", get(option)).equals("on");
    }
}
