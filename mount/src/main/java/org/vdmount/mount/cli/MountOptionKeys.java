package org.vdmount.mount.cli;

import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Set;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Model.OptionSpec;
import picocli.CommandLine.ParameterException;

/**
 * vdmount's long options as {@code -o} keys, so that {@code mount -t fuse.vdmount} and fstab
 * (which can only pass {@code SOURCE MOUNTPOINT -o OPTS}) say everything the command line can:
 * {@code --parent-dir DIR} is {@code -o parent_dir=DIR}, {@code --force-share} is
 * {@code -o force_share}. The keys are derived from the picocli model, so every option added to
 * {@link VdmountMain} gets one without further code.
 *
 * <p>A key that mount(8) itself uses is never an option key: {@code rw} is what mount(8) passes
 * by default (so {@code --rw}'s key is {@code read_write}, from its second name), {@code ro} keeps
 * its mount(8) meaning. The other {@code -o} items are FUSE's and go on to the binding.
 */
final class MountOptionKeys {
    /** Keys with a meaning of their own in mount(8), fstab or FUSE: never taken for an option. */
    static final Set<String> RESERVED = Set.of("rw", "ro", "dev", "nodev", "suid", "nosuid", "exec", "noexec",
            "sync", "async", "atime", "noatime", "defaults", "user", "users", "auto", "noauto", "nofail");

    private MountOptionKeys() {
    }

    /** The {@code -o} key of one long option name: {@code --parent-dir} → {@code parent_dir}. */
    static String keyOf(String longName) {
        return longName.substring(2).replace('-', '_').toLowerCase(Locale.ROOT);
    }

    /**
     * Every {@code -o} key of the command, in declaration order, with the option it stands for:
     * all long names of visible options except help, version, unmount (a command of its own, not a
     * mount option) and {@code -o} itself.
     */
    static Map<String, OptionSpec> keys(CommandSpec spec) {
        Map<String, OptionSpec> keys = new LinkedHashMap<>();
        for (OptionSpec o : spec.options()) {
            if (o.hidden() || o.usageHelp() || o.versionHelp() || o.longestName().equals(VdmountMain.UNMOUNT)) {
                continue;
            }
            for (String name : o.names()) {
                if (name.startsWith("--") && !RESERVED.contains(keyOf(name))) {
                    keys.putIfAbsent(keyOf(name), o);
                }
            }
        }
        return keys;
    }

    /** The first long name of an option (what a translated key is written as). */
    private static String longName(OptionSpec o) {
        for (String n : o.names()) {
            if (n.startsWith("--")) {
                return n;
            }
        }
        throw new IllegalStateException("no long name: " + o.longestName());
    }

    /**
     * The arguments with every option key among the {@code -o} items turned into its option
     * ({@code -o ro,parent_dir=/x,allow_other} → {@code --parent-dir=/x -o ro,allow_other}).
     * Items that are no key stay in {@code -o}, in their order. Throws a usage error for a key
     * given without the value it needs, or with a value it does not take.
     */
    static String[] expand(CommandSpec spec, String[] args) {
        Map<String, OptionSpec> keys = keys(spec);
        List<String> out = new ArrayList<>();
        for (int i = 0; i < args.length; i++) {
            String a = args[i];
            if (a.equals("--")) {
                for (; i < args.length; i++) {
                    out.add(args[i]);
                }
                break;
            }
            String oValue = null;
            if (a.equals("-o")) {
                if (i + 1 >= args.length) {
                    out.add(a); // picocli reports the missing value
                    continue;
                }
                oValue = args[++i];
            } else if (a.startsWith("-o") && !a.startsWith("--")) {
                oValue = a.startsWith("-o=") ? a.substring(3) : a.substring(2);
            } else {
                out.add(a);
                OptionSpec o = optionTakingNextArg(spec, a);
                if (o != null && i + 1 < args.length) {
                    out.add(args[++i]); // the option's value, whatever it looks like
                }
                continue;
            }
            List<String> rest = new ArrayList<>();
            for (String item : oValue.split(",")) {
                String s = item.strip();
                if (s.isEmpty()) {
                    continue;
                }
                int eq = s.indexOf('=');
                String key = eq < 0 ? s : s.substring(0, eq);
                OptionSpec o = keys.get(key);
                if (o == null) {
                    rest.add(s);
                } else if (o.arity().max() == 0) {
                    if (eq >= 0) {
                        throw new ParameterException(spec.commandLine(),
                                "-o " + key + " takes no value (given: " + s + ")");
                    }
                    out.add(longName(o));
                } else {
                    if (eq < 0 || eq == s.length() - 1) {
                        throw new ParameterException(spec.commandLine(),
                                "-o " + key + " needs a value: " + key + "=" + o.paramLabel());
                    }
                    out.add(longName(o) + "=" + s.substring(eq + 1));
                }
            }
            if (!rest.isEmpty()) {
                out.add("-o");
                out.add(String.join(",", rest));
            }
        }
        return out.toArray(new String[0]);
    }

    /** The option {@code arg} names when its value is the next argument; null otherwise. */
    private static OptionSpec optionTakingNextArg(CommandSpec spec, String arg) {
        if (!arg.startsWith("-") || arg.contains("=")) {
            return null;
        }
        OptionSpec o = spec.findOption(arg);
        if (o != null) {
            return o.arity().max() > 0 ? o : null;
        }
        if (arg.startsWith("--") || arg.length() < 3) {
            return null;
        }
        // clustered short options (-fv, -vo ...): only the last may take a value, from the next argument
        for (int k = 1; k < arg.length(); k++) {
            OptionSpec c = spec.findOption(arg.charAt(k));
            if (c == null) {
                return null;
            }
            if (c.arity().max() > 0) {
                return k == arg.length() - 1 ? c : null;
            }
        }
        return null;
    }
}
