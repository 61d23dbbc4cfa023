package org.vdmount.mount.cli;

import java.nio.file.Path;
import org.vdmount.vd.Disk;
import org.vdmount.vd.OpenOptions;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;

/**
 * {@code vd info [--json|--output=json] [--backing-chain] IMAGE}: format, sizes, the chain's layers,
 * allocation and partitions; the JSON carries qemu-img info's keys too.
 */
@Command(name = "info",
        description = {"Show an image: format, variant, virtual size, sector size, the layers of its chain "
                + "(file, format, uuid, parent uuid), allocation and partitions.",
                "Every file of the chain is opened read-only."})
final class InfoCommand extends VdCommand {

    @Option(names = "--json", description = "Print one JSON object instead of the table.")
    boolean json;

    @Mixin
    OutputOption output;

    @Option(names = "--backing-chain", description = {"With JSON: an array of every layer's object, the top "
            + "first, as qemu-img info --backing-chain --output=json.",
            "The table always shows the whole chain."})
    boolean backingChain;

    @Mixin
    ImageFormatOption imageFormat;

    @Parameters(paramLabel = "IMAGE", description = "The image (top of its chain).")
    Path image;

    @Override
    public Integer call() throws Exception {
        InfoReport report;
        OpenOptions options = vd.openOptions(common);
        try (Disk disk = imageFormat.open(image, options)) {
            report = InfoReport.of(disk, vd::warn, options.allowTruncated());
        }
        if (output.json(json)) {
            vd.out.println(Json.write(backingChain ? report.toJsonChain() : report.toJson()));
        } else {
            vd.out.print(report.toHuman());
        }
        vd.out.flush();
        return 0;
    }
}
