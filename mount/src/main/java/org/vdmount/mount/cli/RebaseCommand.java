package org.vdmount.mount.cli;

import java.nio.file.Path;
import org.vdmount.vd.ChainRebase;
import org.vdmount.vd.FormatRegistry;
import org.vdmount.vd.Image;
import org.vdmount.vd.ImageFormat;
import org.vdmount.vd.Sizes;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;

/** {@code vd rebase -b NEW [-F FMT] [-u] [-f FMT] IMAGE}: change IMAGE's backing file. */
@Command(name = "rebase",
        description = {"Change the backing file of IMAGE to NEW (qemu-img rebase). Safe mode (the default) first "
                + "writes into IMAGE, wherever IMAGE does not hold the range itself and the old and new backing "
                + "chains differ, the old chain's content; so IMAGE reads the same afterwards. -b \"\" makes IMAGE "
                + "standalone (all of the old backing's data is copied in).",
                "NEW is recorded as given; a relative NEW is relative to IMAGE's directory, as in qemu-img. "
                        + "VDI links by UUID only, VHD and VHDX by UUID and locators, VMDK by CID and file name, "
                        + "qcow2 and QED by path (and format).",
                "Crash-safe: the data is written and flushed first, the reference changed last, so a kill "
                        + "leaves IMAGE reading the same over its old backing file. Refused while anyone else uses "
                        + "a file of either chain, and when NEW's chain contains IMAGE."})
final class RebaseCommand extends ModifyingCommand {

    @Option(names = "-b", paramLabel = "NEW", required = true,
            description = "The new backing file (\"\" for none).")
    String backing;

    @Option(names = "-F", paramLabel = "BACKING_FMT", description = "Format of NEW (default: probe).")
    String backingFormat;

    @Option(names = "-u", description = "Unsafe: change only the reference, copy nothing (NEW may be missing "
            + "when -F gives its format and IMAGE records no parent identity, as with qemu-img).")
    boolean unsafe;

    @Mixin
    ImageFormatOption format;

    @Mixin
    ProgressOption progressOption;

    @Parameters(paramLabel = "IMAGE", description = "The image whose backing file changes.")
    Path image;

    @Override
    public Integer call() throws Exception {
        var options = lockedOptions();
        ImageFormat fmt = format.format == null ? null : FormatRegistry.require(format.format);
        ImageFormat newFmt = backingFormat == null ? null : FormatRegistry.require(backingFormat);
        long size;
        try (Image top = (fmt != null ? fmt : FormatRegistry.probe(image)).open(image, options)) {
            size = top.virtualSize(); // the old chain is opened by the rebase itself (not at all with -u)
        }
        Progress progress = progressOption.bar(vd, size);
        boolean done = false;
        ChainRebase.Result r;
        try {
            r = ChainRebase.rebase(image, fmt, new ChainRebase.Request(backing, newFmt, unsafe), options,
                    progress::update);
            done = true;
        } finally {
            progress.finish(done);
        }
        vd.note(common, "rebased " + image + " from '" + r.oldBacking() + "' onto '" + r.newBacking() + "': "
                + Sizes.human(r.dataBytes()) + " data, " + Sizes.human(r.zeroBytes()) + " zeroed");
        return 0;
    }
}
