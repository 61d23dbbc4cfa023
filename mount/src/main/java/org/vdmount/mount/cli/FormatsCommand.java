package org.vdmount.mount.cli;

import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.vdmount.vd.Capability;
import org.vdmount.vd.CreateOption;
import org.vdmount.vd.FormatRegistry;
import org.vdmount.vd.ImageFormat;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

/** {@code vd formats [--json]}: every registered format, its extensions and capabilities. */
@Command(name = "formats",
        description = {"List the formats this build reads and writes, in probe order, with their file "
                + "extensions and capabilities.", "Create options of one format: vd create -f FORMAT -o help."})
final class FormatsCommand extends VdCommand {

    @Option(names = "--json", description = "Print one JSON array instead of the table.")
    boolean json;

    @Override
    public Integer call() {
        if (json) {
            List<Object> all = new ArrayList<>();
            for (ImageFormat f : FormatRegistry.all()) {
                Map<String, Object> m = new LinkedHashMap<>();
                m.put("name", f.name());
                m.put("extensions", f.extensions());
                m.put("capabilities", f.capabilities().stream().sorted().map(Capability::label).toList());
                m.put("thread-model", f.threadModel().name().toLowerCase(java.util.Locale.ROOT).replace('_', '-'));
                List<Object> opts = new ArrayList<>();
                for (CreateOption o : f.createOptions()) {
                    Map<String, Object> om = new LinkedHashMap<>();
                    om.put("name", o.name());
                    om.put("type", o.kind().name().toLowerCase(java.util.Locale.ROOT));
                    om.put("default", o.defaultValue());
                    if (!o.choices().isEmpty()) {
                        om.put("choices", o.choices());
                    }
                    om.put("help", o.help());
                    opts.add(om);
                }
                m.put("create-options", opts);
                all.add(m);
            }
            vd.out.println(Json.write(all));
        } else {
            TextTable t = new TextTable(false, false, false);
            t.row("FORMAT", "EXTENSIONS", "CAPABILITIES");
            for (ImageFormat f : FormatRegistry.all()) {
                t.row(f.name(), String.join(" ", f.extensions()), FormatHelp.capabilities(f));
            }
            vd.out.print(t.render(""));
        }
        vd.out.flush();
        return 0;
    }
}
