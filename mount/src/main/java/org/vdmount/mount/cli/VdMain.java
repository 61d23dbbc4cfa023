package org.vdmount.mount.cli;

import java.io.PrintStream;
import java.io.PrintWriter;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Set;
import java.util.concurrent.Callable;
import org.vdmount.vd.OpenOptions;
import org.vdmount.vd.VdException;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.ParameterException;
import picocli.CommandLine.ParseResult;
import picocli.CommandLine.Spec;
import picocli.CommandLine.UnmatchedArgumentException;

/**
 * {@code vd}: inspect, create and convert virtual disk images (design.md section 5). Exit status
 * 0 on success, 1 when the operation fails, 2 for a usage error; every failure is one line on
 * stderr starting with {@code vd: } (the stack trace follows only with {@code -v}). Warnings
 * ({@code vd: warning: ...}) are printed once the command has succeeded; a failure drops them
 * unless {@code -v} is given, so it stays one line.
 */
@Command(name = "vd", mixinStandardHelpOptions = true, versionProvider = Versions.class,
        description = "Inspect, create and convert virtual disk images.",
        footer = {"", "Common options (-v, --parent-dir, --allow-absolute-parents, --ignore-parent-uuid, -U, "
                + "--allow-truncated, --password-file, --keystore, --keystore-base64) may be given before or after "
                + "the command.",
                "Exit status: 0 success, 1 failure, 2 usage error."})
public final class VdMain implements Callable<Integer> {
    static final String PROG = "vd";
    static final int EXIT_FAILURE = 1;
    static final int EXIT_USAGE = 2;
    /**
     * The commands, in the order {@code vd --help} lists them. Registered by {@link #commandLine}:
     * building picocli's model of a command costs tens of milliseconds, so a run builds only those
     * its arguments name.
     */
    static final List<Class<?>> COMMANDS = List.of(InfoCommand.class, ConvertCommand.class, CreateCommand.class,
            FormatsCommand.class, MapCommand.class, CompareCommand.class, CheckCommand.class, MeasureCommand.class,
            CommitCommand.class, CompactCommand.class, ResizeCommand.class, RebaseCommand.class,
            AmendCommand.class, SnapshotCommand.class, ServeCommand.class, VerifyCommand.class);
    private static final int MAX_WARNINGS = 100;

    @Mixin
    CommonOptions common;

    @Spec
    CommandSpec spec;

    final PrintStream out;
    final PrintStream err;
    /** Whether a terminal is attached (progress bars only then). */
    final boolean terminal;
    /** Warnings of the running command, printed once it succeeds (a failure is one line). */
    private final List<String> warnings = new ArrayList<>();
    private int warningsDropped;

    VdMain(PrintStream out, PrintStream err, boolean terminal) {
        this.out = out;
        this.err = err;
        this.terminal = terminal;
    }

    public static void main(String[] args) {
        int status = run(args, System.out, System.err, System.console() != null);
        System.out.flush();
        System.exit(status);
    }

    /** Runs {@code vd} with the given arguments and streams; returns the exit status. */
    static int run(String[] args, PrintStream out, PrintStream err, boolean terminal) {
        if (args.length == 1 && (args[0].equals("--version") || args[0].equals("-V"))) {
            // what picocli prints through Versions, without building the model of every command first
            out.println(PROG + " " + Versions.version());
            return 0;
        }
        VdMain vd = new VdMain(out, err, terminal);
        CommandLine cmd = commandLine(vd, args)
                .setOut(new PrintWriter(out, true))
                .setErr(new PrintWriter(err, true))
                .setParameterExceptionHandler((e, a) -> usageError(err, usageMessage(e), e.getCommandLine()))
                .setExecutionExceptionHandler(vd::failure);
        // vd resize IMAGE -512M: a negative size is a parameter, not an unknown option (qemu-img's syntax)
        CommandLine resize = cmd.getSubcommands().get("resize");
        if (resize != null) {
            resize.setUnmatchedOptionsArePositionalParams(true);
        }
        int status;
        try {
            status = cmd.execute(args);
        } finally {
            vd.passwordSources.forEach(PasswordSource::close); // zero the passwords read
        }
        if (status == 0) {
            vd.printWarnings();
        }
        return status;
    }

    /** vd's command line with every command (help, man page, completion). */
    static CommandLine commandLine(VdMain vd) {
        return commandLine(vd, new String[0]);
    }

    /**
     * vd's command line with the commands {@code args} name (any word equal to a command's name;
     * a word that is really an option's value only costs that command's model), or with all of
     * them when none is named or help is asked for before the first one (the help lists them).
     */
    static CommandLine commandLine(VdMain vd, String[] args) {
        Set<String> named = new HashSet<>();
        Set<String> all = new HashSet<>(commandNames());
        for (String a : args) {
            if (a.equals("--")) {
                break;
            }
            if (named.isEmpty() && (a.equals("-h") || a.equals("--help"))) {
                break; // vd --help [COMMAND]: the top-level help, which lists every command
            }
            if (all.contains(a)) {
                named.add(a);
            }
        }
        CommandLine cl = new CommandLine(vd);
        for (Class<?> c : COMMANDS) {
            if (named.isEmpty() || named.contains(commandName(c))) {
                cl.addSubcommand(c.getAnnotation(Command.class).name(), newCommand(c));
            }
        }
        return HelpText.vd(cl);
    }

    /** Every command's name, in {@link #COMMANDS} order. */
    static List<String> commandNames() {
        return COMMANDS.stream().map(VdMain::commandName).toList();
    }

    private static String commandName(Class<?> c) {
        return c.getAnnotation(Command.class).name();
    }

    private static Object newCommand(Class<?> c) {
        try {
            var ctor = c.getDeclaredConstructor();
            ctor.setAccessible(true);
            return ctor.newInstance();
        } catch (ReflectiveOperationException e) {
            throw new IllegalStateException("cannot make the command " + c.getName(), e);
        }
    }

    /** {@code vd} without a command. */
    @Override
    public Integer call() {
        throw new ParameterException(spec.commandLine(), "missing command (commands: "
                + String.join(", ", commandNames()) + ")");
    }

    /** One line for a usage error, pointing at the help of the command that was parsed. */
    private static int usageError(PrintStream err, String message, CommandLine where) {
        String help = where == null ? PROG : where.getCommandSpec().qualifiedName();
        err.println(PROG + ": " + oneLine(message) + " (see '" + help + " --help')");
        return EXIT_USAGE;
    }

    /** picocli's message, except that an unknown word where a command belongs says so. */
    private static String usageMessage(ParameterException e) {
        CommandLine where = e.getCommandLine();
        if (e instanceof UnmatchedArgumentException u && where != null && where.getParent() == null
                && !u.getUnmatched().isEmpty() && !u.getUnmatched().get(0).startsWith("-")) {
            return "unknown command '" + u.getUnmatched().get(0) + "' (commands: "
                    + String.join(", ", commandNames()) + ")";
        }
        return e.getMessage();
    }

    private int failure(Exception e, CommandLine where, ParseResult parsed) {
        if (e instanceof ParameterException p) {
            return usageError(err, p.getMessage(), where);
        }
        boolean verbose = verbose(parsed);
        if (verbose) {
            printWarnings();
        }
        return CliErrors.report(PROG, e, verbose, err);
    }

    /** -v given at any level of the command line. */
    private static boolean verbose(ParseResult parsed) {
        for (ParseResult r = parsed; r != null; r = r.subcommand()) {
            if (r.hasMatchedOption("--verbose")) {
                return true;
            }
        }
        return false;
    }

    private static String oneLine(String s) {
        return s == null ? "" : s.replace('\n', ' ').replace('\r', ' ').strip();
    }

    /** -v from the top level or the subcommand. */
    boolean verbose(CommonOptions sub) {
        return common.verbose || sub.verbose;
    }

    /**
     * Read-only open options for chains from the options of both levels: parent directories (each
     * must be a directory), the two parent overrides, {@code -U}, {@code --allow-truncated},
     * warnings collected for {@code vd: warning:}.
     */
    OpenOptions openOptions(CommonOptions sub) throws NoSuchFileException {
        List<Path> dirs = new ArrayList<>(common.parentDirs);
        dirs.addAll(sub.parentDirs);
        for (Path d : dirs) {
            if (!Files.isDirectory(d)) {
                throw new NoSuchFileException(d.toString(), null, "no such directory");
            }
        }
        return new OpenOptions(true, dirs, common.allowAbsoluteParents || sub.allowAbsoluteParents,
                common.ignoreParentUuid || sub.ignoreParentUuid, this::warn, common.forceShare || sub.forceShare,
                common.allowTruncated || sub.allowTruncated).withSecrets(passwords(sub, false))
                .withKeyStores(sub.keystore != null || sub.keystoreBase64 != null ? sub.keyStores()
                        : common.keyStores());
    }

    /** The password source of both levels' {@code --password-file}, else the terminal prompt. */
    PasswordSource passwords(CommonOptions sub, boolean confirm) {
        PasswordSource s = new PasswordSource(sub.passwordFile != null ? sub.passwordFile : common.passwordFile,
                confirm, PROG);
        passwordSources.add(s);
        return s;
    }

    /** The password sources this command made, zeroed when it ends. */
    private final List<PasswordSource> passwordSources = new java.util.concurrent.CopyOnWriteArrayList<>();

    /** A warning, shown after the command succeeds (and before the error with -v). */
    void warn(String message) {
        if (warnings.size() < MAX_WARNINGS) {
            warnings.add(PROG + ": warning: " + VdException.oneLine(message));
        } else {
            warningsDropped++;
        }
    }

    /** Prints the warnings collected so far (once: a long-running command calls it when it starts serving). */
    void printWarnings() {
        warnings.forEach(err::println);
        warnings.clear();
        if (warningsDropped > 0) {
            err.println(PROG + ": warning: " + warningsDropped + " more warnings not shown");
            warningsDropped = 0;
        }
    }

    /** Status lines for -v. */
    void note(CommonOptions sub, String message) {
        if (verbose(sub)) {
            err.println(PROG + ": " + message);
        }
    }
}
