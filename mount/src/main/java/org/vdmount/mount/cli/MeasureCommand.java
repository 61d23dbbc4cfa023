package org.vdmount.mount.cli;

import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.Map;
import org.vdmount.vd.Disk;
import org.vdmount.vd.Sizes;
import org.vdmount.vd.inspect.Measure;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;
import picocli.CommandLine.ParameterException;
import picocli.CommandLine.Parameters;

/**
 * {@code vd measure [-O FMT] [-o K=V,...] (--size SIZE | SRC)}: the space a conversion into FMT
 * needs, with qemu-img measure's keys. Output formats: raw and qcow2.
 */
@Command(name = "measure",
        description = {"Print the space converting SRC (its whole chain, read-only) or an empty disk of --size "
                + "into FORMAT needs: 'required size' for the data it holds, 'fully allocated size' for every byte "
                + "(qemu-img measure's keys; --json: required, fully-allocated).",
                "Output formats: raw, qcow2 (-o cluster_size=, refcount_bits=, extended_l2=on|off, preallocation=off|"
                + "metadata|falloc|full; compression_type=, compat=, lazy_refcounts= are checked and change nothing)."})
final class MeasureCommand extends VdCommand {

    @Option(names = "-O", paramLabel = "FORMAT", defaultValue = "raw", description = "Output format (default: ${DEFAULT-VALUE}).")
    String outputFormat;

    @Mixin
    FormatOptions.Given formatOptions;

    @Option(names = "--size", paramLabel = "SIZE", description = "Measure an empty disk of SIZE instead of SRC.")
    String size;

    @Option(names = "--json", description = "Print {\"required\": N, \"fully-allocated\": N}.")
    boolean json;

    @Mixin
    OutputOption output;

    @Mixin
    ImageFormatOption imageFormat;

    @Parameters(paramLabel = "SRC", arity = "0..1", description = "Source image (top of its chain).")
    Path src;

    @Override
    public Integer call() throws Exception {
        if ((src == null) == (size == null)) {
            throw new ParameterException(spec.commandLine(), "give either SRC or --size SIZE");
        }
        Map<String, String> o = new LinkedHashMap<>(FormatOptions.parse(formatOptions.values, spec.commandLine()));
        Measure.Sizes m;
        String out = outputFormat.toLowerCase(java.util.Locale.ROOT);
        try (Disk disk = src == null ? null : imageFormat.open(src, vd.openOptions(common))) {
            long virtual = disk == null ? Sizes.parse(size) : disk.size();
            switch (out) {
                case "raw" -> {
                    refuseUnknown(o);
                    m = Measure.raw(virtual);
                }
                case "qcow2" -> {
                    long cluster = o.containsKey("cluster_size") ? Sizes.parse(o.remove("cluster_size")) : 65536;
                    if (Long.bitCount(cluster) != 1 || cluster < 512 || cluster > (2 << 20)) {
                        throw new ParameterException(spec.commandLine(), "cluster_size must be a power of two "
                                + "from 512 to 2M, not " + cluster);
                    }
                    long bits = o.containsKey("refcount_bits") ? Long.parseLong(o.remove("refcount_bits")) : 16;
                    if (Long.bitCount(bits) != 1 || bits > 64) {
                        throw new ParameterException(spec.commandLine(), "refcount_bits must be a power of two "
                                + "up to 64, not " + bits);
                    }
                    String ext = o.containsKey("extended_l2") ? o.remove("extended_l2") : "off";
                    if (!ext.equals("on") && !ext.equals("off")) {
                        throw new ParameterException(spec.commandLine(), "extended_l2 is on or off, not '" + ext + "'");
                    }
                    // options that change no size, checked as vd create checks them (qemu-img measure takes them too)
                    oneOf(o, "compression_type", "zlib", "zstd");
                    oneOf(o, "compat", "0.10", "1.1", "v2", "v3");
                    oneOf(o, "lazy_refcounts", "on", "off");
                    // falloc and full allocate every cluster at create time: required = fully allocated
                    String prealloc = oneOf(o, "preallocation", "off", "metadata", "falloc", "full");
                    refuseUnknown(o);
                    m = Measure.qcow2(disk, virtual, cluster, Long.numberOfTrailingZeros(bits), ext.equals("on"));
                    if ("falloc".equals(prealloc) || "full".equals(prealloc)) {
                        m = new Measure.Sizes(m.fullyAllocated(), m.fullyAllocated());
                    }
                }
                default -> throw new ParameterException(spec.commandLine(), "measure supports -O raw and -O qcow2, "
                        + "not '" + outputFormat + "'");
            }
        }
        if (output.json(json)) {
            Map<String, Object> j = new LinkedHashMap<>();
            j.put("required", m.required());
            j.put("fully-allocated", m.fullyAllocated());
            vd.out.println(Json.write(j));
        } else {
            vd.out.println("required size: " + m.required());
            vd.out.println("fully allocated size: " + m.fullyAllocated());
        }
        vd.out.flush();
        return 0;
    }

    /** Removes option {@code key} from {@code o}: its value, which must be one of {@code allowed}, or null. */
    private String oneOf(Map<String, String> o, String key, String... allowed) {
        String v = o.remove(key);
        if (v != null && !java.util.List.of(allowed).contains(v)) {
            throw new ParameterException(spec.commandLine(), key + " is one of " + String.join(", ", allowed)
                    + ", not '" + v + "'");
        }
        return v;
    }

    private void refuseUnknown(Map<String, String> o) {
        if (!o.isEmpty()) {
            throw new ParameterException(spec.commandLine(), "-O " + outputFormat + " has no option '"
                    + o.keySet().iterator().next() + "' for measure");
        }
    }
}
