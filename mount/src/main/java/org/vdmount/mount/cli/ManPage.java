package org.vdmount.mount.cli;

import java.util.ArrayList;
import java.util.Comparator;
import java.util.IllegalFormatException;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Locale;
import java.util.Set;
import picocli.CommandLine;
import picocli.CommandLine.Help.Ansi;
import picocli.CommandLine.Model.ArgSpec;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Model.OptionSpec;
import picocli.CommandLine.Model.PositionalParamSpec;
import picocli.CommandLine.Model.UsageMessageSpec;

/**
 * A man page in roff (man(7) macros) rendered from the same picocli model as {@code --help}, so
 * the two never drift: NAME from the first sentence of the description, SYNOPSIS as picocli
 * writes it, DESCRIPTION, OPTIONS (parameters first, in the order --help lists them), COMMANDS
 * with each subcommand's synopsis, description and options, then the footer (a line
 * {@code Heading:} becomes a section, indented lines stay as written) and SEE ALSO.
 */
final class ManPage {
    private final StringBuilder out = new StringBuilder();

    private ManPage() {
    }

    /**
     * The page of {@code cl}'s command in section 1.
     *
     * @param date    the date in the page's header (the package's build date)
     * @param seeAlso other pages, as {@code name(section)}
     */
    static String render(CommandLine cl, String date, List<String> seeAlso) {
        cl.setColorScheme(CommandLine.Help.defaultColorScheme(Ansi.OFF));
        ManPage page = new ManPage();
        page.write(cl, date, seeAlso);
        return page.out.toString();
    }

    private void write(CommandLine cl, String date, List<String> seeAlso) {
        CommandSpec spec = cl.getCommandSpec();
        String name = spec.name();
        line(".TH " + quoted(name.toUpperCase(Locale.ROOT)) + " 1 " + quoted(date) + " "
                + quoted(name + " " + Versions.version()) + " " + quoted("User Commands"));
        line(".nh"); // no hyphenation: option names must read as typed
        line(".ad l");
        line(".SH NAME");
        line(text(name) + " \\- " + text(summary(spec)));
        line(".SH SYNOPSIS");
        synopsis(cl);
        line(".SH DESCRIPTION");
        paragraphs(spec.usageMessage().description());
        line(".SH OPTIONS");
        arguments(spec);
        List<CommandLine> subs = subcommands(cl);
        if (!subs.isEmpty()) {
            line(".SH COMMANDS");
            for (CommandLine sub : subs) {
                CommandSpec s = sub.getCommandSpec();
                line(".SS " + quoted(s.qualifiedName()));
                synopsis(sub);
                paragraphs(s.usageMessage().description());
                line(".RS 4");
                arguments(s);
                line(".RE");
            }
        }
        footer(spec.usageMessage().footer());
        if (!seeAlso.isEmpty()) {
            line(".SH \"SEE ALSO\"");
            for (int i = 0; i < seeAlso.size(); i++) {
                String ref = seeAlso.get(i);
                int paren = ref.indexOf('(');
                line(".BR " + text(ref.substring(0, paren)) + " " + ref.substring(paren)
                        + (i < seeAlso.size() - 1 ? "," : ""));
            }
        }
    }

    /** The first sentence of the description, lower-cased, for the NAME line. */
    static String summary(CommandSpec spec) {
        String[] description = spec.usageMessage().description();
        String first = description.length == 0 ? spec.name() : format(description[0]);
        int end = first.length();
        for (String stop : List.of(": ", ". ", "\n")) {
            int i = first.indexOf(stop);
            if (i > 0 && i < end) {
                end = i;
            }
        }
        String s = first.substring(0, end).strip();
        if (s.endsWith(".")) {
            s = s.substring(0, s.length() - 1);
        }
        return s.isEmpty() ? s : Character.toLowerCase(s.charAt(0)) + s.substring(1);
    }

    /** The synopsis exactly as --help renders it, refilled by roff, the command name in bold. */
    private void synopsis(CommandLine cl) {
        UsageMessageSpec usage = cl.getCommandSpec().usageMessage();
        String rendered = usage.sectionMap().get(UsageMessageSpec.SECTION_KEY_SYNOPSIS).render(cl.getHelp());
        String flat = rendered.strip().replaceAll("\\s+", " ");
        String qualified = cl.getCommandSpec().qualifiedName();
        String rest = flat.startsWith(qualified) ? flat.substring(qualified.length()) : " " + flat;
        line(".PP");
        line("\\fB" + text(qualified) + "\\fR" + text(rest));
    }

    /** Positional parameters, then options, each as a tagged paragraph. */
    private void arguments(CommandSpec spec) {
        for (PositionalParamSpec p : spec.positionalParameters()) {
            if (!p.hidden()) {
                line(".TP");
                line("\\fI" + text(p.paramLabel()) + "\\fR");
                description(p);
            }
        }
        List<OptionSpec> options = new ArrayList<>();
        for (OptionSpec o : spec.options()) {
            if (!o.hidden()) {
                options.add(o);
            }
        }
        if (spec.usageMessage().sortOptions()) {
            // the order of picocli's option list: shortest name without dashes, case-insensitive
            options.sort(Comparator.comparing((OptionSpec o) -> o.shortestName().replaceFirst("^-+", "")
                    .toLowerCase(Locale.ROOT)));
        }
        for (OptionSpec o : options) {
            line(".TP");
            StringBuilder tag = new StringBuilder();
            for (String n : o.names()) {
                tag.append(tag.length() == 0 ? "" : ", ").append("\\fB").append(text(n)).append("\\fR");
            }
            if (o.arity().max() > 0) {
                tag.append(" \\fI").append(text(o.paramLabel())).append("\\fR");
            }
            line(tag.toString());
            description(o);
        }
    }

    private void description(ArgSpec a) {
        List<String> lines = new ArrayList<>();
        for (String d : a.renderedDescription()) {
            lines.addAll(lines(d).stream().filter(l -> !l.isBlank()).toList());
        }
        if (lines.isEmpty()) {
            line("\\&");
        }
        for (int i = 0; i < lines.size(); i++) {
            if (i > 0) {
                line(".br");
            }
            line(text(lines.get(i)));
        }
    }

    /** Each entry its own paragraph (picocli prints each on its own line). */
    private void paragraphs(String[] entries) {
        for (String e : entries) {
            line(".PP");
            for (String l : lines(e)) {
                line(l.isBlank() ? ".PP" : text(l));
            }
        }
    }

    /**
     * The footer: a line {@code Heading:} opens a section, indented lines are kept as written
     * (examples), other lines are filled text, a blank line ends a paragraph.
     */
    private void footer(String[] footer) {
        boolean preformatted = false;
        boolean paragraph = false;
        List<String> lines = new ArrayList<>();
        for (String f : footer) {
            lines.addAll(lines(f));
        }
        for (String l : lines) {
            boolean indented = l.startsWith(" ");
            if (preformatted && !indented) {
                line(".fi");
                preformatted = false;
            }
            if (l.isBlank()) {
                paragraph = false;
            } else if (!indented && l.endsWith(":") && !l.contains(". ") && l.length() < 40) {
                line(".SH " + quoted(l.substring(0, l.length() - 1).toUpperCase(Locale.ROOT)));
                paragraph = true;
            } else if (indented) {
                if (!preformatted) {
                    line(".PP");
                    line(".nf");
                    preformatted = true;
                }
                line(text(l));
            } else {
                if (!paragraph) {
                    line(".PP");
                    paragraph = true;
                }
                line(text(l));
            }
        }
        if (preformatted) {
            line(".fi");
        }
    }

    /** The subcommands declared under {@code cl} (not aliases, not inherited ones), in order. */
    private static List<CommandLine> subcommands(CommandLine cl) {
        Set<CommandSpec> seen = new LinkedHashSet<>();
        List<CommandLine> subs = new ArrayList<>();
        for (CommandLine sub : cl.getSubcommands().values()) {
            if (sub.getParent() == cl && !sub.getCommandSpec().usageMessage().hidden()
                    && seen.add(sub.getCommandSpec())) {
                subs.add(sub);
            }
        }
        return subs;
    }

    /** The lines of one entry of picocli text; an empty entry is one empty line (a paragraph break). */
    private static List<String> lines(String entry) {
        return List.of(format(entry).split("\\R", -1));
    }

    /** picocli's text is a format string ({@code %n}, {@code %%}); render it as --help does. */
    private static String format(String s) {
        try {
            return String.format(s);
        } catch (IllegalFormatException e) {
            return s;
        }
    }

    /**
     * Text escaped for roff: backslashes, minus signs (so that options copy and paste as typed),
     * and a leading dot or quote that would read as a request.
     */
    static String text(String s) {
        String t = s.replace("\\", "\\e").replace("-", "\\-");
        return t.startsWith(".") || t.startsWith("'") ? "\\&" + t : t;
    }

    private static String quoted(String s) {
        return "\"" + text(s).replace("\"", "\\(dq") + "\"";
    }

    private void line(String s) {
        out.append(s).append('\n');
    }
}
