package org.vdmount.mount.cli;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.Path;
import java.util.Map;
import org.vdmount.vd.Capability;
import org.vdmount.vd.ChainException;
import org.vdmount.vd.CreateOptions;
import org.vdmount.vd.Disk;
import org.vdmount.vd.FormatRegistry;
import org.vdmount.vd.Image;
import org.vdmount.vd.ImageFormat;
import org.vdmount.vd.OpenOptions;
import org.vdmount.vd.Sizes;
import org.vdmount.vd.VdException;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;
import picocli.CommandLine.ParameterException;
import picocli.CommandLine.Parameters;

/** {@code vd create -f FORMAT [-o K=V,...] [-b BACKING [-F FMT]] IMAGE [SIZE]}. */
@Command(name = "create",
        description = {"Create a new base image of SIZE bytes, or with -b a differencing image on top of "
                + "BACKING (whose chain is opened read-only; SIZE defaults to its size).",
                "SIZE takes a K, M, G or T suffix (powers of 1024). IMAGE must not exist.",
                "As qemu-img, -o backing_file=, backing_fmt= and size= are -b, -F and SIZE."})
final class CreateCommand extends VdCommand {

    @Option(names = "-f", paramLabel = "FORMAT", required = true, description = "Format of the new image.")
    String format;

    @Mixin
    FormatOptions.Given formatOptions;

    @Option(names = "-b", paramLabel = "BACKING",
            description = "Parent image; recorded in IMAGE as given. A relative BACKING is relative to IMAGE's "
                    + "directory, as qemu-img takes it (vd create -b base.qcow2 dir/top.qcow2 uses dir/base.qcow2).")
    Path backing;

    @Option(names = "-F", paramLabel = "BACKING_FMT",
            description = "Format of BACKING itself (its own parents are probed); default: probe.")
    String backingFormat;

    @Parameters(index = "0", paramLabel = "IMAGE", arity = "0..1",
            description = "Image to create (not needed with -o help).")
    Path image;

    @Parameters(index = "1", paramLabel = "SIZE", arity = "0..1", description = "Virtual size, e.g. 10G.")
    String size;

    @Override
    public Integer call() throws Exception {
        ImageFormat fmt = FormatRegistry.require(format);
        if (FormatHelp.printIfWanted(formatOptions.values, fmt, vd.out)) {
            return 0;
        }
        if (image == null) {
            throw new ParameterException(spec.commandLine(), "Missing required parameter: 'IMAGE'");
        }
        Map<String, String> options = FormatOptions.parse(formatOptions.values, spec.commandLine());
        FormatOptions.Backing b = FormatOptions.takeBacking(options, backing, backingFormat, "-b", spec.commandLine());
        backing = b.file();
        backingFormat = b.format();
        size = FormatOptions.take(options, "size", size, "SIZE", spec.commandLine());
        if (backingFormat != null && backing == null) {
            throw new ParameterException(spec.commandLine(), "-F needs -b BACKING");
        }
        if (backing == null && size == null) {
            throw new ParameterException(spec.commandLine(), "SIZE is required without -b BACKING");
        }
        if (!fmt.can(Capability.CREATE)) {
            throw new VdException(fmt.name() + ": creating images is not supported");
        }
        if (backing != null && !fmt.can(Capability.DIFFERENCING)) {
            throw new VdException(fmt.name() + ": images of this format cannot have a backing file");
        }
        Long bytes = size == null ? null : Sizes.parse(size);
        if (Files.exists(image, LinkOption.NOFOLLOW_LINKS)) {
            throw new VdException(image + ": already exists");
        }
        if (backing == null) {
            write(fmt, new CreateOptions(bytes, options, null, null).withSecrets(vd.passwords(common, true)));
            vd.note(common, "created " + image + ": " + fmt.name() + ", " + InfoReport.size(bytes));
            return 0;
        }
        OpenOptions open = vd.openOptions(common);
        try (Disk parent = Creation.openBacking(image, backing, backingFormat, open)) {
            long virtualSize = bytes == null ? parent.size() : bytes;
            write(fmt, new CreateOptions(virtualSize, options, parent, backing).withSecrets(vd.passwords(common, true)));
            vd.note(common, "created " + image + ": " + fmt.name() + ", " + InfoReport.size(virtualSize)
                    + ", backing " + backing + " (" + parent.layers().size() + " layers)");
        }
        checkChainOpens(open);
        return 0;
    }

    /** Creates IMAGE, flushes and closes it; deletes it again if any of that fails. */
    private void write(ImageFormat fmt, CreateOptions options) throws IOException {
        Image created = Creation.create(fmt, image, options);
        try (PartialOutput partial = new PartialOutput(image, created.files())) {
            try {
                created.flush();
            } catch (IOException | RuntimeException e) {
                Creation.closeQuietly(created);
                throw e;
            }
            created.close();
            partial.commit();
        }
    }

    /** The new image is kept, but a parent that will not be found again deserves a warning. */
    private void checkChainOpens(OpenOptions open) throws IOException {
        try (Disk reopened = Disk.open(image, open)) {
            vd.note(common, image + ": chain of " + reopened.layers().size() + " layers opens");
        } catch (ChainException e) {
            vd.warn("created " + image + ", but its chain does not open: " + CliErrors.oneLine(e));
        }
    }
}
