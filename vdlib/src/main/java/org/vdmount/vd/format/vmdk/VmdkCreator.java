package org.vdmount.vd.format.vmdk;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.SecureRandom;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.UUID;
import org.vdmount.vd.Bytes;
import org.vdmount.vd.CreateOption;
import org.vdmount.vd.CreateOptions;
import org.vdmount.vd.Image;
import org.vdmount.vd.ImageFormat;
import org.vdmount.vd.OpenOptions;
import org.vdmount.vd.UnsupportedFeatureException;
import org.vdmount.vd.storage.FileStorage;
import org.vdmount.vd.storage.Storage;

/**
 * Creates VMDKs in the layouts VMware and QEMU write: hosted sparse extents with 64 KiB grains,
 * 512-entry tables, a redundant directory and every table preallocated; flat extents as sparse host
 * files; split sets of 2 GiB extents ({@code name-s001.vmdk}, {@code name-f001.vmdk}); a stream
 * writer for streamOptimized; children (sparse only) of a VMDK parent.
 */
final class VmdkCreator {
    static final long GRAIN_SECTORS = 128;
    static final long GT_ENTRIES = 512;
    static final long SPLIT_BYTES = 2L << 30;
    static final long MAX_SPARSE_BYTES = (1L << 41) - (256L << 20);
    private static final int DESC_SECTORS = 20;
    private static final SecureRandom RANDOM = new SecureRandom();
    static final CreateOption SUBFORMAT = CreateOption.choice("subformat", "monolithicSparse",
            "file layout (flat = plain data files without grain tables; twoGb = 2 GiB extent files)", "monolithicSparse", "monolithicFlat",
            "twoGbMaxExtentSparse", "twoGbMaxExtentFlat", "streamOptimized");
    static final CreateOption ZEROED_GRAIN = CreateOption.flag("zeroed_grain",
            "record zeroed grains in the grain tables (sparse subformats)");
    static final CreateOption ADAPTER_TYPE = CreateOption.choice("adapter_type", "ide",
            "virtual controller recorded in the descriptor", "ide", "lsilogic", "buslogic", "legacyESX");
    static final CreateOption HWVERSION = CreateOption.text("hwversion", "4", "virtual hardware version");
    static final CreateOption COMPAT6 = CreateOption.flag("compat6", "hardware version 6 (excludes hwversion)");
    static final CreateOption TOOLSVERSION = CreateOption.text("toolsversion", "2147483647",
            "VMware Tools version recorded in the descriptor");
    static final List<CreateOption> OPTIONS = List.of(SUBFORMAT, ZEROED_GRAIN, ADAPTER_TYPE, HWVERSION, COMPAT6,
            TOOLSVERSION);

    private VmdkCreator() {
    }

    static Image create(ImageFormat format, Path path, CreateOptions o) throws IOException {
        String sub = o.get(SUBFORMAT);
        boolean zeroed = o.flag(ZEROED_GRAIN);
        String adapter = o.get(ADAPTER_TYPE);
        String hw = o.get(HWVERSION, null);
        if (o.flag(COMPAT6)) {
            if (hw != null) {
                throw new UnsupportedFeatureException("vmdk: compat6 and hwversion exclude each other");
            }
            hw = "6";
        }
        boolean flat = sub.endsWith("Flat");
        boolean split = sub.startsWith("twoGb");
        boolean stream = sub.equals("streamOptimized");
        if (flat && zeroed) {
            throw new UnsupportedFeatureException("vmdk: zeroed_grain needs a sparse subformat, not " + sub);
        }
        long size = o.virtualSize();
        long parentCid = Descriptor.NO_PARENT;
        String hint = null;
        if (o.parent() != null) {
            if (flat || stream) {
                throw new UnsupportedFeatureException("vmdk: a " + sub + " image cannot have a parent (use a sparse subformat)");
            }
            if (!(o.parent().top() instanceof VmdkImage p)) {
                throw new UnsupportedFeatureException("vmdk: the parent of a VMDK must be a VMDK, not "
                        + o.parent().top().format().name());
            }
            parentCid = p.cid() < 0 ? Descriptor.NO_PARENT : p.cid();
            hint = o.parentPath() != null ? o.parentPath().toString() : p.storage().path().getFileName().toString();
            if (size == 0) {
                size = o.parent().size();
            }
        }
        if (size <= 0) {
            throw new UnsupportedFeatureException("vmdk: virtual size must be positive");
        }
        size = (size + 511) & ~511L; // VMDK sizes are whole sectors (QEMU rounds up too)
        if (!split && !flat && size > MAX_SPARSE_BYTES) {
            throw new UnsupportedFeatureException("vmdk: a " + sub + " extent holds at most 2 TiB (32-bit grain"
                    + " offsets); use twoGbMaxExtentSparse or monolithicFlat");
        }
        if (split && (size + SPLIT_BYTES - 1) / SPLIT_BYTES > Descriptor.MAX_EXTENTS) {
            throw new UnsupportedFeatureException("vmdk: " + size + " bytes need more than " + Descriptor.MAX_EXTENTS
                    + " extents");
        }
        Map<String, String> ddb = ddb(size, adapter, hw == null ? "4" : hw, o.get(TOOLSVERSION));
        long cid = RANDOM.nextInt() & 0x7FFF_FFFFL;
        String name = path.getFileName().toString();
        int dot = name.lastIndexOf('.');
        String stem = dot > 0 ? name.substring(0, dot) : name;
        String ext = dot > 0 ? name.substring(dot) : "";
        List<Path> created = new ArrayList<>();
        try {
            if (!flat && !split) {
                List<ExtentLine> lines = List.of(new ExtentLine(ExtentLine.Access.RW, size / 512, "SPARSE", name, 0));
                String text = Descriptor.render(cid, parentCid, sub, hint, lines, ddb);
                created.add(path);
                if (stream) {
                    return createStream(format, path, size, text);
                }
                writeSparse(path, size / 512, zeroed, text);
            } else {
                List<ExtentLine> lines = new ArrayList<>();
                long chunk = split ? SPLIT_BYTES : size;
                int index = 1;
                for (long off = 0; off < size; off += chunk, index++) {
                    long n = Math.min(chunk, size - off);
                    String file = stem + (split ? String.format(Locale.ROOT, "-%c%03d", flat ? 'f' : 's', index) : "-flat") + ext;
                    Path p = path.resolveSibling(file);
                    created.add(p);
                    if (flat) {
                        try (FileStorage fs = FileStorage.create(p)) {
                            fs.truncate(n); // the whole extent exists; sparse on the host, as qemu-img makes it
                        }
                    } else {
                        writeSparse(p, n / 512, zeroed, null);
                    }
                    lines.add(new ExtentLine(ExtentLine.Access.RW, n / 512, flat ? "FLAT" : "SPARSE", file, 0));
                }
                created.add(path);
                try (FileStorage fs = FileStorage.create(path)) {
                    byte[] text = Descriptor.render(cid, parentCid, sub, hint, lines, ddb).getBytes(StandardCharsets.UTF_8);
                    fs.write(ByteBuffer.wrap(text), 0);
                    fs.force();
                }
            }
            return VmdkOpener.open(format, path, OpenOptions.defaultReadWrite());
        } catch (IOException | RuntimeException e) {
            for (Path p : created) {
                try {
                    Files.deleteIfExists(p);
                } catch (IOException suppressed) {
                    e.addSuppressed(suppressed);
                }
            }
            throw e;
        }
    }

    private static Map<String, String> ddb(long size, String adapter, String hw, String tools) {
        int heads = adapter.equals("ide") ? 16 : 255;
        Map<String, String> m = new LinkedHashMap<>();
        m.put("ddb.virtualHWVersion", hw);
        m.put("ddb.geometry.cylinders", Long.toString(Math.min(size / (63L * heads * 512), 16383)));
        m.put("ddb.geometry.heads", Integer.toString(heads));
        m.put("ddb.geometry.sectors", "63");
        m.put("ddb.adapterType", adapter);
        m.put("ddb.toolsVersion", tools);
        UUID u = UUID.randomUUID();
        String hex = String.format(Locale.ROOT, "%016x%016x", u.getMostSignificantBits(), u.getLeastSignificantBits());
        StringBuilder sb = new StringBuilder();
        for (int i = 0; i < 16; i++) {
            sb.append(i == 0 ? "" : i == 8 ? "-" : " ").append(hex, 2 * i, 2 * i + 2);
        }
        m.put("ddb.uuid", sb.toString());
        return m;
    }

    /**
     * A hosted sparse extent: header, embedded descriptor (if any), redundant directory and its
     * tables, directory and its tables, then grains from a grain-aligned overhead.
     */
    static void writeSparse(Path file, long capacitySectors, boolean zeroed, String descriptor) throws IOException {
        long grains = (capacitySectors + GRAIN_SECTORS - 1) / GRAIN_SECTORS;
        long gtCount = (grains + GT_ENTRIES - 1) / GT_ENTRIES;
        long gtSectors = GT_ENTRIES * 4 / 512;
        long gdSectors = (gtCount * 4 + 511) / 512;
        byte[] desc = descriptor == null ? new byte[0] : descriptor.getBytes(StandardCharsets.UTF_8);
        long descSectors = descriptor == null ? 0 : Math.max(DESC_SECTORS, (desc.length + 1023) / 512);
        long rgd = 1 + descSectors;
        long gd = rgd + gdSectors + gtCount * gtSectors;
        long overhead = (gd + gdSectors + gtCount * gtSectors + GRAIN_SECTORS - 1) / GRAIN_SECTORS * GRAIN_SECTORS;
        SparseHeader h = new SparseHeader(zeroed ? 2 : 1,
                SparseHeader.FLAG_NL_DETECT | SparseHeader.FLAG_RGD | (zeroed ? SparseHeader.FLAG_ZERO_GRAIN : 0),
                capacitySectors, GRAIN_SECTORS, descriptor == null ? 0 : 1, descSectors, GT_ENTRIES, rgd, gd, overhead,
                0, true, SparseHeader.COMPRESSION_NONE);
        try (FileStorage fs = FileStorage.create(file)) {
            ByteBuffer hb = ByteBuffer.allocate(512);
            h.write(Bytes.of(hb.array()));
            fs.write(hb, 0);
            if (desc.length > 0) {
                fs.write(ByteBuffer.wrap(desc), 512);
            }
            writeDirectory(fs, rgd, gdSectors, gtCount, gtSectors);
            writeDirectory(fs, gd, gdSectors, gtCount, gtSectors);
            fs.truncate(overhead * 512);
            fs.force();
        }
    }

    private static void writeDirectory(Storage fs, long at, long gdSectors, long gtCount, long gtSectors)
            throws IOException {
        ByteBuffer b = ByteBuffer.allocate((int) (gdSectors * 512));
        Bytes bytes = Bytes.of(b.array());
        for (int i = 0; i < gtCount; i++) {
            bytes.put32le(i * 4, at + gdSectors + i * gtSectors);
        }
        fs.write(b, at * 512);
    }

    private static Image createStream(ImageFormat format, Path path, long size, String text) throws IOException {
        byte[] desc = text.getBytes(StandardCharsets.UTF_8);
        long descSectors = Math.max(DESC_SECTORS, (desc.length + 1023) / 512);
        long overhead = (1 + descSectors + GRAIN_SECTORS - 1) / GRAIN_SECTORS * GRAIN_SECTORS;
        SparseHeader h = new SparseHeader(3, SparseHeader.FLAG_NL_DETECT | SparseHeader.FLAG_COMPRESSED
                | SparseHeader.FLAG_MARKERS, size / 512, GRAIN_SECTORS, 1, descSectors, GT_ENTRIES, 0,
                SparseHeader.GD_AT_END, overhead, 0, true, SparseHeader.COMPRESSION_DEFLATE);
        FileStorage fs = FileStorage.create(path);
        try {
            ByteBuffer hb = ByteBuffer.allocate(512);
            h.write(Bytes.of(hb.array()));
            fs.write(hb, 0);
            fs.write(ByteBuffer.wrap(desc), 512);
            fs.truncate(overhead * 512);
            Descriptor d = Descriptor.parse(text, path.toString());
            return new VmdkImage(format, fs, "streamOptimized", d, null, List.of(new StreamWriterExtent(fs, h)),
                    false, w -> { });
        } catch (IOException | RuntimeException e) {
            fs.close();
            throw e;
        }
    }
}
