package org.vdmount.mount.cli;

import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import org.vdmount.vd.Disk;
import org.vdmount.vd.FormatRegistry;
import org.vdmount.vd.ImageFormat;
import org.vdmount.vd.Sizes;
import org.vdmount.vd.compact.CompactResult;
import org.vdmount.vd.compact.Compaction;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Parameters;

/** {@code vd compact [-f FMT] IMAGE}: free unneeded blocks and give the space back (VDCompact). */
@Command(name = "compact",
        description = {"Make IMAGE's file smaller (VBoxManage modifymedium --compact): every block holding only "
                + "zeros (in a differencing image: exactly what its backing chain shows there) is freed, the blocks "
                + "left at the end of the file move into the holes and the file is cut. The guest sees the same "
                + "bytes. Prints the file size before and after.",
                "Crash-safe: data is copied and flushed before a table points at it, and the file is cut only "
                        + "after nothing points past its new end; a kill leaves an image that reads the same (at "
                        + "worst with leaked space). Refused while anyone else uses the image. Formats: vdi, qcow2, vhd, "
                        + "vhdx, qed, qcow, parallels and vmdk (dynamic or hosted sparse, and differencing images; "
                        + "vmdk: monolithicSparse, twoGbMaxExtentSparse; parallels: image files and bundle "
                        + "snapshots), raw (zeros become holes). A progress bar is shown on stderr when a terminal "
                        + "is attached."})
final class CompactCommand extends ModifyingCommand {

    @Mixin
    ImageFormatOption imageFormat;

    @Mixin
    ProgressOption progressOption;

    @Parameters(paramLabel = "IMAGE", description = "The image to compact (its backing chain is only read).")
    Path image;

    @Override
    public Integer call() throws Exception {
        var options = lockedOptions();
        if (!Files.exists(image)) {
            throw new NoSuchFileException(image.toString());
        }
        ImageFormat fmt = imageFormat.format == null ? FormatRegistry.probe(image)
                : FormatRegistry.require(imageFormat.format);
        long size;
        try (Disk probe = Disk.open(image, fmt, options)) {
            size = probe.size();
        }
        Progress progress = progressOption.bar(vd, size);
        boolean done = false;
        CompactResult r;
        try {
            r = Compaction.compact(image, fmt, options, progress::update);
            done = true;
        } finally {
            progress.finish(done);
        }
        vd.out.println(image + ": " + Sizes.human(r.fileBytesBefore()) + " -> " + Sizes.human(r.fileBytesAfter())
                + " (" + r.fileBytesBefore() + " -> " + r.fileBytesAfter() + " bytes); " + r.blocksFreed()
                + " block(s) freed, " + r.blocksZeroed() + " made zero, " + r.blocksMoved() + " moved ("
                + Sizes.human(r.blockSizeBytes()) + " blocks); host space " + Sizes.human(r.hostBytesBefore())
                + " -> " + Sizes.human(r.hostBytesAfter()));
        return 0;
    }
}
