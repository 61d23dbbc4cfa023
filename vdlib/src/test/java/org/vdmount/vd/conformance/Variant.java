package org.vdmount.vd.conformance;

import java.util.LinkedHashMap;
import java.util.Map;
import org.vdmount.vd.CreateOptions;

/**
 * One way of making images of a format that is worth running the kit over (a subformat, a block
 * or sector size).
 *
 * @param name         short name shown in test names ("dynamic", "4k-sectors")
 * @param options      {@code -o} options of the base image
 * @param childOptions {@code -o} options of differencing children stacked on it
 * @param fixed        made fully allocated: {@code allocatedBytes()} equals the virtual size
 */
public record Variant(String name, Map<String, String> options, Map<String, String> childOptions, boolean fixed) {

    public Variant {
        options = Map.copyOf(options);
        childOptions = Map.copyOf(childOptions);
    }

    /** A sparse variant; {@code options} as {@code k=v,k=v} (empty for the format's defaults). */
    public static Variant of(String name, String options) {
        return new Variant(name, parse(options), Map.of(), false);
    }

    /** A fully allocated variant (needs {@code Capability.CREATE_FIXED}). */
    public static Variant fixed(String name, String options) {
        return new Variant(name, parse(options), Map.of(), true);
    }

    /** The same variant whose children get {@code options} ({@code k=v,k=v}). */
    public Variant children(String options) {
        return new Variant(name, this.options, parse(options), fixed);
    }

    /** Create options for a base of {@code virtualSize} bytes. */
    public CreateOptions baseOptions(long virtualSize) {
        return apply(CreateOptions.of(virtualSize), options);
    }

    /** Create options for a child (size 0: the parent's). */
    public CreateOptions childCreateOptions() {
        return apply(CreateOptions.of(0), childOptions);
    }

    private static CreateOptions apply(CreateOptions o, Map<String, String> kv) {
        CreateOptions r = o;
        for (Map.Entry<String, String> e : new java.util.TreeMap<>(kv).entrySet()) {
            r = r.with(e.getKey(), e.getValue());
        }
        return r;
    }

    private static Map<String, String> parse(String spec) {
        Map<String, String> m = new LinkedHashMap<>();
        for (String kv : spec.split(",")) {
            if (kv.isBlank()) {
                continue;
            }
            int eq = kv.indexOf('=');
            if (eq <= 0) {
                throw new IllegalArgumentException("variant option '" + kv + "' is not key=value");
            }
            m.put(kv.substring(0, eq).strip(), kv.substring(eq + 1).strip());
        }
        return m;
    }

    @Override
    public String toString() {
        return name;
    }
}
