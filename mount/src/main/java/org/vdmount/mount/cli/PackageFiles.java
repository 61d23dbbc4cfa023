package org.vdmount.mount.cli;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import picocli.AutoComplete;
import picocli.CommandLine;

/**
 * Writes the files a package installs beside the jar, generated from the command models that
 * also print {@code --help} (run by {@code packaging/build-deb}):
 * {@code OUT/man1/vdmount.1}, {@code OUT/man1/vd.1} (roff, {@link ManPage}) and
 * {@code OUT/completions/vdmount}, {@code OUT/completions/vd} (bash, picocli's
 * {@link AutoComplete}).
 *
 * <p>Usage: {@code java -cp vdmount.jar org.vdmount.mount.cli.PackageFiles OUT DATE}, DATE being
 * the date the man pages' header shows (YYYY-MM-DD).
 */
public final class PackageFiles {
    private PackageFiles() {
    }

    /** vdmount's command line as {@code vdmount --help} shows it. */
    static CommandLine vdmount() {
        return HelpText.vdmount(new CommandLine(new VdmountMain()));
    }

    /** vd's command line as {@code vd --help} shows it. */
    static CommandLine vd() {
        return VdMain.commandLine(new VdMain(System.out, System.err, false));
    }

    public static void main(String[] args) throws IOException {
        if (args.length != 2 || !args[1].matches("\\d{4}-\\d{2}-\\d{2}")) {
            System.err.println("usage: PackageFiles OUT_DIR YYYY-MM-DD");
            System.exit(2);
        }
        write(Path.of(args[0]), args[1]);
    }

    /** Writes the four files under {@code out}. */
    static void write(Path out, String date) throws IOException {
        Path man = Files.createDirectories(out.resolve("man1"));
        Path completions = Files.createDirectories(out.resolve("completions"));
        Files.writeString(man.resolve("vdmount.1"), ManPage.render(vdmount(), date, List.of("vd(1)", "mount(8)",
                "fusermount(1)", "qemu-img(1)")), StandardCharsets.UTF_8);
        Files.writeString(man.resolve("vd.1"), ManPage.render(vd(), date, List.of("vdmount(1)", "qemu-img(1)")),
                StandardCharsets.UTF_8);
        Files.writeString(completions.resolve("vdmount"), completion("vdmount", vdmount()), StandardCharsets.UTF_8);
        Files.writeString(completions.resolve("vd"), completion("vd", vd()), StandardCharsets.UTF_8);
    }

    /**
     * picocli's bash completion script for {@code cl}, without its {@code #!} line: bash-completion
     * sources the file, it is never run.
     */
    static String completion(String name, CommandLine cl) {
        String script = AutoComplete.bash(name, cl);
        return script.startsWith("#!") ? script.substring(script.indexOf('\n') + 1) : script;
    }
}
