package org.vdmount.vd.format.vmdk;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.file.Files;
import java.nio.file.InvalidPathException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.vdmount.vd.Bytes;
import org.vdmount.vd.ContainmentException;
import org.vdmount.vd.CorruptImageException;
import org.vdmount.vd.ImageFormat;
import org.vdmount.vd.NotThisFormatException;
import org.vdmount.vd.OpenOptions;
import org.vdmount.vd.PathPolicy;
import org.vdmount.vd.UnsupportedFeatureException;
import org.vdmount.vd.VdException;
import org.vdmount.vd.storage.FileStorage;
import org.vdmount.vd.storage.ReadOnlyView;
import org.vdmount.vd.storage.Storage;
import org.vdmount.vd.storage.ZeroTailStorage;

/**
 * Opens a VMDK from any of its entry points: a text descriptor, a hosted sparse file with an
 * embedded descriptor (monolithicSparse, streamOptimized), or a bare COWD / seSparse extent.
 * Extent file names come from an untrusted descriptor: they are resolved inside the descriptor's
 * directory only (no absolute paths, no "..", no link leading out: {@link PathPolicy}) unless
 * {@link OpenOptions#allowAbsoluteParents()}.
 */
final class VmdkOpener {
    private final ImageFormat format;
    private final Path path;
    private final OpenOptions options;
    private final Map<String, Storage> opened = new LinkedHashMap<>();

    private VmdkOpener(ImageFormat format, Path path, OpenOptions options) {
        this.format = format;
        this.path = path;
        this.options = options;
    }

    static VmdkImage open(ImageFormat format, Path path, OpenOptions options) throws IOException {
        VmdkOpener o = new VmdkOpener(format, path, options);
        try {
            VmdkImage img = o.openImage();
            if (!options.readOnly()) {
                String why = img.whyNotWritable();
                if (why != null) {
                    throw new UnsupportedFeatureException(why);
                }
            }
            return img;
        } catch (IOException | RuntimeException e) {
            o.closeAll(e);
            throw e;
        }
    }

    private VmdkImage openImage() throws IOException {
        Storage main = storage(path, options.readOnly());
        long size = main.size();
        ByteBuffer head = ByteBuffer.allocate((int) Math.min(size, 512));
        main.read(head, 0);
        Bytes hb = Bytes.of(head.array());
        if (size >= 512 && SparseHeader.hasMagic(hb)) {
            return openSparseFile(main, SparseHeader.parse(hb));
        }
        if (size >= CowdHeader.SIZE && CowdHeader.hasMagic(hb)) {
            return single(main, "vmfsSparse", CowdExtent.open(main, -1));
        }
        if (size >= 512 && SeSparseHeader.hasMagic(hb)) {
            return single(main, "seSparse", SeSparseExtent.open(main, -1));
        }
        if (size > Descriptor.MAX_BYTES) {
            throw new NotThisFormatException("vmdk: " + path + " is neither a sparse extent nor a descriptor"
                    + " (text descriptors are at most " + Descriptor.MAX_BYTES + " bytes)");
        }
        String text = readText(main, 0, (int) size);
        if (!Descriptor.looksLikeDescriptor(text)) {
            throw new NotThisFormatException("vmdk: " + path + " is no VMDK (no KDMV/COWD signature, no descriptor)");
        }
        Descriptor d = Descriptor.parse(text, path.toString());
        return fromDescriptor(main, d, new VmdkImage.DescriptorSlot(main, 0, -1));
    }

    /** A hosted sparse file: its own single extent, or a descriptor container (capacity 0). */
    private VmdkImage openSparseFile(Storage main, SparseHeader h) throws IOException {
        Descriptor d = null;
        VmdkImage.DescriptorSlot slot = null;
        long fileSize = main.size();
        long descOff = h.descriptorOffset();
        long descSectors = h.descriptorSectors();
        if (descOff > 0 && descSectors > 0) {
            if (descOff > fileSize / 512 || descSectors > Descriptor.MAX_BYTES / 512) {
                throw new CorruptImageException("vmdk", path, "sparse header", 0x1C, "embedded descriptor at sector "
                        + descOff + " of " + descSectors + " sectors lies outside the file or exceeds "
                        + Descriptor.MAX_BYTES + " bytes");
            }
            int len = (int) Math.min(descSectors * 512, fileSize - descOff * 512);
            String text = readText(main, descOff * 512, len);
            if (!text.isBlank()) {
                d = Descriptor.parse(text, path + " at 0x" + Long.toHexString(descOff * 512));
                slot = new VmdkImage.DescriptorSlot(main, descOff * 512, descSectors * 512);
            }
        }
        if (h.capacitySectors() == 0 && d != null) {
            return fromDescriptor(main, d, slot); // descriptor kept inside a sparse container (QEMU reads these)
        }
        SparseExtent ext = SparseExtent.open(main, -1, options::warn);
        if (d != null && d.extents().size() == 1 && d.extents().get(0).sectors() != h.capacitySectors()) {
            options.warn("vmdk: the descriptor embedded in " + path + " gives its extent " + d.extents().get(0).sectors()
                    + " sectors, the sparse header's capacity at 0x0C is " + h.capacitySectors()
                    + " sectors; the capacity is used");
        }
        if (d != null && d.extents().size() > 1) {
            options.warn("vmdk: the descriptor embedded in " + path + " lists " + d.extents().size()
                    + " extents; only this file's data is used");
        }
        String variant = d != null ? d.createType() : ext.header.compressed() ? "streamOptimized" : "monolithicSparse";
        return new VmdkImage(format, main, variant, d, slot, List.of(ext), options.readOnly(), options::warn);
    }

    private VmdkImage single(Storage main, String variant, Extent e) {
        return new VmdkImage(format, main, variant, null, null, List.of(e), options.readOnly(), options::warn);
    }

    private VmdkImage fromDescriptor(Storage main, Descriptor d, VmdkImage.DescriptorSlot slot) throws IOException {
        List<Extent> extents = new ArrayList<>();
        long total = 0;
        int n = 0;
        for (ExtentLine line : d.extents()) {
            n++;
            if (line.sectors() == 0) {
                continue;
            }
            long bytes = line.sectors() * 512;
            try {
                total = Math.addExact(total, bytes);
            } catch (ArithmeticException e) {
                throw new CorruptImageException("vmdk: corrupt descriptor in " + path + ": extents add up past 2^63 bytes");
            }
            extents.add(openExtent(line, n, bytes));
        }
        if (extents.isEmpty()) {
            throw new CorruptImageException("vmdk: corrupt descriptor in " + path + ": no extents");
        }
        return new VmdkImage(format, main, d.createType(), d, slot, extents, options.readOnly(), options::warn);
    }

    private Extent openExtent(ExtentLine line, int n, long bytes) throws IOException {
        String type = line.type();
        if (type.equals("ZERO")) {
            return new ZeroExtent(bytes, null);
        }
        if (line.access() == ExtentLine.Access.NOACCESS) {
            return new ZeroExtent(bytes, "vmdk: extent " + n + " (" + line.fileName() + ") of " + path + " is NOACCESS");
        }
        boolean ro = options.readOnly() || line.access() == ExtentLine.Access.RDONLY;
        switch (type) {
            case "FLAT", "VMFS" -> {
                Storage st = storage(resolve(line.fileName()), ro);
                long start = line.offsetSectors() * 512;
                if (st.size() < start + bytes && !options.zeroTail()) { // else TruncationScan warns
                    options.warn("vmdk: flat extent " + st.path() + " has " + st.size() + " bytes, the descriptor needs "
                            + (start + bytes) + "; the missing bytes read as zeros");
                }
                return new FlatExtent(st, start, bytes, !ro);
            }
            case "SPARSE", "VMFSSPARSE", "SESPARSE" -> {
                Storage st = storage(resolve(line.fileName()), ro);
                ByteBuffer head = ByteBuffer.allocate(16);
                st.read(head, 0);
                Bytes hb = Bytes.of(head.array());
                if (SparseHeader.hasMagic(hb)) {
                    return SparseExtent.open(st, bytes, options::warn);
                }
                if (CowdHeader.hasMagic(hb)) {
                    return CowdExtent.open(st, bytes);
                }
                if (SeSparseHeader.hasMagic(hb)) {
                    return SeSparseExtent.open(st, bytes);
                }
                throw new CorruptImageException("vmdk: extent file " + st.path() + " (" + type + " in " + path
                        + ") has no KDMV, COWD or seSparse signature");
            }
            case "VMFSRDM", "VMFSRAW", "VMFSRDMP" -> throw new UnsupportedFeatureException("vmdk: " + path
                    + " maps a raw device (" + type + "); open the device itself");
            default -> throw new UnsupportedFeatureException("vmdk: extent type '" + type + "' in " + path);
        }
    }

    /**
     * The extent file named in the descriptor, as a real path that {@link PathPolicy} admits (inside
     * the descriptor's directory or a --parent-dir, links resolved). An absolute name or one with
     * ".." is followed only with allowAbsoluteParents, else its last component is looked up next
     * to the descriptor (images copied off a VMFS datastore keep absolute names); a Windows
     * absolute name always by its last component.
     */
    private Path resolve(String name) throws VdException {
        Path dir = path.toAbsolutePath().normalize().getParent();
        PathPolicy policy = PathPolicy.forImage(path, options);
        String n = name.replace('\\', '/');
        boolean windowsAbsolute = n.length() >= 2 && n.charAt(1) == ':' || n.startsWith("//");
        boolean absolute = windowsAbsolute || n.startsWith("/");
        boolean dotDot = ("/" + n + "/").contains("/../");
        String base = n.substring(n.lastIndexOf('/') + 1);
        Path local;
        Path p;
        try {
            local = base.isEmpty() || base.equals("..") || base.equals(".") ? null : dir.resolve(base);
            p = windowsAbsolute ? local : absolute ? Path.of(n) : dir.resolve(n);
        } catch (InvalidPathException e) {
            throw new CorruptImageException("vmdk: corrupt descriptor in " + path + ": invalid extent file name '"
                    + name + "'");
        }
        if ((absolute || dotDot) && !options.allowAbsoluteParents()) {
            Path real = local == null ? null : admit(policy, local, name);
            if (real == null || !Files.isRegularFile(real)) {
                throw new UnsupportedFeatureException("vmdk: extent file '" + name + "' named in " + path
                        + " lies outside the descriptor's directory; refused (allow absolute parents to follow it)");
            }
            options.warn("vmdk: extent file '" + name + "' named in " + path + " taken from the descriptor's"
                    + " directory: " + real);
            return real;
        }
        Path real = p == null ? null : admit(policy, p, name);
        if (real == null || !Files.isRegularFile(real)) {
            throw new VdException("vmdk: extent file '" + name + "' named in " + path + " not found (" + p + ")");
        }
        return real;
    }

    private static Path admit(PathPolicy policy, Path candidate, String name) throws ContainmentException {
        try {
            return policy.admit(candidate, name);
        } catch (ContainmentException e) {
            throw new ContainmentException("vmdk: extent file of " + e.getMessage());
        }
    }

    /**
     * One storage per file and mode. A read-only extent of a file another extent writes reads
     * through a {@link ReadOnlyView} of that writable storage: a second, read-only open of the file
     * would conflict with the writable one's locks ({@link org.vdmount.vd.storage.ImageLock}).
     */
    private Storage storage(Path p, boolean readOnly) throws IOException {
        String path = p.toAbsolutePath().normalize().toString();
        String key = path + (readOnly ? "\0ro" : "\0rw");
        Storage s = opened.get(key);
        if (s == null && readOnly && opened.containsKey(path + "\0rw")) {
            return new ReadOnlyView(opened.get(path + "\0rw"));
        }
        if (s == null) {
            s = ZeroTailStorage.wrapIf(FileStorage.open(p, readOnly), options);
            opened.put(key, s);
        }
        return s;
    }

    private static String readText(Storage st, long pos, int len) throws IOException {
        ByteBuffer b = ByteBuffer.allocate(len);
        st.readFully(b, pos, "vmdk", "descriptor");
        return Descriptor.decode(b.array(), len);
    }

    private void closeAll(Throwable cause) {
        for (Storage s : opened.values()) {
            try {
                s.close();
            } catch (IOException e) {
                cause.addSuppressed(e);
            }
        }
    }
}
