package org.vdmount.mount.cli;

import java.nio.file.Path;
import org.vdmount.vd.ChainCommit;
import org.vdmount.vd.FormatRegistry;
import org.vdmount.vd.Sizes;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;

/** {@code vd commit [-d] [-f FMT] [-b BASE] IMAGE}: the data of IMAGE (and layers down to BASE) into BASE. */
@Command(name = "commit",
        description = {"Write the data IMAGE holds into its backing file (VDMerge downwards, qemu-img commit), "
                + "or with -b the data of every layer above BASE into BASE. Any formats: a qcow2 over a VDI works.",
                "IMAGE itself is left unchanged, as 'qemu-img commit -d' leaves it: it still reads the same and "
                        + "now repeats its backing file, so it can be deleted or kept. Layers between IMAGE and BASE "
                        + "are not changed either; read on their own they no longer show what they did.",
                "Crash-safe: only ranges that a layer above BASE hides are written, so the chain from IMAGE "
                        + "reads the same at every instant. Refused while anyone else uses a file of the chain.",
                "BASE must be at least as large as the data above it (grow it with 'vd resize'). "
                        + "A progress bar is shown on stderr when a terminal is attached.",
                "The other direction (the backing chain's data into IMAGE, VirtualBox's upward merge, QEMU's "
                        + "block-stream): vd rebase -b BASE IMAGE, or -b \"\" for all of it."})
final class CommitCommand extends ModifyingCommand {

    @Option(names = "-b", paramLabel = "BASE",
            description = "The layer of IMAGE's chain to commit into (default: IMAGE's backing file).")
    Path base;

    @Option(names = "-d", description = "Leave IMAGE unchanged after the commit (qemu-img commit -d). vd always "
            + "does: qemu-img's default, emptying IMAGE, is not offered.")
    boolean leaveImage;

    @Mixin
    ImageFormatOption imageFormat;

    @Mixin
    ProgressOption progressOption;

    @Parameters(paramLabel = "IMAGE", description = "The top of the chain whose data is committed.")
    Path image;

    @Override
    public Integer call() throws Exception {
        var options = lockedOptions();
        long size;
        try (var probe = imageFormat.open(image, options)) {
            size = probe.size();
        }
        Progress progress = progressOption.bar(vd, size);
        boolean done = false;
        ChainCommit.Result r;
        try {
            r = ChainCommit.commit(image, imageFormat.format == null ? null : FormatRegistry.require(imageFormat.format),
                    base, options, progress::update);
            done = true;
        } finally {
            progress.finish(done);
        }
        vd.note(common, "committed " + r.layersMerged() + " layer(s) of " + image + " into " + r.target() + ": "
                + Sizes.human(r.dataBytes()) + " data, " + Sizes.human(r.zeroBytes()) + " zeroed");
        return 0;
    }
}
