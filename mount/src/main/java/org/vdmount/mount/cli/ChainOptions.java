package org.vdmount.mount.cli;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import picocli.CommandLine.Option;

/** How a chain's parents are found: options shared by {@code vdmount} and every {@code vd} command. */
class ChainOptions {

    @Option(names = "--parent-dir", paramLabel = "DIR", description = "where to look for parent images (repeatable)")
    List<Path> parentDirs = new ArrayList<>();

    @Option(names = "--allow-absolute-parents",
            description = "follow absolute parent, backing, extent and data-file paths recorded in images, and "
                    + "symlinks leading out of the allowed directories (default: every such path, resolved with "
                    + "symlinks followed, must stay next to the image or in a --parent-dir)")
    boolean allowAbsoluteParents;

    @Option(names = "--ignore-parent-uuid",
            description = "accept a parent whose UUID/CID does not match what the child records (forensic "
                    + "override; a warning is printed)")
    boolean ignoreParentUuid;
}
