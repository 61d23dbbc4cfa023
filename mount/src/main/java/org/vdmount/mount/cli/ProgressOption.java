package org.vdmount.mount.cli;

import picocli.CommandLine.Option;

/**
 * qemu-img's {@code -p} and {@code -q} on the verbs that draw a progress bar (convert, commit,
 * rebase, compact, verify): the bar shows on a terminal by default, {@code -p} shows it on any
 * stderr (a log gets carriage returns, as with qemu-img), {@code -q} never; {@code -q} wins.
 */
final class ProgressOption {
    @Option(names = "-p", description = "Show the progress bar even when stderr is not a terminal (as qemu-img -p).")
    boolean progress;

    @Option(names = "-q", description = "Quiet: no progress bar, even on a terminal (as qemu-img -q); errors and "
            + "warnings still print.")
    boolean quiet;

    /** A progress bar of {@code totalBytes} on {@code vd}'s stderr, drawn as these options say. */
    Progress bar(VdMain vd, long totalBytes) {
        return bar(vd, totalBytes, progress, quiet);
    }

    /** A progress bar drawn on a terminal, or with {@code -p} anywhere; never with {@code -q}. */
    static Progress bar(VdMain vd, long totalBytes, boolean progress, boolean quiet) {
        return new Progress(vd.err, totalBytes, !quiet && (progress || vd.terminal));
    }
}
