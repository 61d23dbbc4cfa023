package org.vdmount.mount.cli;

import java.nio.file.NoSuchFileException;
import org.vdmount.vd.OpenOptions;
import picocli.CommandLine.ParameterException;

/**
 * A {@code vd} command that changes an image in place (commit, resize, compact, rebase, amend,
 * snapshot): it takes QEMU-style locks on what it writes and on what it reads, so {@code -U}
 * (which would skip them) is refused rather than ignored; so is {@code --allow-truncated}, which
 * only reads.
 */
abstract class ModifyingCommand extends VdCommand {

    /** The chain options of both levels, locks taken and tested. */
    OpenOptions lockedOptions() throws NoSuchFileException {
        OpenOptions o = vd.openOptions(common);
        if (o.forceShare()) {
            throw new ParameterException(spec.commandLine(), "--force-share cannot be used with "
                    + spec.name() + ": it changes the image, which needs its locks");
        }
        if (o.allowTruncated()) {
            throw new ParameterException(spec.commandLine(), "--allow-truncated cannot be used with "
                    + spec.name() + ": it writes the chain, and a truncated image is only ever read");
        }
        return o;
    }
}
