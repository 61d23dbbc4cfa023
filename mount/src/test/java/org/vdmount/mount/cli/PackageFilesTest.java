package org.vdmount.mount.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import picocli.CommandLine;
import picocli.CommandLine.Model.ArgSpec;
import picocli.CommandLine.Model.CommandSpec;

/**
 * The man pages and bash completions packaging/build-deb installs: generated from the --help
 * models, so every option, parameter, description and footer line of --help is on the page
 * (checked on groff's own rendering, which must come without warnings), and bash completes the
 * verbs and options.
 */
class PackageFilesTest {
    @TempDir
    Path dir;

    @Test
    void manPagesCarryEverythingHelpShowsAndGroffRendersThemCleanly() throws Exception {
        Tools.require("groff");
        PackageFiles.write(dir, "2026-01-02");
        for (CommandLine cl : List.of(PackageFiles.vdmount(), PackageFiles.vd())) {
            String name = cl.getCommandName();
            Path page = dir.resolve("man1").resolve(name + ".1");
            String roff = Files.readString(page);
            assertTrue(roff.startsWith(".TH \"" + name.toUpperCase() + "\" 1 \"2026\\-01\\-02\" \"" + name + " "
                    + Versions.version().replace("-", "\\-") + "\""), roff.lines().findFirst().orElse(""));
            assertTrue(roff.contains("\n.SH NAME\n" + name + " \\- "), "NAME section of " + name);

            Tools.Output rendered = Tools.exec(List.of("groff", "-man", "-ww", "-Tascii", "-P", "-cbou",
                    "-rLL=100n", page.toString()));
            assertEquals(0, rendered.exit(), rendered.err());
            assertEquals("", rendered.err(), "groff warnings for " + page);
            String text = flat(rendered.out());

            List<String> expected = new ArrayList<>();
            List<CommandSpec> specs = new ArrayList<>(List.of(cl.getCommandSpec()));
            cl.getSubcommands().values().forEach(s -> specs.add(s.getCommandSpec()));
            for (CommandSpec spec : specs) {
                if (spec != cl.getCommandSpec()) {
                    expected.add(spec.qualifiedName());
                }
                for (String d : spec.usageMessage().description()) {
                    expected.add(String.format(d));
                }
                List<ArgSpec> args = new ArrayList<>(spec.positionalParameters());
                args.addAll(spec.options());
                for (ArgSpec a : args) {
                    if (a.hidden()) {
                        continue;
                    }
                    if (a instanceof CommandLine.Model.OptionSpec o) {
                        expected.addAll(List.of(o.names()));
                    } else {
                        expected.add(a.paramLabel());
                    }
                    expected.add(String.join(" ", a.renderedDescription()));
                }
            }
            for (String f : cl.getCommandSpec().usageMessage().footer()) {
                String line = String.format(f);
                expected.add(line.endsWith(":") ? line.substring(0, line.length() - 1).toUpperCase() : line);
            }
            for (String e : expected) {
                assertTrue(text.contains(flat(e)), name + "(1) lacks: " + e);
            }
            assertTrue(roff.lines().noneMatch(l -> l.contains("Daemon") || l.contains(Daemon.CHILD_FLAG.replace("-", "\\-"))),
                    "hidden option on the page");
        }
        assertTrue(flat(Files.readString(dir.resolve("man1/vd.1"))).contains(".SS \"vd convert\""));
    }

    @Test
    void bashCompletesVerbsAndOptions() throws Exception {
        Tools.require("bash");
        PackageFiles.write(dir, "2026-01-02");
        Path vd = dir.resolve("completions/vd");
        Path vdmount = dir.resolve("completions/vdmount");
        assertTrue(!Files.readString(vd).startsWith("#!"), "a sourced completion file has no #! line");
        assertEquals("complete -o default -F _complete_vd vd", complete(vd, ""));
        assertEquals("complete -o default -F _complete_vdmount vdmount", complete(vdmount, ""));
        assertEquals("convert", complete(vd, "vd con"));
        java.util.Set<String> com = PackageFiles.vd()
                .getSubcommands().keySet().stream().filter(n -> n.startsWith("com"))
                .collect(java.util.stream.Collectors.toSet());
        assertTrue(com.size() >= 3, "compare, commit, compact, ...: " + com);
        assertEquals(com, java.util.Set.of(complete(vd, "vd com").split(" ")), "every verb starting with com");
        assertEquals("--overwrite", complete(vd, "vd convert --ov"));
        assertEquals("--json", complete(vd, "vd info --js"));
        assertEquals("--parent-dir", complete(vdmount, "vdmount --par"));
        assertEquals("--foreground --force-share --format", complete(vdmount, "vdmount --fo"));
    }

    /**
     * Sources the completion file in bash and runs its function on the words of {@code line} (the
     * last one being completed): the candidates, sorted as bash offers them; with an empty line,
     * the output of {@code complete -p}.
     */
    private static String complete(Path file, String line) throws Exception {
        String[] words = line.split(" ");
        String script = "source '" + file + "' 2>/dev/null || exit 3\n"
                + (line.isEmpty() ? "complete -p " + file.getFileName() + "\n"
                : "COMP_WORDS=(" + line + "); COMP_CWORD=" + (words.length - 1) + "; COMP_LINE='" + line
                        + "'; COMP_POINT=" + line.length() + "\n"
                        + "_complete_" + words[0] + " " + words[0] + " " + words[words.length - 1] + " "
                        + words[Math.max(0, words.length - 2)] + " 2>/dev/null\n"
                        + "echo \"${COMPREPLY[*]}\"\n");
        Tools.Output o = Tools.exec(List.of("bash", "--norc", "-c", script), null, Map.of());
        assertEquals(0, o.exit(), o.err());
        return o.out().strip();
    }

    /** Whitespace collapsed, as roff refills text. */
    private static String flat(String s) {
        return s.replaceAll("\\s+", " ").strip();
    }
}
