package org.vdmount.mount.cli;

import java.io.IOException;
import java.nio.file.Path;
import org.vdmount.vd.Disk;
import org.vdmount.vd.inspect.ContentCompare;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;

/**
 * {@code vd compare [-s] [-f F1] [-F F2] A B}: whether two images show the guest the same bytes,
 * with {@code qemu-img compare}'s messages and exit status (0 identical, 1 different, 2 error).
 */
@Command(name = "compare",
        description = {"Compare the guest-visible contents of A and B (any formats, whole chains, read-only).",
                "Ranges both report as unallocated or zero are not read. Prints 'Images are identical.' or the "
                        + "first differing offset (at the start of its 512-byte sector), as qemu-img compare.",
                "Exit status: 0 identical, 1 different, 2 error."})
final class CompareCommand extends VdCommand {
    static final int DIFFERENT = 1;
    static final int ERROR = 2;

    @Option(names = {"-s", "--strict"}, description = "Also differ when the sizes differ or one side holds "
            + "a range (as data or zeros) that the other leaves unallocated.")
    boolean strict;

    @Option(names = {"-f", "--format"}, paramLabel = "F1", description = "Format of A (skips the probe).")
    String formatA;

    @Option(names = "-p", description = "Show a progress bar even when stderr is not a terminal (as qemu-img -p).")
    boolean progress;

    @Option(names = "-q", description = "Quiet (as qemu-img compare -q): print nothing but errors; the exit status "
            + "tells the result.")
    boolean quiet;

    @Option(names = "-F", paramLabel = "F2", description = "Format of B (skips the probe).")
    String formatB;

    @Parameters(index = "0", paramLabel = "A", description = "First image (top of its chain).")
    Path a;

    @Parameters(index = "1", paramLabel = "B", description = "Second image (top of its chain).")
    Path b;

    @Override
    public Integer call() {
        ContentCompare.Result r;
        try (Disk da = ImageFormatOption.open(a, formatA, vd.openOptions(common));
             Disk db = ImageFormatOption.open(b, formatB, vd.openOptions(common))) {
            Progress bar = ProgressOption.bar(vd, Math.min(da.size(), db.size()), progress, quiet);
            boolean done = false;
            try {
                r = ContentCompare.compare(da, db, strict, bar::update);
                done = true;
            } finally {
                bar.finish(done);
            }
        } catch (IOException | RuntimeException e) {
            CliErrors.report(VdMain.PROG, e, vd.verbose(common), vd.err);
            return ERROR;
        }
        if (quiet) {
            return r.verdict() == ContentCompare.Verdict.IDENTICAL ? 0 : DIFFERENT;
        }
        if (r.sizesDiffer() && !strict) {
            vd.out.println("Warning: Image size mismatch!");
        }
        switch (r.verdict()) {
            case IDENTICAL -> vd.out.println("Images are identical.");
            case CONTENT_MISMATCH -> vd.out.println("Content mismatch at offset " + r.offset() + "!");
            case STATUS_MISMATCH -> vd.out.println("Strict mode: Offset " + r.offset() + " block status mismatch!");
            case SIZE_MISMATCH -> vd.out.println("Strict mode: Image size mismatch!");
        }
        vd.out.flush();
        return r.verdict() == ContentCompare.Verdict.IDENTICAL ? 0 : DIFFERENT;
    }
}
