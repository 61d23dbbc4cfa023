package org.vdmount.mount.cli;

import java.nio.file.Path;
import org.vdmount.vd.FormatRegistry;
import org.vdmount.vd.ImageResize;
import org.vdmount.vd.storage.Preallocation;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;
import picocli.CommandLine.ParameterException;
import picocli.CommandLine.Parameters;

/** {@code vd resize [--shrink] [--preallocation=MODE] [-f FMT] IMAGE [+|-]SIZE}: a new virtual size for the top image (qemu-img resize). */
@Command(name = "resize",
        description = {"Change the virtual size of IMAGE (the top of its chain only, as qemu-img resize): SIZE "
                + "is absolute (10G) or relative (+1G, -512M). "
                + "The new area reads as zeros. Formats: raw, qcow2, VDI (dynamic and differencing), VHD, QED, "
                + "VHDX; 'vd formats' shows which can ('resize').",
                "A smaller size is refused unless --shrink is given, and then only when no non-zero byte "
                        + "lies past the new end (the first such offset is named). A GPT's backup header is not "
                        + "moved to the new end: repair it with a partitioning tool (sgdisk -e).",
                "Crash-safe: the data moves first, the size is written last, so a kill leaves the old or the new "
                        + "size with the data intact. Refused while anyone else uses the image."})
final class ResizeCommand extends ModifyingCommand {

    @Mixin
    ImageFormatOption imageFormat;

    @Option(names = "--shrink", description = "Allow a smaller size (refused if data lies past the new end).")
    boolean shrink;

    @Option(names = "--preallocation", paramLabel = "MODE", defaultValue = "off", description = "How a grown area "
            + "is set up, as qemu-img resize --preallocation: off (default); metadata (qcow2: every new cluster "
            + "mapped, the data a hole); falloc (space reserved with fallocate; qcow2: mapped too); full (zeros "
            + "written; qcow2: mapped too). raw takes off, falloc and full; other formats off only.")
    String preallocation;

    @Parameters(index = "0", paramLabel = "IMAGE", description = "The image to resize.")
    Path image;

    @Parameters(index = "1", paramLabel = "SIZE", description = "New size (10G) or change (+1G, -512M).")
    String size;

    @Override
    public Integer call() throws Exception {
        var options = lockedOptions();
        var format = imageFormat.format == null ? null : FormatRegistry.require(imageFormat.format);
        Preallocation mode;
        try {
            mode = Preallocation.of(preallocation);
        } catch (IllegalArgumentException e) {
            throw new ParameterException(spec.commandLine(), "--preallocation is off, metadata, falloc or full, not '"
                    + preallocation + "'");
        }
        ImageResize.Result r = ImageResize.resize(image, format, size, shrink, mode, options);
        if (r.gpt() && r.newSize() != r.oldSize()) {
            vd.out.println(image + ": holds a GPT whose backup header is NOT moved to the new end "
                    + "(repair it with 'sgdisk -e' or another partitioning tool)");
        }
        vd.out.println("Image resized.");
        vd.note(common, "resized " + image + " (" + r.format() + ") from " + InfoReport.size(r.oldSize()) + " to "
                + InfoReport.size(r.newSize()) + (r.zeroedBytes() > 0 ? "; " + r.zeroedBytes()
                + " bytes over the larger backing file zeroed" : ""));
        vd.out.flush();
        return 0;
    }
}
