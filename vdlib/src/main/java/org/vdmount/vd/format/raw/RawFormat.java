package org.vdmount.vd.format.raw;

import static org.vdmount.vd.Capability.*;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.vdmount.vd.ContainmentException;
import org.vdmount.vd.CreateOption;
import org.vdmount.vd.CreateOptions;
import org.vdmount.vd.DeclaredFormat;
import org.vdmount.vd.Image;
import org.vdmount.vd.OpenOptions;
import org.vdmount.vd.PathPolicy;
import org.vdmount.vd.ProbeInput;
import org.vdmount.vd.UnsupportedFeatureException;
import org.vdmount.vd.storage.FileStorage;
import org.vdmount.vd.storage.Preallocation;
import org.vdmount.vd.storage.SplitStorage;
import org.vdmount.vd.storage.Storage;
import org.vdmount.vd.storage.StorageScope;

/**
 * Raw disk images: one file, or a split set {@code x.001, x.002, ...} (also {@code x.000 ...})
 * opened as one disk by naming any file of the set.
 */
public final class RawFormat extends DeclaredFormat {
    private static final Pattern SPLIT = Pattern.compile("(.*)\\.(\\d{3})");
    static final int MAX_SPLIT_PARTS = 10_000;

    /** qemu-img's raw option: off = sparse file, falloc = space reserved (fallocate), full = every byte written. */
    static final CreateOption PREALLOCATION = CreateOption.choice("preallocation", "off",
            "off: a sparse file; falloc: space reserved with fallocate, nothing written; full: every byte written "
                    + "(space reserved)", "off", "falloc", "full");

    public RawFormat() {
        super("raw", List.of("raw", "img", "dd", "bin", "001", "000"),
                reads(WRITE, CREATE, CREATE_FIXED, DISCARD, MULTI_FILE, RESIZE),
                List.of(PREALLOCATION));
    }

    @Override
    public int probe(ProbeInput in) {
        return in.directory() ? 0 : 1;
    }

    @Override
    public Image open(Path path, OpenOptions options) throws IOException {
        List<Path> set = splitSet(path, options);
        Storage storage = set.size() > 1
                ? SplitStorage.open(set, options.readOnly())
                : FileStorage.open(path, options.readOnly());
        return new RawImage(this, storage, set.size() > 1 ? "split" : "flat");
    }

    @Override
    public Image createImage(Path path, CreateOptions options) throws IOException {
        Preallocation prealloc = Preallocation.of(options.get(PREALLOCATION));
        return StorageScope.create(path, fs -> {
            prealloc.reserve(name(), fs, 0, options.virtualSize());
            fs.truncate(options.virtualSize());
            return new RawImage(this, fs, "flat");
        });
    }

    /** Zero runs become holes: the host space comes back, the file keeps its size ({@link RawCompact}). */
    @Override
    public java.util.Optional<org.vdmount.vd.compact.ImageCompactor> compactor() {
        return java.util.Optional.of(new RawCompact());
    }

    /**
     * A raw file's size is the disk's: one truncate, sparse when growing (qemu-img resize of raw).
     * A split set is refused: which part would change is a choice this tool does not make.
     */
    @Override
    public void resize(Image image, long newSize) throws IOException {
        if (image.files().size() > 1) {
            throw new UnsupportedFeatureException("resize is not supported by raw split sets: " + image.storage().path()
                    + " is part 1 of " + image.files().size() + " (join them with 'vd convert' first)");
        }
        image.storage().truncate(newSize);
        image.storage().force();
    }

    /** qemu's modes for a grown raw file: off, falloc, full. */
    @Override
    public java.util.Set<Preallocation> preallocationModes() {
        return java.util.EnumSet.of(Preallocation.OFF, Preallocation.FALLOC, Preallocation.FULL);
    }

    /** The grown area reserved (falloc) or written with zeros (full). */
    @Override
    public void preallocate(Image image, long offset, long length, Preallocation mode) throws IOException {
        mode.reserve(name(), image.storage(), offset, length);
        image.storage().force();
    }

    /**
     * The files of a split set containing {@code path} in order, or just {@code path}. A set
     * starts at .000 or .001 and runs while the next number exists. The members other than the
     * one named are found by name, so they pass {@link PathPolicy}: a member that is a link
     * leading out of the directory is refused, not read as part of the disk.
     */
    static List<Path> splitSet(Path path, OpenOptions options) throws ContainmentException {
        String name = path.getFileName().toString();
        Matcher m = SPLIT.matcher(name);
        if (!m.matches()) {
            return List.of(path);
        }
        String stem = m.group(1);
        Path dir = path.toAbsolutePath().getParent();
        int first = Files.exists(dir.resolve(stem + ".000")) ? 0 : 1;
        List<Path> out = new ArrayList<>();
        for (int i = first; i < MAX_SPLIT_PARTS; i++) {
            Path p = dir.resolve(String.format("%s.%03d", stem, i));
            if (!Files.isRegularFile(p)) {
                break;
            }
            out.add(p);
        }
        if (out.size() <= 1 || !out.contains(path.toAbsolutePath())) {
            return List.of(path);
        }
        PathPolicy policy = PathPolicy.forImage(path, options);
        List<Path> admitted = new ArrayList<>();
        for (Path p : out) {
            Path real = null;
            if (!p.equals(path.toAbsolutePath())) {
                try {
                    real = policy.admit(p, p.getFileName().toString());
                } catch (ContainmentException e) {
                    throw new ContainmentException("raw: split member of " + e.getMessage());
                }
            }
            admitted.add(real != null ? real : p);
        }
        return admitted;
    }
}
