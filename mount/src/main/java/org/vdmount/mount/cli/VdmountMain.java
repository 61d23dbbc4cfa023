package org.vdmount.mount.cli;

import java.io.PrintStream;
import java.io.PrintWriter;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.Callable;
import org.vdmount.mount.MountSession;
import org.vdmount.mount.fuse.FuseBindingException;
import org.vdmount.mount.fuse.FuseBindingProvider;
import org.vdmount.mount.fuse.FuseBindings;
import org.vdmount.vd.VdException;
import org.vdmount.vd.nativeio.Posix;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;
import picocli.CommandLine.Spec;

/**
 * {@code vdmount [OPTIONS] IMAGE... MOUNTPOINT}: mounts disk images as files through FUSE.
 * Without {@code -f} the command returns once the mount is usable, served by a detached daemon
 * ({@link Daemon}): this process itself when the launcher started it as a background job, else one it starts.
 */
@Command(name = "vdmount", mixinStandardHelpOptions = true, versionProvider = VdmountMain.Version.class,
        sortOptions = false, usageHelpAutoWidth = true,
        customSynopsis = "vdmount [OPTIONS] IMAGE... MOUNTPOINT",
        description = {"Mount virtual disk images (or chains) as plain files: 'disk' and 'p<N>' per partition.",
            "One IMAGE: files at the mount root; several: one directory per image.",
            "Unmount with: vdmount -u MOUNTPOINT (returns once the images are closed),",
            "or fusermount -u MOUNTPOINT (returns while they are still being closed)."})
public final class VdmountMain implements Callable<Integer> {
    static final String PROG = "vdmount";
    /** The build's version, the same string vd --version shows. */
    static final String VERSION = Versions.version();
    private static final String FORCE_SHARE = "force_share";
    private static final String OVERLAY = "overlay";
    static final String UNMOUNT = "--unmount";

    @Option(names = {"--rw", "--read-write"}, description = "writable: writes land in the top image of each chain")
    boolean readWrite;

    @Option(names = {"-f", "--foreground"}, description = "stay in the foreground (otherwise return once the mount is ready)")
    boolean foreground;

    @Option(names = "-o", paramLabel = "OPTS", description = "extra FUSE options, comma separated (e.g. allow_other)")
    List<String> fuseOptions = new ArrayList<>();

    @Option(names = "--fuse", paramLabel = "NAME",
            description = "FUSE binding to mount with (default: the available one of highest priority; "
                    + "--version lists them)")
    String fuseBinding;

    @Mixin
    ChainOptions chain;

    @Option(names = "--force-share",
            description = "read-only: open the images without taking or checking QEMU-style locks, so an image "
                    + "another program is writing can still be read (-o force_share does the same)")
    boolean forceShare;

    @Option(names = "--format", paramLabel = "FMT",
            description = "format of the IMAGEs (skips the probe; 'vd formats' lists them, 'vpc' = vhd)")
    String format;

    @Option(names = "--snapshot", paramLabel = "ID|NAME",
            description = "show an internal snapshot (qcow2) read-only instead of the current state")
    String snapshot;

    @Option(names = "--overlay", paramLabel = "FILE",
            description = "writable mount over read-only evidence: writes go into FILE, a differencing image "
                    + "(.qcow2, .vhdx, .vdi or .vhd) whose parent is IMAGE's chain; created if missing, reused "
                    + "if present; every image file stays O_RDONLY and unchanged (also -o overlay=FILE)")
    Path overlay;

    @Option(names = "--log", paramLabel = "FILE", description = "daemon log file (default: the daemon's log is discarded once it is detached)")
    Path logFile;

    @Option(names = {"-u", UNMOUNT}, description = "vdmount -u MOUNTPOINT: unmount, then wait until the daemon "
            + "that served it has exited, so its images are closed, flushed and unlocked (fusermount -u returns "
            + "before that)")
    boolean unmount;

    @Option(names = {"-v", "--verbose"}, description = "more logging; stack traces on errors")
    boolean verbose;

    @Option(names = Daemon.CHILD_FLAG, hidden = true)
    boolean daemonChild;

    private PrintStream err = System.err;
    /** Set while this process starts as the daemon itself (the launcher's way). */
    private Daemon.InPlace inPlace;

    @Spec
    CommandSpec spec;

    @Parameters(arity = "0..*", paramLabel = "IMAGE... MOUNTPOINT", hideParamSyntax = true,
            description = "image files (a Parallels bundle directory counts as one), then the mount directory")
    List<Path> paths = new ArrayList<>();

    /** Supplies --version: the version, then each installed FUSE binding and whether it can run here. */
    static final class Version implements CommandLine.IVersionProvider {
        @Override
        public String[] getVersion() {
            List<FuseBindingProvider> installed = FuseBindings.installed();
            String chosen;
            try {
                chosen = FuseBindings.select(installed, null).name();
            } catch (FuseBindingException e) {
                chosen = null;
            }
            List<String> lines = new ArrayList<>();
            lines.add(PROG + " " + VERSION);
            lines.add("FUSE bindings (--fuse NAME), in order of preference:");
            for (FuseBindingProvider p : installed) {
                String state = p.unavailableReason().map(why -> "not available: " + why)
                        .orElse(p.name().equals(chosen) ? "available, default" : "available");
                lines.add("  " + p.name() + "  " + p.description() + "  [" + state + "]");
            }
            return lines.toArray(new String[0]);
        }
    }

    public static void main(String[] args) {
        System.exit(run(args, System.err));
    }

    static int run(String[] args, PrintStream err) {
        return run(args, System.out, err);
    }

    /** Runs vdmount with {@code out} for --help and --version and {@code err} for everything else. */
    static int run(String[] args, PrintStream out, PrintStream err) {
        VdmountMain main = new VdmountMain();
        main.err = err;
        CommandLine cl = HelpText.vdmount(new CommandLine(main)).setOut(new PrintWriter(out, true));
        cl.setParameterExceptionHandler((ex, a) -> usageError(ex, err));
        cl.setExecutionExceptionHandler((ex, c, r) -> ex instanceof CommandLine.ParameterException p
                ? usageError(p, err) : CliErrors.report(PROG, ex, ((VdmountMain) c.getCommand()).verbose, err));
        String[] expanded;
        try {
            expanded = MountOptionKeys.expand(cl.getCommandSpec(), args);
        } catch (CommandLine.ParameterException e) {
            return usageError(e, err);
        }
        return cl.execute(expanded);
    }

    private static int usageError(CommandLine.ParameterException e, PrintStream err) {
        err.println(PROG + ": " + e.getMessage().replace('\n', ' ') + " (see " + PROG + " --help)");
        return 2;
    }

    /** At least one IMAGE and the MOUNTPOINT, or a usage error saying which is missing. */
    private void checkPaths() {
        CommandLine cl = spec.commandLine();
        if (paths.isEmpty()) {
            throw new CommandLine.ParameterException(cl, "missing IMAGE and MOUNTPOINT");
        }
        if (paths.size() == 1) {
            Path only = paths.get(0);
            boolean mountpointLike = java.nio.file.Files.isDirectory(only)
                    && !java.nio.file.Files.exists(only.resolve("DiskDescriptor.xml"));
            throw new CommandLine.ParameterException(cl, mountpointLike
                    ? "missing IMAGE before MOUNTPOINT " + only
                    : "missing MOUNTPOINT after IMAGE " + only);
        }
    }

    @Override
    public Integer call() throws Exception {
        if (unmount) {
            if (paths.size() != 1) {
                throw new CommandLine.ParameterException(spec.commandLine(), "-u takes one MOUNTPOINT");
            }
            for (CommandLine.Model.OptionSpec o : spec.commandLine().getParseResult().matchedOptions()) {
                if (!o.longestName().equals(UNMOUNT) && !o.longestName().equals("--verbose")) {
                    throw new CommandLine.ParameterException(spec.commandLine(), "-u takes no other option than -v ("
                            + o.longestName() + ")");
                }
            }
            return UnmountAndWait.run(paths.get(0), err);
        }
        checkPaths();
        configureLogging();
        List<Path> images = paths.subList(0, paths.size() - 1).stream().map(p -> p.toAbsolutePath().normalize()).toList();
        Path mountpoint = paths.get(paths.size() - 1).toAbsolutePath().normalize();
        List<Path> dirs = chain.parentDirs.stream().map(p -> p.toAbsolutePath().normalize()).toList();
        if (fuseBinding != null) {
            try {
                FuseBindings.named(FuseBindings.installed(), fuseBinding);
            } catch (FuseBindingException e) {
                err.println(PROG + ": " + e.getMessage());
                return 2; // a usage error, found before anything is opened or started
            }
        }
        Path overlayPath;
        try {
            overlayPath = overlayOption(overlay, fuseOptions);
        } catch (IllegalArgumentException e) {
            err.println(PROG + ": " + e.getMessage());
            return 2;
        }
        int readyFd = foreground || daemonChild ? -1 : Daemon.readyFd();
        if (!foreground && !daemonChild && readyFd < 0) {
            // the daemon has no terminal: a password it needs is read here and handed to it on
            // its standard input (never in its arguments)
            byte[] passwordLine = null;
            List<String> args = childArgs(images, mountpoint, dirs, overlayPath);
            boolean fromStdin = chain.passwordFile != null && chain.passwordFile.toString().equals("-");
            boolean keyed = chain.keystore != null || chain.keystoreBase64 != null;
            if (fromStdin || chain.passwordFile == null && (keyed || anyEncrypted(images))) {
                try (PasswordSource source = new PasswordSource(chain.passwordFile, false, PROG)) {
                    byte[] pw = source.password(images.get(0).toString());
                    passwordLine = java.util.Arrays.copyOf(pw, pw.length + 1);
                    passwordLine[pw.length] = '\n';
                    java.util.Arrays.fill(pw, (byte) 0);
                } catch (java.io.IOException e) {
                    return CliErrors.report(PROG, e, verbose, err);
                }
                args.add(0, "-");
                args.add(0, "--password-file");
            }
            return Daemon.spawnAndWait(args, passwordLine, verbose, err);
        }
        if (daemonChild) {
            Posix.setsid();
        }
        // started by the launcher as a background job: this process becomes the daemon (Daemon)
        inPlace = readyFd >= 0 ? Daemon.InPlace.begin(readyFd) : null;
        // the serving process holds the mount directory (opened before the mount covers it) for
        // life: vdmount -u finds it by that in /proc and waits for it to exit
        Posix.holdPath(mountpoint.toString());
        MountSession.Config config = new MountSession.Config(images, mountpoint, readWrite, dirs,
                withoutVdmountOptions(fuseOptions), chain.allowAbsoluteParents, chain.ignoreParentUuid, snapshot,
                forceShare || forceShareOption(fuseOptions), format, overlayPath, chain.allowTruncated,
                new PasswordSource(chain.passwordFile, false, PROG), chain.keyStores());
        MountSession session;
        List<String> warnings = new ArrayList<>();
        try {
            session = MountSession.open(config, warnings::add);
        } catch (Exception e) {
            if (verbose) {
                warnings.forEach(w -> err.println(PROG + ": warning: " + VdException.oneLine(w)));
            }
            return startFailed(e); // the error line says it; warnings about the same file would blur it
        }
        warnings.forEach(w -> err.println(PROG + ": warning: " + VdException.oneLine(w)));
        if (inPlace != null) {
            inPlace.detachSession();
        }
        try {
            session.start(FuseBindings.select(fuseBinding));
            session.awaitReady();
        } catch (Exception e) {
            session.abandon();
            return startFailed(e);
        }
        if (daemonChild) {
            Daemon.reportReady(System.out);
            Posix.redirectStdio(logFile != null ? logFile.toAbsolutePath().toString() : null);
        } else if (inPlace != null) {
            inPlace.ready(logFile, err);
        }
        org.slf4j.LoggerFactory.getLogger(VdmountMain.class).info("mounted {}", session.describe());
        return session.awaitEnd();
    }

    private int startFailed(Exception e) throws InterruptedException {
        if (inPlace != null) {
            if (verbose) {
                e.printStackTrace(err);
            }
            return inPlace.fail(CliErrors.oneLine(e), verbose, err);
        }
        if (daemonChild) {
            Daemon.reportError(System.out, CliErrors.oneLine(e));
            if (verbose) {
                e.printStackTrace(err);
            }
            return 1;
        }
        return CliErrors.report(PROG, e, verbose, err);
    }

    /** The daemon's arguments: the same request with every path absolute (it runs in /). */
    private List<String> childArgs(List<Path> images, Path mountpoint, List<Path> dirs, Path overlayPath) {
        List<String> a = new ArrayList<>();
        if (readWrite) {
            a.add("--rw");
        }
        if (verbose) {
            a.add("-v");
        }
        for (String o : fuseOptions) {
            a.add("-o");
            a.add(o);
        }
        if (fuseBinding != null) {
            a.add("--fuse");
            a.add(fuseBinding);
        }
        for (Path d : dirs) {
            a.add("--parent-dir");
            a.add(d.toString());
        }
        if (chain.allowAbsoluteParents) {
            a.add("--allow-absolute-parents");
        }
        if (chain.ignoreParentUuid) {
            a.add("--ignore-parent-uuid");
        }
        if (chain.allowTruncated) {
            a.add("--allow-truncated");
        }
        if (chain.passwordFile != null && !chain.passwordFile.toString().equals("-")) {
            a.add("--password-file");
            a.add(chain.passwordFile.toAbsolutePath().toString());
        }
        if (chain.keystore != null) {
            a.add("--keystore");
            a.add(chain.keystore.toAbsolutePath().toString());
        }
        if (chain.keystoreBase64 != null) {
            a.add("--keystore-base64");
            a.add(chain.keystoreBase64);
        }
        if (forceShare) {
            a.add("--force-share");
        }
        if (format != null) {
            a.add("--format");
            a.add(format);
        }
        if (overlayPath != null) {
            a.add("--overlay");
            a.add(overlayPath.toString());
        }
        if (snapshot != null) {
            a.add("--snapshot");
            a.add(snapshot);
        }
        if (logFile != null) {
            a.add("--log");
            a.add(logFile.toAbsolutePath().toString());
        }
        a.add("--");
        images.forEach(p -> a.add(p.toString()));
        a.add(mountpoint.toString());
        return a;
    }

    /** Whether any IMAGE file starts with a LUKS header (its password is then asked for here). */
    static boolean anyEncrypted(List<Path> images) {
        for (Path p : images) {
            try (java.io.InputStream in = java.nio.file.Files.newInputStream(p)) {
                byte[] head = in.readNBytes(8);
                if (org.vdmount.vd.crypto.LuksHeader.hasMagic(org.vdmount.vd.Bytes.of(head))) {
                    return true;
                }
            } catch (java.io.IOException e) {
                // not a readable file (a bundle directory, missing): the daemon reports it
            }
        }
        return false;
    }

    /** {@code -o force_share}, the mount(8) spelling of --force-share, among the -o items. */
    static boolean forceShareOption(List<String> options) {
        return options.stream().flatMap(o -> List.of(o.split(",")).stream())
                .anyMatch(o -> o.strip().equals(FORCE_SHARE));
    }

    /**
     * The overlay file, absolute: {@code --overlay FILE} or {@code -o overlay=FILE} (the mount(8)
     * spelling); null for neither. Both, naming different files, is a usage error.
     */
    static Path overlayOption(Path option, List<String> options) {
        Path fromO = null;
        for (String o : options) {
            for (String x : o.split(",")) {
                String item = x.strip();
                if (item.startsWith(OVERLAY + "=")) {
                    Path p = Path.of(item.substring(OVERLAY.length() + 1)).toAbsolutePath().normalize();
                    if (fromO != null && !fromO.equals(p)) {
                        throw new IllegalArgumentException("-o overlay given twice (" + fromO + ", " + p + ")");
                    }
                    fromO = p;
                } else if (item.equals(OVERLAY)) {
                    throw new IllegalArgumentException("-o overlay needs a file: -o overlay=FILE");
                }
            }
        }
        Path fromOption = option == null ? null : option.toAbsolutePath().normalize();
        if (fromO != null && fromOption != null && !fromO.equals(fromOption)) {
            throw new IllegalArgumentException("--overlay " + fromOption + " and -o overlay=" + fromO + " differ");
        }
        return fromOption != null ? fromOption : fromO;
    }

    /** The -o items with force_share and overlay=FILE taken out: they are vdmount's, not FUSE options. */
    static List<String> withoutVdmountOptions(List<String> options) {
        List<String> out = new ArrayList<>();
        for (String o : options) {
            String kept = String.join(",", List.of(o.split(",")).stream()
                    .filter(x -> !x.strip().equals(FORCE_SHARE) && !x.strip().equals(OVERLAY)
                            && !x.strip().startsWith(OVERLAY + "=")).toList());
            if (!kept.isEmpty()) {
                out.add(kept);
            }
        }
        return out;
    }

    /** slf4j-simple reads its settings once, at the first logger: set them before any is made. */
    private void configureLogging() {
        setDefault("org.slf4j.simpleLogger.defaultLogLevel", verbose ? "debug" : "info");
        setDefault("org.slf4j.simpleLogger.showDateTime", "true");
        setDefault("org.slf4j.simpleLogger.dateTimeFormat", "yyyy-MM-dd'T'HH:mm:ss.SSS");
        setDefault("org.slf4j.simpleLogger.showThreadName", "false");
        setDefault("org.slf4j.simpleLogger.showShortLogName", "true");
        setDefault("org.slf4j.simpleLogger.levelInBrackets", "false");
        setDefault("org.slf4j.simpleLogger.logFile", "System.err");
    }

    private static void setDefault(String key, String value) {
        if (System.getProperty(key) == null) {
            System.setProperty(key, value);
        }
    }
}
