package org.vdmount.mount.cli;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.Path;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.function.Consumer;
import org.vdmount.vd.Capability;
import org.vdmount.vd.CompressedWriter;
import org.vdmount.vd.CreateOptions;
import org.vdmount.vd.Disk;
import org.vdmount.vd.FormatRegistry;
import org.vdmount.vd.Image;
import org.vdmount.vd.ImageFormat;
import org.vdmount.vd.ImageInUseException;
import org.vdmount.vd.Sizes;
import org.vdmount.vd.VdException;
import org.vdmount.vd.storage.ImageLock;
import org.vdmount.vd.storage.Storage;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;
import picocli.CommandLine.ParameterException;
import picocli.CommandLine.Parameters;

/** {@code vd convert [-O FORMAT] [-o K=V,...] SRC DST}: the whole chain of SRC into one new image. */
@Command(name = "convert",
        description = {"Copy the whole chain of SRC (opened read-only) into a new image DST.",
                "Unallocated and all-zero ranges are not written, so DST is sparse. A progress bar is "
                        + "shown on stderr when a terminal is attached. A failed conversion deletes DST."})
final class ConvertCommand extends VdCommand {

    @Option(names = "-O", paramLabel = "FORMAT", defaultValue = "raw",
            description = "Output format (default: ${DEFAULT-VALUE}).")
    String outputFormat;

    @Option(names = "-c", description = "Compress: qcow2 clusters deflated (as qemu-img convert -c; a "
            + "cluster that does not shrink is stored plain); vmdk means subformat=streamOptimized.")
    boolean compress;

    @Option(names = "-t", paramLabel = "CACHE", defaultValue = "writeback", description = "How DST's data "
            + "is written, as qemu-img convert -t: writeback (the default) goes through the host page cache; "
            + "none bypasses it (O_DIRECT), so a large copy does not evict what the cache holds (a warning "
            + "where DST's file system refuses). Either way DST is flushed to stable storage before vd returns "
            + "(qemu-img's unsafe, which skips that, is not offered).")
    String cache;

    @Mixin
    FormatOptions.Given formatOptions;

    @Mixin
    ImageFormatOption sourceFormat;

    @Option(names = "--overwrite", description = "Replace DST if it is an existing regular file "
            + "(never one of SRC's chain). Without it an existing DST is an error.")
    boolean overwrite;

    @Parameters(index = "0", paramLabel = "SRC", arity = "0..1",
            description = "Source image (top of its chain; not needed with -o help).")
    Path src;

    @Parameters(index = "1", paramLabel = "DST", arity = "0..1", description = "Image to create.")
    Path dst;

    @Override
    public Integer call() throws Exception {
        ImageFormat format = FormatRegistry.require(outputFormat);
        if (FormatHelp.printIfWanted(formatOptions.values, format, vd.out)) {
            return 0;
        }
        if (src == null || dst == null) {
            throw new ParameterException(spec.commandLine(), "Missing required parameter"
                    + (src == null ? "s: 'SRC', 'DST'" : ": 'DST'"));
        }
        Map<String, String> options = FormatOptions.parse(formatOptions.values, spec.commandLine());
        if (!cache.equals("none") && !cache.equals("writeback")) {
            throw new ParameterException(spec.commandLine(), "-t " + cache + " is not supported (writeback or "
                    + "none; vd always flushes DST before it returns)");
        }
        if (!format.can(Capability.CREATE)) {
            throw new VdException(format.name() + ": creating images is not supported");
        }
        if (format.name().equals("luks")) {
            // the copy skips zeros, assuming a new image reads as zeros; a new LUKS payload reads
            // as noise (as with qemu), so the skipped ranges would not read back as the source
            throw new VdException("convert -O luks is not supported: create the volume with vd create -f luks, "
                    + "then copy into it (vdmount --rw, dd)");
        }
        if (compress && format.name().equals("vmdk")) {
            String sub = options.getOrDefault("subformat", "streamOptimized");
            if (!sub.equals("streamOptimized")) {
                throw new VdException("-c (compression) with vmdk means subformat=streamOptimized, not " + sub);
            }
            options = new java.util.LinkedHashMap<>(options);
            options.put("subformat", sub);
        }
        if (Files.exists(dst, LinkOption.NOFOLLOW_LINKS) && !overwrite) {
            throw new VdException(dst + ": already exists (add --overwrite to replace it)");
        }
        try (Disk source = sourceFormat.open(src, vd.openOptions(common))) {
            if (Files.exists(dst, LinkOption.NOFOLLOW_LINKS)) {
                replace(source);
            }
            long started = System.nanoTime();
            Progress progress = new Progress(vd.err, source.size(), vd.terminal);
            DiskCopy.Stats stats = compress && !format.name().equals("vmdk")
                    ? convertCompressed(source, format, options, dst, progress, vd::warn)
                    : convert(source, format, options, dst, cache.equals("none") ? vd::warn : null, progress,
                            vd::warn);
            double seconds = Math.max(1e-9, (System.nanoTime() - started) / 1e9);
            vd.note(common, String.format(Locale.ROOT, "%s: %s of %s written (%s read) in %.2f s, %.0f MiB/s",
                    dst, Sizes.human(stats.bytesWritten()), Sizes.human(source.size()),
                    Sizes.human(stats.bytesRead()), seconds, source.size() / seconds / (1 << 20)));
        }
        return 0;
    }

    /**
     * --overwrite: deletes DST unless it is not a plain file, belongs to the source's chain (every
     * file of every layer, compared by file identity, so hard links count), or anyone holds a
     * QEMU-style lock on it (a vdmount, vd, qemu-io, qemu-img or QEMU using it; tested first).
     */
    private void replace(Disk source) throws IOException {
        if (!Files.isRegularFile(dst, LinkOption.NOFOLLOW_LINKS)) {
            throw new VdException(dst + ": not a regular file, not replaced");
        }
        for (Image layer : source.layers()) {
            for (Path f : layer.files()) {
                if (Files.isSameFile(f, dst)) {
                    throw new VdException(dst + ": is part of the source chain (" + f + "), not replaced");
                }
            }
        }
        String user = ImageLock.holder(dst);
        if (user != null) {
            throw new ImageInUseException(dst + ": " + user + ", not replaced");
        }
        Files.delete(dst);
    }

    /**
     * {@code -c}: writes {@code dst} through the format's {@link CompressedWriter} (refused in one
     * line by formats without one); on any failure {@code dst} is deleted again.
     */
    static DiskCopy.Stats convertCompressed(Disk source, ImageFormat format, Map<String, String> options, Path dst,
                                            Progress progress, Consumer<String> warn) throws IOException {
        CompressedWriter out = format.createCompressed(dst, new CreateOptions(source.size(), options, null, null));
        try (PartialOutput partial = new PartialOutput(dst, List.of(dst))) {
            boolean copied = false;
            DiskCopy.Stats stats;
            try {
                if (out.size() < source.size()) {
                    throw new VdException(format.name() + ": created " + dst + " with " + out.size()
                            + " bytes, smaller than the source's " + source.size());
                }
                stats = DiskCopy.copyClusters(source, out, progress::update);
                out.finish();
                copied = true;
            } finally {
                progress.finish(copied);
                out.close();
            }
            partial.commit();
            if (out.size() > source.size()) {
                warn.accept(dst + " has " + out.size() + " bytes: " + format.name()
                        + " rounded up the source's " + source.size());
            }
            return stats;
        }
    }

    /**
     * Creates {@code dst} in {@code format} with the source's size and copies the source into it;
     * on any failure (or when the JVM is stopped meanwhile) {@code dst} is deleted again. With
     * {@code direct} non-null, dst's data bypasses the page cache ({@link Storage#directWrites()});
     * where its file system refuses that, {@code direct} is told and the copy goes through the cache.
     */
    static DiskCopy.Stats convert(Disk source, ImageFormat format, Map<String, String> options, Path dst,
                                  Consumer<String> direct, Progress progress, Consumer<String> warn)
            throws IOException {
        Image created = Creation.create(format, dst, new CreateOptions(source.size(), options, null, null));
        try (PartialOutput partial = new PartialOutput(dst, created.files())) {
            Disk target = Disk.of(List.of(created));
            boolean copied = false;
            DiskCopy.Stats stats;
            try {
                if (direct != null && !created.storage().directWrites()) {
                    direct.accept(dst + ": its file system refuses direct I/O (O_DIRECT); written through "
                            + "the page cache");
                }
                if (target.size() < source.size()) {
                    throw new VdException(format.name() + ": created " + dst + " with " + target.size()
                            + " bytes, smaller than the source's " + source.size());
                }
                stats = DiskCopy.copy(source, target, progress::update);
                target.flush();
                copied = true;
            } finally {
                progress.finish(copied);
                if (!copied) {
                    Creation.closeQuietly(target);
                }
            }
            target.close();
            partial.commit();
            if (target.size() > source.size()) {
                warn.accept(dst + " has " + target.size() + " bytes: " + format.name()
                        + " rounded up the source's " + source.size());
            }
            return stats;
        }
    }
}
