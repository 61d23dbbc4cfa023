package org.vdmount.mount.cli;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import picocli.CommandLine.Option;

/** Options every {@code vd} command accepts, before or after the command name. */
final class CommonOptions {

    @Option(names = {"-v", "--verbose"}, description = "Print status lines and stack traces of errors.")
    boolean verbose;

    @Option(names = "--parent-dir", paramLabel = "DIR",
            description = "Also look for parent images in DIR (repeatable).")
    List<Path> parentDirs = new ArrayList<>();

    @Option(names = "--allow-absolute-parents",
            description = "Follow absolute parent paths recorded in images (default: only their file names "
                    + "are looked up next to the image and in --parent-dir).")
    boolean allowAbsoluteParents;

    @Option(names = "--ignore-parent-uuid",
            description = "Accept a parent whose UUID does not match what the child records (forensic "
                    + "override; a warning is printed).")
    boolean ignoreParentUuid;
}
