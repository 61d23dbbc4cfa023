package org.vdmount.vd;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;

/**
 * A writable disk over read-only evidence (xmount's cache file, as a real differencing image):
 * the evidence chain is opened read-only, exactly as every parent is (O_RDONLY, QEMU-style read
 * locks that refuse writers), and writes land in the overlay file, a differencing image whose
 * parent is the evidence. The overlay's format comes from its extension; it is created with the
 * format's own differencing create when missing and reused when present, after the same parent
 * checks as any chain plus one more: its parent must be the evidence named.
 *
 * <p>The parent is recorded by file name when the overlay lies next to the evidence, else by its
 * absolute path, so {@code qemu-img info --backing-chain} follows it; vdmount itself follows the
 * absolute path with {@code --allow-absolute-parents} or finds the file name in {@code --parent-dir}.
 */
public final class OverlayDisk {
    /** Overlay formats, by extension: the writable differencing formats a user names a case file with. */
    private static final Map<String, String> FORMATS = Map.of(
            "qcow2", "qcow2", "vhdx", "vhdx", "vdi", "vdi", "vhd", "vhd");

    private OverlayDisk() {
    }

    /** The overlay format for {@code overlay}'s extension, or a one-line refusal naming the known ones. */
    public static ImageFormat formatFor(Path overlay) throws UnsupportedFeatureException {
        String name = overlay.getFileName() == null ? "" : overlay.getFileName().toString();
        int dot = name.lastIndexOf('.');
        String ext = dot < 0 ? "" : name.substring(dot + 1).toLowerCase(Locale.ROOT);
        String format = FORMATS.get(ext);
        if (format == null) {
            throw new UnsupportedFeatureException("overlay " + overlay + ": the format comes from the extension, "
                    + "which must be .qcow2, .vhdx, .vdi or .vhd");
        }
        return FormatRegistry.require(format);
    }

    /**
     * Opens {@code evidence}'s chain read-only and {@code overlay} writable on top of it, creating
     * the overlay first if it does not exist.
     *
     * @param evidenceFormat the evidence's format, or null to probe it
     * @param options        read-only options for the evidence (parent dirs, locks, warnings);
     *                       the overlay alone is opened writable
     */
    public static Disk open(Path overlay, Path evidence, ImageFormat evidenceFormat, OpenOptions options)
            throws IOException {
        if (options.forceShare()) {
            throw new VdException("--overlay writes into " + overlay + "; it cannot be combined with --force-share");
        }
        Path overlayAbs = overlay.toAbsolutePath().normalize();
        Path evidenceAbs = evidence.toAbsolutePath().normalize();
        options = once(options); // the evidence chain is opened twice: its warnings are said once
        ImageFormat format = formatFor(overlayAbs);
        OpenOptions evidenceOptions = options.withReadOnly(true);
        List<Path> dirs = new ArrayList<>(options.parentDirs());
        if (evidenceAbs.getParent() != null) {
            dirs.add(evidenceAbs.getParent());
        }
        OpenOptions overlayOptions = options.withReadOnly(false).withParentDirs(dirs);
        List<Path> evidenceFiles;
        try (Disk ev = evidenceFormat == null ? Disk.open(evidenceAbs, evidenceOptions)
                : Disk.open(evidenceAbs, evidenceFormat, evidenceOptions)) {
            evidenceFiles = realPaths(ev.top().files());
            if (realPaths(List.of(overlayAbs)).stream().anyMatch(evidenceFiles::contains)
                    || Files.exists(overlayAbs) && layerFilesOf(ev).contains(overlayAbs.toRealPath())) {
                throw new VdException("overlay " + overlay + " is a file of the evidence chain of " + evidence);
            }
            if (!Files.exists(overlayAbs, LinkOption.NOFOLLOW_LINKS)) {
                create(format, overlayAbs, ev, evidenceAbs);
                options.warn("overlay " + overlayAbs + " created (" + format.name() + ", parent " + evidenceAbs + ")");
            }
        }
        Disk disk = Disk.open(overlayAbs, format, overlayOptions);
        try {
            checkParent(disk, overlayAbs, evidenceAbs, evidenceFiles);
            return disk;
        } catch (IOException | RuntimeException e) {
            try {
                disk.close();
            } catch (IOException suppressed) {
                e.addSuppressed(suppressed);
            }
            throw e;
        }
    }

    /** The options with each distinct warning passed on only the first time. */
    private static OpenOptions once(OpenOptions options) {
        Set<String> said = ConcurrentHashMap.newKeySet();
        return options.withWarnings(w -> {
            if (said.add(w)) {
                options.warn(w);
            }
        });
    }

    /** Creates the overlay over the opened evidence; a failed create leaves no file behind. */
    private static void create(ImageFormat format, Path overlay, Disk evidence, Path evidencePath) throws IOException {
        Path recorded = evidencePath.getParent() != null && evidencePath.getParent().equals(overlay.getParent())
                && format.name().equals("qcow2") ? evidencePath.getFileName() : evidencePath;
        Image created;
        try {
            created = format.create(overlay, new CreateOptions(evidence.size(), Map.of(), evidence, recorded));
        } catch (IOException | RuntimeException e) {
            deleteQuietly(overlay, e);
            throw e;
        }
        try {
            created.flush();
            created.close();
        } catch (IOException | RuntimeException e) {
            try {
                created.close();
            } catch (IOException | RuntimeException suppressed) {
                e.addSuppressed(suppressed);
            }
            deleteQuietly(overlay, e);
            throw e;
        }
    }

    /** The layer below the overlay must be the evidence's top layer (same real files). */
    private static void checkParent(Disk disk, Path overlay, Path evidence, List<Path> evidenceFiles)
            throws IOException {
        List<Image> layers = disk.layers();
        if (layers.size() < 2) {
            throw new ChainException("overlay " + overlay + " has no parent; it is not an overlay of " + evidence);
        }
        Image parent = layers.get(layers.size() - 2);
        List<Path> parentFiles = realPaths(parent.files());
        if (!parentFiles.equals(evidenceFiles)) {
            throw new ChainException("overlay " + overlay + " belongs to " + parent.storage().path()
                    + ", not to " + evidence);
        }
        if (disk.size() < parent.virtualSize()) {
            throw new ChainException("overlay " + overlay + " is " + disk.size() + " bytes, smaller than its evidence "
                    + evidence + " of " + parent.virtualSize() + " bytes");
        }
    }

    private static List<Path> layerFilesOf(Disk disk) throws IOException {
        List<Path> out = new ArrayList<>();
        for (Image layer : disk.layers()) {
            out.addAll(realPaths(layer.files()));
        }
        return out;
    }

    private static List<Path> realPaths(List<Path> files) throws IOException {
        List<Path> out = new ArrayList<>();
        for (Path f : files) {
            out.add(Files.exists(f) ? f.toRealPath() : f.toAbsolutePath().normalize());
        }
        return out;
    }

    private static void deleteQuietly(Path p, Exception cause) {
        try {
            Files.deleteIfExists(p);
        } catch (IOException suppressed) {
            cause.addSuppressed(suppressed);
        }
    }
}
