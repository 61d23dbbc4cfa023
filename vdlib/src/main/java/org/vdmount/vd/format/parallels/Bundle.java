package org.vdmount.vd.format.parallels;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.InvalidPathException;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.UUID;
import org.vdmount.vd.ContainmentException;
import org.vdmount.vd.CorruptImageException;
import org.vdmount.vd.Disk;
import org.vdmount.vd.FormatRegistry;
import org.vdmount.vd.Image;
import org.vdmount.vd.ImageFormat;
import org.vdmount.vd.OpenOptions;
import org.vdmount.vd.ParentReference;
import org.vdmount.vd.PathPolicy;
import org.vdmount.vd.TruncatedImageException;
import org.vdmount.vd.UnsupportedFeatureException;
import org.vdmount.vd.VdException;
import org.vdmount.vd.storage.FileStorage;
import org.vdmount.vd.storage.Storage;
import org.vdmount.vd.storage.StorageScope;

/**
 * Opens a snapshot of a Parallels bundle ({@code x.hdd/}: {@code DiskDescriptor.xml} and its
 * image files) as a {@link BundleLayer}. The descriptor decides everything: which file holds which
 * range of which snapshot, and which snapshot is whose parent. File names come from the descriptor,
 * so they are untrusted: each must resolve (links included, {@link PathPolicy}) to a regular file
 * inside the bundle directory; an absolute name is followed only with allowAbsoluteParents, else
 * its last component is looked up in the bundle.
 */
final class Bundle {
    private Bundle() {
    }

    /** Whether a path to create names a bundle: its name ends in {@code .hdd}. */
    static boolean isBundleName(Path path) {
        Path n = path.getFileName();
        return n != null && n.toString().toLowerCase(Locale.ROOT).endsWith(".hdd");
    }

    /**
     * Creates a bundle as Parallels Desktop lays one out: the directory {@code dir}, one image file
     * {@code NAME.hdd.0.{5fbaabe3-...}.hds} (the predefined top GUID; expanding, or plain = raw) and
     * {@code DiskDescriptor.xml} naming it, written last. Returns the bundle opened writable; on
     * failure nothing is left behind.
     */
    static Image create(ParallelsFormat format, Path dir, long size, long cluster, boolean plain) throws IOException {
        if (size <= 0) {
            throw new UnsupportedFeatureException("parallels: virtual size " + size + " must be positive");
        }
        long sectors = (size + 511) / 512;
        String name = dir.getFileName().toString();
        UUID guid = DiskDescriptor.DEFAULT_TOP;
        String file = name + ".0." + DiskDescriptor.braced(guid) + ".hds";
        Files.createDirectory(dir);
        Path image = dir.resolve(file);
        Path descriptor = dir.resolve(DiskDescriptor.FILE_NAME);
        try {
            if (plain) {
                StorageScope.write(image, fs -> fs.truncate(sectors * 512));
            } else {
                format.createFile(image, sectors * 512, cluster).close();
            }
            DiskDescriptor d = new DiskDescriptor(sectors, sectors / (16 * 32), 16, 32, 512, 512,
                    List.of(new DiskDescriptor.Storage(0, sectors, cluster / 512, List.of(
                            new DiskDescriptor.ImageEntry(guid, plain ? "Plain" : "Compressed", file)))),
                    DiskDescriptor.DEFAULT_TOP, List.of(new DiskDescriptor.Shot(guid, DiskDescriptor.NO_PARENT)));
            writeDescriptor(descriptor, d.toXml(name.substring(0, name.length() - ".hdd".length())));
            return format.open(dir, OpenOptions.defaultReadWrite());
        } catch (IOException | RuntimeException e) {
            for (Path p : List.of(descriptor, image, dir)) {
                try {
                    Files.deleteIfExists(p);
                } catch (IOException suppressed) {
                    e.addSuppressed(suppressed);
                }
            }
            throw e;
        }
    }

    /**
     * Adds a snapshot over the top of {@code parent} (a disk whose top is a bundle layer): a new
     * expanding image file at {@code path}, inside the bundle directory, with the parent's cluster
     * size, forced; then the descriptor rewritten atomically with the new Image, a Shot whose
     * ParentGUID is the parent layer's GUID, and TopGUID naming it (prl-xml.txt "Snapshots").
     * Returns the new snapshot opened writable.
     */
    static Image addSnapshot(ParallelsFormat format, Path path, Disk parent, long size)
            throws IOException {
        if (!(parent.top() instanceof BundleLayer top)) {
            throw new UnsupportedFeatureException("parallels: a differencing image is a snapshot inside a bundle: the"
                    + " backing file must be a Parallels bundle (x.hdd) or one of its image files, not "
                    + parent.top().storage().path() + " (" + parent.top().format().name() + ")");
        }
        Path descriptor = top.descriptorPath().toAbsolutePath();
        Path bundleDir = descriptor.getParent().toRealPath();
        Path at = path.toAbsolutePath().normalize();
        if (at.getParent() == null || !at.getParent().toRealPath().equals(bundleDir)) {
            throw new UnsupportedFeatureException("parallels: the new snapshot's image file must lie in the bundle "
                    + bundleDir + " (for example " + bundleDir.resolve(bundleDir.getFileName() + ".1.{GUID}.hds")
                    + "), not " + at);
        }
        if (top.partCount() != 1) {
            throw new UnsupportedFeatureException("parallels: " + descriptor + " describes a split disk; adding a"
                    + " snapshot to it is not supported");
        }
        if (size != 0 && size != top.virtualSize()) {
            throw new UnsupportedFeatureException("parallels: a snapshot has its bundle's size (" + top.virtualSize()
                    + " bytes), not " + size);
        }
        DiskDescriptor d;
        try (Storage desc = FileStorage.open(descriptor, true)) {
            d = DiskDescriptor.parse(read(desc), descriptor);
        }
        if (d.shots().stream().noneMatch(s -> s.guid().equals(top.uuid()))) {
            throw new CorruptImageException("parallels: corrupt descriptor " + descriptor + ": snapshot "
                    + DiskDescriptor.braced(top.uuid()) + " has no Shot element");
        }
        long cluster = top.clusterBytes() != 0 ? top.clusterBytes()
                : d.storages().get(0).blockSizeSectors() != 0 ? d.storages().get(0).blockSizeSectors() * 512 : 1 << 20;
        UUID guid = UUID.randomUUID();
        format.createFile(at, top.virtualSize(), cluster).close();
        try {
            writeDescriptor(descriptor, d.withSnapshot(guid, top.uuid(), List.of(at.getFileName().toString()))
                    .toXml(nameOf(descriptor)));
        } catch (IOException | RuntimeException e) {
            try {
                Files.deleteIfExists(at);
            } catch (IOException suppressed) {
                e.addSuppressed(suppressed);
            }
            throw e;
        }
        return format.open(at, OpenOptions.defaultReadWrite());
    }

    /** The disk's name for the rewritten descriptor: the bundle directory's, less ".hdd". */
    private static String nameOf(Path descriptor) {
        String n = descriptor.toAbsolutePath().getParent().getFileName().toString();
        return n.toLowerCase(Locale.ROOT).endsWith(".hdd") ? n.substring(0, n.length() - 4) : n;
    }

    /**
     * Replaces the descriptor atomically: the text goes to a temporary file beside it, forced, then
     * renamed over it, then the directory is forced; a crash leaves the old descriptor or the new.
     */
    static void writeDescriptor(Path descriptor, String xml) throws IOException {
        Path tmp = descriptor.resolveSibling(DiskDescriptor.FILE_NAME + ".tmp");
        byte[] bytes = xml.getBytes(StandardCharsets.UTF_8);
        try (FileChannel ch = FileChannel.open(tmp,
                StandardOpenOption.CREATE, StandardOpenOption.TRUNCATE_EXISTING,
                StandardOpenOption.WRITE)) {
            ByteBuffer b = ByteBuffer.wrap(bytes);
            while (b.hasRemaining()) {
                ch.write(b);
            }
            ch.force(true);
        }
        Files.move(tmp, descriptor, StandardCopyOption.ATOMIC_MOVE,
                StandardCopyOption.REPLACE_EXISTING);
        try (FileChannel d = FileChannel.open(descriptor.getParent(),
                StandardOpenOption.READ)) {
            d.force(true);
        } catch (IOException e) {
            // some file systems cannot force a directory; the rename itself is atomic
        }
    }

    /** The descriptor of {@code path} when it names a bundle (its directory or its descriptor), else null. */
    static Path descriptorOf(Path path) {
        if (Files.isDirectory(path)) {
            Path d = path.resolve(DiskDescriptor.FILE_NAME);
            return Files.isRegularFile(d) ? d : null;
        }
        Path name = path.getFileName();
        return name != null && name.toString().equalsIgnoreCase(DiskDescriptor.FILE_NAME) ? path : null;
    }

    /** The descriptor beside an image file, if there is one (the file may belong to a bundle). */
    static Path siblingDescriptor(Path file) {
        Path dir = file.toAbsolutePath().normalize().getParent();
        if (dir == null) {
            return null;
        }
        Path d = dir.resolve(DiskDescriptor.FILE_NAME);
        return Files.isRegularFile(d) ? d : null;
    }

    /** Opens the top snapshot of the bundle whose descriptor is {@code descriptorPath}. */
    static Image openTop(ImageFormat format, Path descriptorPath, OpenOptions options) throws IOException {
        return open(format, descriptorPath, null, options);
    }

    /**
     * Opens the snapshot whose image file {@code file} is, if the descriptor beside it names it;
     * returns null when the descriptor does not name the file (a stray image in a bundle directory).
     */
    static Image openByFile(ImageFormat format, Path descriptorPath, Path file, OpenOptions options) throws IOException {
        return open(format, descriptorPath, file.toAbsolutePath().toRealPath(), options);
    }

    private static Image open(ImageFormat format, Path descriptorPath, Path byFile, OpenOptions options)
            throws IOException {
        return StorageScope.own(FileStorage.open(descriptorPath, true), desc -> {
            DiskDescriptor d = DiskDescriptor.parse(read(desc), descriptorPath);
            Resolver r = new Resolver(descriptorPath, options);
            UUID guid = null;
            if (byFile != null) {
                guid = r.snapshotOf(d, byFile);
                if (guid == null) {
                    return null;
                }
            }
            if (guid == null) {
                guid = d.top(descriptorPath);
            }
            List<UUID> chain = d.chainTo(guid, descriptorPath);
            ParentReference parent = null;
            if (chain.size() > 1) {
                UUID pg = chain.get(chain.size() - 2);
                DiskDescriptor.ImageEntry pe = entry(d, d.storages().get(0), pg, descriptorPath);
                parent = new ParentReference(pg, List.of(pe.file()), format.name());
            }
            List<BundleLayer.Part> parts = new ArrayList<>();
            try {
                for (DiskDescriptor.Storage s : d.storages()) {
                    DiskDescriptor.ImageEntry e = entry(d, s, guid, descriptorPath);
                    if (e.plain() && chain.size() > 1) {
                        throw new CorruptImageException("parallels: corrupt descriptor " + descriptorPath
                                + ": snapshot " + DiskDescriptor.braced(guid) + " is a Plain image but has a parent"
                                + " (prl-xml.txt: overlays must be expanding)");
                    }
                    parts.add(part(format, s, e, r.resolve(e.file()), options, descriptorPath));
                }
                BundleLayer layer = new BundleLayer(format, desc, d, guid, parent, parts);
                if (!options.readOnly() && layer.largestPartBlock() != layer.blockSize()) {
                    throw new UnsupportedFeatureException("parallels: " + descriptorPath + ": the storages of snapshot "
                            + DiskDescriptor.braced(guid) + " have different cluster sizes; read-only only");
                }
                return layer;
            } catch (IOException | RuntimeException e) {
                for (BundleLayer.Part p : parts) {
                    try {
                        p.image().close();
                    } catch (IOException suppressed) {
                        e.addSuppressed(suppressed);
                    }
                }
                throw e;
            }
        });
    }

    private static byte[] read(Storage desc) throws IOException {
        long size = desc.size();
        if (size > DiskDescriptor.MAX_BYTES) {
            throw new UnsupportedFeatureException("parallels: descriptor " + desc.path() + " of " + size
                    + " bytes exceeds " + DiskDescriptor.MAX_BYTES);
        }
        ByteBuffer b = ByteBuffer.allocate((int) size);
        desc.readFully(b, 0, "parallels", "descriptor");
        return b.array();
    }

    private static DiskDescriptor.ImageEntry entry(DiskDescriptor d, DiskDescriptor.Storage s, UUID guid, Path file)
            throws CorruptImageException {
        DiskDescriptor.ImageEntry e = s.image(guid);
        if (e == null) {
            throw new CorruptImageException("parallels: corrupt descriptor " + file + ": the Storage of sectors "
                    + s.startSector() + ".." + s.endSector() + " has no Image for snapshot " + DiskDescriptor.braced(guid));
        }
        return e;
    }

    /** Opens one image file of a range and checks it covers the range. */
    private static BundleLayer.Part part(ImageFormat format, DiskDescriptor.Storage s, DiskDescriptor.ImageEntry e,
                                         Path real, OpenOptions options, Path descriptorPath) throws IOException {
        long start = s.startSector() * 512;
        long end = s.endSector() * 512;
        Image img;
        if (e.plain()) {
            img = FormatRegistry.require("raw").open(real, options);
        } else {
            img = StorageScope.open(real, options, st -> ParallelsImage.open(format, st, options));
            long cluster = ((ParallelsImage) img).clusterBytes();
            if (s.blockSizeSectors() != 0 && s.blockSizeSectors() * 512 != cluster) {
                options.warn("parallels: " + descriptorPath + ": Blocksize " + s.blockSizeSectors() + " sectors differs"
                        + " from the cluster size of " + real + " (" + cluster / 512 + " sectors); the image's is used");
            }
        }
        if (img.virtualSize() < end - start) {
            long have = img.virtualSize();
            img.close();
            if (e.plain()) {
                throw new TruncatedImageException("parallels: plain image " + real + " holds " + have
                        + " bytes, its Storage range in " + descriptorPath + " needs " + (end - start));
            }
            throw new CorruptImageException("parallels: " + real + " holds " + have + " bytes, its Storage range in "
                    + descriptorPath + " needs " + (end - start));
        }
        return new BundleLayer.Part(start, end, img);
    }

    /** Resolves the descriptor's file names inside the bundle directory. */
    private static final class Resolver {
        private final Path descriptor;
        private final Path dir;
        private final Path realDir;
        private final PathPolicy policy;
        private final OpenOptions options;

        Resolver(Path descriptor, OpenOptions options) throws IOException {
            this.descriptor = descriptor;
            this.dir = descriptor.toAbsolutePath().normalize().getParent();
            this.realDir = dir.toRealPath();
            this.policy = PathPolicy.forImage(descriptor, options);
            this.options = options;
        }

        /** The real path of the image file named {@code name}, inside the bundle. */
        Path resolve(String name) throws VdException {
            String n = name.replace('\\', '/');
            boolean absolute = n.startsWith("/") || n.length() >= 2 && n.charAt(1) == ':';
            String base = n.substring(n.lastIndexOf('/') + 1);
            Path candidate;
            boolean outside = false;
            try {
                if (absolute && options.allowAbsoluteParents() && n.startsWith("/")) {
                    candidate = Path.of(n);
                } else if (absolute || ("/" + n + "/").contains("/../")) {
                    if (base.isEmpty() || base.equals("..") || base.equals(".")) {
                        throw new UnsupportedFeatureException("parallels: image file '" + name + "' named in " + descriptor
                                + " lies outside the bundle; refused");
                    }
                    candidate = dir.resolve(base);
                    outside = true;
                } else {
                    candidate = dir.resolve(n);
                }
            } catch (InvalidPathException e) {
                throw new CorruptImageException("parallels: corrupt descriptor " + descriptor + ": invalid file name '"
                        + name + "'");
            }
            Path real;
            try {
                real = policy.admit(candidate, name);
            } catch (ContainmentException e) {
                throw new ContainmentException("parallels: image file of " + e.getMessage());
            }
            if (real != null && !options.allowAbsoluteParents() && !real.startsWith(realDir)) {
                throw new ContainmentException("parallels: image file '" + name + "' named in " + descriptor
                        + " really is " + real + ", outside the bundle " + realDir + "; refused");
            }
            if ((real == null || !Files.isRegularFile(real)) && outside) {
                throw new VdException("parallels: image file '" + name + "' named in " + descriptor + " lies outside"
                        + " the bundle (not followed without allowing absolute parents), and the bundle holds no '"
                        + base + "'");
            }
            if (real == null || !Files.isRegularFile(real)) {
                throw new VdException("parallels: image file '" + name + "' named in " + descriptor + " not found ("
                        + candidate + ")");
            }
            return real;
        }

        /** The snapshot whose image (in any range) is the file {@code real}, or null. */
        UUID snapshotOf(DiskDescriptor d, Path real) {
            for (DiskDescriptor.Storage s : d.storages()) {
                for (DiskDescriptor.ImageEntry e : s.images()) {
                    try {
                        if (resolve(e.file()).equals(real)) {
                            return e.guid();
                        }
                    } catch (VdException ignored) {
                        // a missing or refused name is not this file
                    }
                }
            }
            return null;
        }
    }
}
