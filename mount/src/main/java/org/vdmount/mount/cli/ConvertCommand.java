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
import org.vdmount.vd.OpenOptions;
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

    @Option(names = "-O", paramLabel = "FORMAT",
            description = "Output format (default: raw; with -n, DST's own format must be named unless it is raw).")
    String outputFormat;

    @Option(names = "-n", description = {"Skip creating DST (as qemu-img convert -n): write into the existing image "
            + "or block device DST, at least as large as SRC, opened as -O's format (an image file that is not raw "
            + "must be named by its format; -O raw overwrites its bytes). Ranges SRC reads as zeros are made zero "
            + "in DST (holes where the host can) unless --target-is-zero. DST is never deleted, even when the copy "
            + "fails; one that is part of SRC's chain or in use is refused."})
    boolean noCreate;

    @Option(names = "-B", paramLabel = "BACKING", description = {"Create DST as a differencing image over BACKING "
            + "(recorded as given; a relative BACKING is relative to DST's directory), whose content must equal SRC's "
            + "backing chain's: only what SRC's top layer holds is copied, its zeros as zeros (as qemu-img convert "
            + "-B). With a SRC that has no backing file, every range is written (zeros made zero)."})
    Path backing;

    @Option(names = "-F", paramLabel = "BACKING_FMT", description = "With -B: BACKING's format (default: probe).")
    String backingFormat;

    @Option(names = "-S", paramLabel = "SPARSE_SIZE", description = "Zeros are found in aligned stretches of "
            + "SPARSE_SIZE bytes (default 4k, or the output's allocation unit where larger); 0: nothing is skipped, DST "
            + "is fully allocated (as qemu-img convert -S). A multiple of 512 up to 16M.")
    String sparseSize;

    @Option(names = "-m", paramLabel = "NUM", description = "Copy (with -c: compress) NUM chunks of 4 MiB at once, "
            + "1 to 16 (as qemu-img convert -m; default: one per core, 2 to 4).")
    Integer parallel;

    @Option(names = "-W", description = "Write chunks as they are read, in any order (as qemu-img convert -W): faster "
            + "into formats that allocate, whose layout then depends on timing (raw is always written so).")
    boolean outOfOrder;

    @Option(names = "--salvage", description = "Copy what can be read (as qemu-img convert --salvage): a range SRC "
            + "cannot read (I/O error, corrupt metadata or compressed data) is retried sector by sector, what still "
            + "fails is written as zeros, and one warning per range names it.")
    boolean salvage;

    @Option(names = "--target-is-zero", description = "With -n: DST already reads as zeros everywhere, so SRC's "
            + "zero ranges are not written (as qemu-img).")
    boolean targetIsZero;

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
    ProgressOption progressOption;

    @Mixin
    FormatOptions.Given formatOptions;

    @Mixin
    ImageFormatOption sourceFormat;

    @Option(names = "-l", paramLabel = "SNAPSHOT", description = "Convert SRC's internal snapshot (qcow2), read-only, "
            + "instead of its current state, as qemu-img convert -l: snapshot.id=ID, snapshot.name=NAME, both "
            + "comma-separated (each must match), or an id or name (an id is matched first).")
    String snapshot;

    @Option(names = "-s", paramLabel = "SNAPSHOT_ID_OR_NAME", description = "The same as -l SNAPSHOT_ID_OR_NAME "
            + "(the spelling of older qemu-img releases).")
    String snapshotIdOrName;

    @Option(names = "--overwrite", description = "Replace DST if it is an existing regular file "
            + "(never one of SRC's chain). Without it an existing DST is an error.")
    boolean overwrite;

    /** {@code -S}, {@code -m} and {@code -W}, once checked. */
    private DiskCopy.Tuning tuning = DiskCopy.Tuning.DEFAULT;

    @Parameters(index = "0", paramLabel = "SRC", arity = "0..1",
            description = "Source image (top of its chain; not needed with -o help).")
    Path src;

    @Parameters(index = "1", paramLabel = "DST", arity = "0..1", description = "Image to create.")
    Path dst;

    @Override
    public Integer call() throws Exception {
        ImageFormat format = FormatRegistry.require(outputFormat == null ? "raw" : outputFormat);
        if (FormatHelp.printIfWanted(formatOptions.values, format, vd.out)) {
            return 0;
        }
        if (src == null || dst == null) {
            throw new ParameterException(spec.commandLine(), "Missing required parameter"
                    + (src == null ? "s: 'SRC', 'DST'" : ": 'DST'"));
        }
        Map<String, String> options = FormatOptions.parse(formatOptions.values, spec.commandLine());
        FormatOptions.Backing b = FormatOptions.takeBacking(options, backing, backingFormat, "-B", spec.commandLine());
        backing = b.file();
        backingFormat = b.format();
        if (!cache.equals("none") && !cache.equals("writeback")) {
            throw new ParameterException(spec.commandLine(), "-t " + cache + " is not supported (writeback or "
                    + "none; vd always flushes DST before it returns)");
        }
        if (targetIsZero && !noCreate) {
            throw new ParameterException(spec.commandLine(), "--target-is-zero needs -n (a new DST reads as zeros anyway)");
        }
        if (backingFormat != null && backing == null) {
            throw new ParameterException(spec.commandLine(), "-F needs -B BACKING");
        }
        if (overwrite && noCreate) {
            throw new ParameterException(spec.commandLine(), "--overwrite and -n exclude each other (-n writes into "
                    + "DST, it never replaces it)");
        }
        if (backing != null && noCreate) {
            throw new ParameterException(spec.commandLine(), "-B and -n exclude each other (-B creates DST)");
        }
        if (snapshot != null && snapshotIdOrName != null) {
            throw new ParameterException(spec.commandLine(), "-l and -s exclude each other (-s ID is -l ID)");
        }
        int sparse = sparseBytes();
        if (sparse != DiskCopy.GRAIN_BYTES && compress) {
            throw new ParameterException(spec.commandLine(), "-S and -c exclude each other (compressed clusters are "
                    + "whole clusters)");
        }
        if (parallel != null && (parallel < 1 || parallel > 16)) {
            throw new ParameterException(spec.commandLine(), "-m " + parallel + ": the number of chunks copied at once "
                    + "is 1 to 16");
        }
        if (compress && outOfOrder) {
            throw new ParameterException(spec.commandLine(), "-W and -c exclude each other (compressed clusters are "
                    + "compressed in parallel and written in order)");
        }
        tuning = new DiskCopy.Tuning(sparse, parallel != null ? parallel : DiskCopy.workers(), outOfOrder,
                salvage ? new Salvage() : null);
        if (noCreate) {
            return intoExisting(options);
        }
        if (backing != null && !format.can(Capability.DIFFERENCING)) {
            throw new VdException(format.name() + ": images of this format cannot have a backing file (-B)");
        }
        if (backing != null && compress && format.name().equals("vmdk")) {
            throw new VdException("-c with -B is not supported by vmdk: a stream-optimized image has no backing file");
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
        try (Disk source = openSource(vd.openOptions(common))) {
            if (Files.exists(dst, LinkOption.NOFOLLOW_LINKS)) {
                replace(source);
            }
            long started = System.nanoTime();
            Progress progress = progressOption.bar(vd, source.size());
            DiskCopy.Stats stats;
            if (backing != null && compress) {
                try (Disk parent = Creation.openBacking(dst, backing, backingFormat, vd.openOptions(common))) {
                    stats = convertCompressed(source, format, options, dst, parent, backing, tuning, progress,
                            vd::warn);
                }
            } else if (backing != null) {
                stats = convertOverBacking(source, format, options, progress);
            } else {
                stats = compress && !format.name().equals("vmdk")
                        ? convertCompressed(source, format, options, dst, null, null, tuning, progress, vd::warn)
                        : convert(source, format, options, dst, tuning, cache.equals("none") ? vd::warn : null, progress,
                                vd::warn);
            }
            reportSalvaged();
            double seconds = Math.max(1e-9, (System.nanoTime() - started) / 1e9);
            vd.note(common, String.format(Locale.ROOT, "%s: %s of %s written (%s read) in %.2f s, %.0f MiB/s",
                    dst, Sizes.human(stats.bytesWritten()), Sizes.human(source.size()),
                    Sizes.human(stats.bytesRead()), seconds, source.size() / seconds / (1 << 20)));
        }
        return 0;
    }

    /** --salvage: one warning per range of SRC written as zeros (the first {@link Salvage#REPORTED}, then a count). */
    private void reportSalvaged() {
        if (tuning.salvage() == null) {
            return;
        }
        List<Salvage.Lost> lost = tuning.salvage().lost();
        for (int i = 0; i < Math.min(lost.size(), Salvage.REPORTED); i++) {
            Salvage.Lost l = lost.get(i);
            vd.warn(src + ": bytes " + l.offset() + "-" + (l.offset() + l.length() - 1) + " could not be read and were "
                    + "written as zeros (" + l.why() + ")");
        }
        if (lost.size() > Salvage.REPORTED) {
            long bytes = lost.stream().skip(Salvage.REPORTED).mapToLong(Salvage.Lost::length).sum();
            vd.warn(src + ": " + (lost.size() - Salvage.REPORTED) + " more ranges (" + bytes + " bytes) were written "
                    + "as zeros");
        }
    }

    /** SRC and its chain, or with -l/-s its internal snapshot (read-only). */
    private Disk openSource(OpenOptions open) throws java.io.IOException {
        String key = snapshot != null ? snapshot : snapshotIdOrName;
        return key == null ? sourceFormat.open(src, open) : sourceFormat.openSnapshot(src, key, open);
    }

    /** Bytes of {@code -S} (default {@link DiskCopy#GRAIN_BYTES}), checked as qemu-img checks them. */
    private int sparseBytes() {
        if (sparseSize == null) {
            return DiskCopy.GRAIN_BYTES;
        }
        long v;
        try {
            v = Sizes.parse(sparseSize);
        } catch (IOException | RuntimeException e) {
            v = -1;
        }
        if (v < 0 || v % 512 != 0 || v > (16 << 20)) {
            throw new ParameterException(spec.commandLine(), "-S " + sparseSize + ": the sparse size must be a multiple "
                    + "of 512 up to 16M (0: no sparse detection)");
        }
        return (int) v;
    }

    /**
     * {@code -n}: SRC into the existing DST (an image of -O's format, raw by default, or a block
     * device), which is opened writable (so one in use is refused by its lock) and never deleted.
     */
    private int intoExisting(Map<String, String> options) throws IOException {
        if (!options.isEmpty()) {
            throw new ParameterException(spec.commandLine(), "-o sets the options of a new image; with -n DST is not "
                    + "created");
        }
        if (compress) {
            throw new VdException("-c with -n is not supported: compressed clusters are written only into a new "
                    + "image (convert into a new file instead)");
        }
        if (!Files.exists(dst)) {
            throw new VdException(dst + ": no such file (-n writes into an existing image or device)");
        }
        ImageFormat format;
        if (outputFormat != null) {
            format = FormatRegistry.require(outputFormat);
        } else {
            format = FormatRegistry.probe(dst);
            if (!format.name().equals("raw")) {
                throw new VdException(dst + ": is a " + format.name() + " image: name its format to write into it (-O "
                        + format.name() + "), or -O raw to overwrite its bytes");
            }
        }
        OpenOptions open = vd.openOptions(common);
        try (Disk source = openSource(open)) {
            refuseIfInChain(source, "not written");
            try (Disk target = Disk.open(dst, format, open.withReadOnly(false).withForceShare(false))) {
                if (target.size() < source.size()) {
                    throw new VdException(dst + ": " + target.size() + " bytes, smaller than the source's "
                            + source.size());
                }
                copyAndFlush(source, target, targetIsZero ? DiskCopy.Target.FRESH : DiskCopy.Target.DIRTY, tuning,
                        progressOption.bar(vd, source.size()), dst, cache.equals("none") ? vd::warn : null);
            }
        }
        reportSalvaged();
        return 0;
    }

    /**
     * {@code -B}: creates DST over BACKING, reopens it with its chain (so zeros are written where
     * the backing file is not zero) and copies what SRC's top layer holds; DST is deleted again
     * when anything fails.
     */
    private DiskCopy.Stats convertOverBacking(Disk source, ImageFormat format, Map<String, String> options,
                                              Progress progress) throws IOException {
        OpenOptions open = vd.openOptions(common);
        List<Path> files;
        try (Disk parent = Creation.openBacking(dst, backing, backingFormat, open)) {
            Image created = Creation.create(format, dst, new CreateOptions(source.size(), options, parent, backing));
            files = created.files();
            try (PartialOutput partial = new PartialOutput(dst, files)) {
                created.close();
                partial.commit();
            }
        }
        try (PartialOutput partial = new PartialOutput(dst, files)) {
            DiskCopy.Stats stats;
            try (Disk target = Disk.open(dst, format, open.withReadOnly(false).withForceShare(false))) {
                stats = copyAndFlush(source, target, DiskCopy.Target.OVER_BACKING, tuning, progress, dst,
                        cache.equals("none") ? vd::warn : null);
            }
            partial.commit();
            return stats;
        }
    }

    /** Refuses when DST is a file of a layer of the source (compared by file identity, so hard links count). */
    private void refuseIfInChain(Disk source, String what) throws IOException {
        for (Image layer : source.layers()) {
            for (Path f : layer.files()) {
                if (Files.isSameFile(f, dst)) {
                    throw new VdException(dst + ": is part of the source chain (" + f + "), " + what);
                }
            }
        }
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
        refuseIfInChain(source, "not replaced");
        String user = ImageLock.holder(dst);
        if (user != null) {
            throw new ImageInUseException(dst + ": " + user + ", not replaced");
        }
        Files.delete(dst);
    }

    /**
     * {@code -c}: creates {@code dst} with the format's {@link CompressedWriter} (refused in one line
     * by formats without one) and copies the source into it (on any failure {@code dst} is deleted
     * again), over
     * {@code parent} (recorded as {@code backing}) when not null: -c -B, only what the source's top
     * layer holds is written, its zeros as zero clusters (as qemu-img convert -c -B). {@code tuning}
     * gives the workers that compress (-m) and --salvage.
     */
    static DiskCopy.Stats convertCompressed(Disk source, ImageFormat format, Map<String, String> options, Path dst,
                                            Disk parent, Path backing, DiskCopy.Tuning tuning, Progress progress,
                                            Consumer<String> warn) throws IOException {
        CompressedWriter out = format.createCompressed(dst, new CreateOptions(source.size(), options, parent, backing));
        try (PartialOutput partial = new PartialOutput(dst, List.of(dst))) {
            boolean copied = false;
            DiskCopy.Stats stats;
            try {
                if (out.size() < source.size()) {
                    throw new VdException(format.name() + ": created " + dst + " with " + out.size()
                            + " bytes, smaller than the source's " + source.size());
                }
                stats = CompressedCopy.copy(source, out,
                        parent == null ? DiskCopy.Target.FRESH : DiskCopy.Target.OVER_BACKING, tuning.salvage(),
                        tuning.workers(), progress::update);
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
     * Copies {@code source} into {@code target} ({@link DiskCopy}, holding what {@code mode} says)
     * and flushes it; the progress bar ends either way. With {@code direct} non-null, DST's data
     * was meant to bypass the page cache ({@link Storage#directWrites()}): where its file system
     * refuses that, {@code direct} is told and the copy goes through the cache.
     */
    private static DiskCopy.Stats copyAndFlush(Disk source, Disk target, DiskCopy.Target mode, DiskCopy.Tuning tuning,
                                               Progress progress, Path dst, Consumer<String> direct)
            throws IOException {
        if (direct != null && !target.top().storage().directWrites()) {
            direct.accept(dst + ": its file system refuses direct I/O (O_DIRECT); written through the page cache");
        }
        boolean copied = false;
        try {
            DiskCopy.Stats stats = DiskCopy.copy(source, target, mode, tuning, progress::update);
            target.flush();
            copied = true;
            return stats;
        } finally {
            progress.finish(copied);
        }
    }

    /**
     * Creates {@code dst} in {@code format} with the source's size and copies the source into it;
     * on any failure (or when the JVM is stopped meanwhile) {@code dst} is deleted again. With
     * {@code direct} non-null, dst's data bypasses the page cache ({@link Storage#directWrites()});
     * where its file system refuses that, {@code direct} is told and the copy goes through the cache.
     * The copy runs as {@code tuning} says ({@link DiskCopy.Tuning}: -S, -m, -W).
     */
    static DiskCopy.Stats convert(Disk source, ImageFormat format, Map<String, String> options, Path dst,
                                  DiskCopy.Tuning tuning,
                                  Consumer<String> direct, Progress progress, Consumer<String> warn)
            throws IOException {
        Image created = Creation.create(format, dst, new CreateOptions(source.size(), options, null, null));
        try (PartialOutput partial = new PartialOutput(dst, created.files())) {
            Disk target = Disk.of(List.of(created));
            boolean copied = false;
            DiskCopy.Stats stats;
            try {
                if (target.size() < source.size()) {
                    throw new VdException(format.name() + ": created " + dst + " with " + target.size()
                            + " bytes, smaller than the source's " + source.size());
                }
                stats = copyAndFlush(source, target, DiskCopy.Target.FRESH, tuning, progress, dst, direct);
                copied = true;
            } finally {
                if (!copied) { // copyAndFlush ended the bar; nothing was drawn before it
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
