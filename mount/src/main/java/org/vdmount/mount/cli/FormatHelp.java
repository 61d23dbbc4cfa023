package org.vdmount.mount.cli;

import java.io.PrintStream;
import java.util.List;
import java.util.stream.Collectors;
import org.vdmount.vd.Capability;
import org.vdmount.vd.CreateOption;
import org.vdmount.vd.ImageFormat;

/**
 * What a format declares, as users read it: {@code vd create -f F -o help} (qemu-img's
 * {@code -o help}) and {@code vd formats}. Everything comes from the format's own tables.
 */
final class FormatHelp {
    private FormatHelp() {
    }

    /**
     * If the {@code -o} values ask for help ({@code -o help} or {@code -o ?}, as in qemu-img),
     * prints the format's options to {@code out} and answers true: the command is done.
     */
    static boolean printIfWanted(List<String> optionValues, ImageFormat format, PrintStream out) {
        boolean wanted = optionValues.stream().flatMap(v -> List.of(v.split(",", -1)).stream())
                .map(String::strip).anyMatch(v -> v.equals("help") || v.equals("?"));
        if (wanted) {
            out.print(createOptions(format));
            out.flush();
        }
        return wanted;
    }

    /** The create options of {@code format} with kinds, help and defaults, then its capabilities. */
    static String createOptions(ImageFormat format) {
        StringBuilder sb = new StringBuilder();
        List<CreateOption> options = format.createOptions();
        if (!format.can(Capability.CREATE)) {
            sb.append(format.name()).append(": creating images is not supported\n");
        } else if (options.isEmpty()) {
            sb.append("Format ").append(format.name()).append(" takes no -o options.\n");
        } else {
            sb.append("Supported options for ").append(format.name()).append(" (-o KEY=VALUE,...):\n");
            TextTable t = new TextTable(false, false);
            for (CreateOption o : options) {
                t.row(o.name() + "=" + o.placeholder(), o.help()
                        + (o.defaultValue() != null ? " (default: " + o.defaultValue() + ")" : ""));
            }
            sb.append(t.render("  "));
        }
        sb.append("Capabilities: ").append(capabilities(format)).append('\n');
        return sb.toString();
    }

    static String capabilities(ImageFormat format) {
        return format.capabilities().stream().sorted().map(Capability::label).collect(Collectors.joining(", "));
    }
}
