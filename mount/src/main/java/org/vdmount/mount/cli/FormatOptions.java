package org.vdmount.mount.cli;

import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import picocli.CommandLine;
import picocli.CommandLine.Option;
import picocli.CommandLine.ParameterException;

/**
 * The {@code -o K=V,K=V} format options of {@code vd create} and {@code vd convert}; -o may be
 * repeated. Keys are handed to the format unchanged (formats reject keys they do not know), so
 * a malformed item or a key given twice is a usage error rather than a silent choice.
 */
final class FormatOptions {
    private FormatOptions() {
    }

    /** The {@code -o} option as vd create and vd convert declare it. */
    static final class Given {
        @Option(names = "-o", paramLabel = "K=V,...",
                description = "Options for the new image's format (repeatable); -o help lists them with their "
                        + "defaults.")
        List<String> values = new ArrayList<>();
    }

    /** The options as given, in order, in a map the caller may change. */
    static Map<String, String> parse(List<String> values, CommandLine cmd) {
        Map<String, String> out = new LinkedHashMap<>();
        for (String value : values) {
            for (String item : value.split(",", -1)) {
                int eq = item.indexOf('=');
                String key = eq < 0 ? item.strip() : item.substring(0, eq).strip();
                if (eq <= 0 || key.isEmpty()) {
                    throw new ParameterException(cmd, "invalid format option '" + item + "' (expected KEY=VALUE)");
                }
                if (out.putIfAbsent(key, item.substring(eq + 1).strip()) != null) {
                    throw new ParameterException(cmd, "format option '" + key + "' given twice");
                }
            }
        }
        return out;
    }

    /** A backing file and its format, from -b/-B and -F or from qemu-img's backing_file= and backing_fmt=. */
    record Backing(java.nio.file.Path file, String format) {
    }

    /**
     * {@link #take}s {@code backing_file} and {@code backing_fmt} out of {@code options}, checked
     * against {@code file} (given as {@code flag}) and {@code format} (given as -F).
     */
    static Backing takeBacking(Map<String, String> options, java.nio.file.Path file, String format, String flag,
                               CommandLine cmd) {
        String f = take(options, "backing_file", file == null ? null : file.toString(), flag, cmd);
        return new Backing(f == null ? null : java.nio.file.Path.of(f),
                take(options, "backing_fmt", format, "-F", cmd));
    }

    /**
     * Removes {@code key} from {@code options} and returns the value it or the command-line
     * option {@code flag} gives ({@code given}, null when absent): qemu-img takes
     * {@code -o backing_file=}, {@code backing_fmt=} and {@code size=} for -b/-B, -F and SIZE.
     * Both given with different values is a usage error.
     */
    static String take(Map<String, String> options, String key, String given, String flag, CommandLine cmd) {
        String v = options.remove(key);
        if (v == null) {
            return given;
        }
        if (given != null && !given.equals(v)) {
            throw new ParameterException(cmd, "-o " + key + "=" + v + " and " + flag + " " + given + " disagree");
        }
        return v;
    }
}
