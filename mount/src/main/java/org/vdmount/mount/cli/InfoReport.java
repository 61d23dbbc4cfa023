package org.vdmount.mount.cli;

import java.io.IOException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Collection;
import java.util.Comparator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.UUID;
import java.util.function.Consumer;
import org.vdmount.mount.DiskPartitions;
import org.vdmount.partitions.Partition;
import org.vdmount.partitions.PartitionTable;
import org.vdmount.vd.Disk;
import org.vdmount.vd.Image;
import org.vdmount.vd.ParentReference;
import org.vdmount.vd.Sizes;
import org.vdmount.vd.Truncation;

/**
 * What {@code vd info} reports about an opened chain, and its two renderings: JSON (keys as in
 * design.md section 5) and an aligned human table.
 */
record InfoReport(String filename, String format, String variant, long virtualSize, int logicalSectorSize,
                  int physicalSectorSize, long allocatedBytes, List<Layer> chain, PartitionTable partitions) {

    /**
     * One layer of the chain. files = every host file (descriptor and extents, data file);
     * actualSize = host bytes allocated over them; allocatedBytes = virtual data held;
     * parentLocators and files only in JSON (formats show theirs among the details);
     * missing = the guest ranges lost by a file cut short, null unless opened with allowTruncated.
     */
    record Layer(String filename, List<String> files, String format, String variant, long virtualSize, UUID uuid,
                 UUID parentUuid, List<String> parentLocators, long actualSize, long allocatedBytes,
                 Map<String, Object> details, List<Truncation.Range> missing, long clusterSize) {
    }

    /** Ranges listed in the human output; the rest are counted (JSON lists every one). */
    private static final int HUMAN_RANGES = 16;

    /** A format's details with vd's one key style (design: kebab-case everywhere in --json). */
    @SuppressWarnings("unchecked")
    private static Map<String, Object> kebabDetails(Map<String, Object> details) {
        return (Map<String, Object>) Json.kebabKeys(details);
    }

    /** The report of an opened disk; {@code allowTruncated}: it was opened so, list what is missing. */
    static InfoReport of(Disk disk, Consumer<String> warnings, boolean allowTruncated) throws IOException {
        List<Layer> layers = new ArrayList<>();
        for (Image img : disk.layers()) {
            ParentReference parent = img.parent();
            List<Truncation.Range> missing = null;
            if (allowTruncated) {
                missing = disk.truncations(img).stream().flatMap(t -> t.missing().stream())
                        .sorted(Comparator.comparingLong(Truncation.Range::start)).toList();
            }
            layers.add(new Layer(img.storage().path().toString(),
                    img.files().stream().map(Path::toString).toList(), img.format().name(), img.variant(),
                    img.virtualSize(), img.uuid(), parent == null ? null : parent.uuid(),
                    parent == null ? List.of() : parent.locators(), img.hostAllocatedBytes(),
                    img.allocatedBytes(), kebabDetails(img.details()), missing, clusterSize(img)));
        }
        Image top = disk.top();
        return new InfoReport(top.storage().path().toString(), top.format().name(), top.variant(), disk.size(),
                top.logicalSectorSize(), top.physicalSectorSize(), disk.allocatedBytes(), layers,
                DiskPartitions.read(disk, warnings));
    }

    /**
     * The allocation unit qemu-img info reports as cluster-size; 0 where it reports none: raw
     * files, fixed VHDs and flat VMDK extents (block/vpc.c, block/vmdk.c get_info).
     */
    private static long clusterSize(Image img) {
        String f = img.format().name();
        String v = img.variant();
        boolean none = f.equals("raw") || f.equals("vhd") && v.equals("fixed")
                || f.equals("vmdk") && !(v.contains("Sparse") || v.equals("streamOptimized"));
        return none ? 0 : img.blockSize();
    }

    // ---- JSON -------------------------------------------------------------------------------

    Map<String, Object> toJson() {
        Map<String, Object> m = new LinkedHashMap<>();
        m.put("filename", filename);
        m.put("format", format);
        m.put("variant", variant);
        m.put("virtual-size", virtualSize);
        m.put("logical-sector-size", logicalSectorSize);
        m.put("physical-sector-size", physicalSectorSize);
        m.put("allocated-bytes", allocatedBytes);
        m.putAll(qemuKeys(chain.size() - 1));
        List<Object> layers = new ArrayList<>();
        for (Layer l : chain) {
            layers.add(layerJson(l));
        }
        m.put("chain", layers);
        m.put("partition-scheme", scheme());
        m.put("partition-sector-size", partitions.sectorSize());
        List<Object> parts = new ArrayList<>();
        for (Partition p : partitions.partitions()) {
            Map<String, Object> j = new LinkedHashMap<>();
            j.put("number", p.number());
            j.put("start", p.startByte());
            j.put("length", p.lengthBytes());
            j.put("scheme", p.scheme().name().toLowerCase(Locale.ROOT));
            j.put("type", p.typeCode());
            j.put("type-name", p.typeName());
            j.put("name", p.name());
            j.put("uuid", p.uuid());
            j.put("bootable", p.bootable());
            parts.add(j);
        }
        m.put("partitions", parts);
        return m;
    }

    /**
     * {@code --backing-chain}: one object per layer, the top first, as qemu-img info
     * --backing-chain --output=json prints them: each layer's keys with qemu-img's.
     */
    List<Object> toJsonChain() {
        List<Object> out = new ArrayList<>();
        for (int i = chain.size() - 1; i >= 0; i--) {
            Map<String, Object> j = layerJson(chain.get(i));
            j.putAll(qemuKeys(i));
            out.add(j);
        }
        return out;
    }

    private static Map<String, Object> layerJson(Layer l) {
        Map<String, Object> j = new LinkedHashMap<>();
        j.put("filename", l.filename);
        j.put("files", l.files);
        j.put("format", l.format);
        j.put("variant", l.variant);
        j.put("virtual-size", l.virtualSize);
        j.put("uuid", l.uuid);
        j.put("parent-uuid", l.parentUuid);
        j.put("parent-locators", l.parentLocators);
        j.put("actual-size", l.actualSize);
        j.put("allocated-bytes", l.allocatedBytes);
        j.put("details", l.details);
        if (l.missing != null) {
            j.put("missing-ranges", l.missing.stream().map(r -> {
                Map<String, Object> range = new LinkedHashMap<>();
                range.put("start", r.start());
                range.put("length", r.length());
                return range;
            }).toList());
        }
        return j;
    }

    /**
     * qemu-img info's keys (QAPI ImageInfo) for layer {@code i}, so scripts written for
     * {@code qemu-img info --output=json} read vd's: actual-size, cluster-size, dirty-flag,
     * backing-filename (as recorded), full-backing-filename (the file opened as the parent),
     * backing-filename-format (as recorded; a VMDK's is vmdk), encrypted, and format-specific for qcow2 and vmdk.
     */
    private Map<String, Object> qemuKeys(int i) {
        Layer l = chain.get(i);
        Map<String, Object> d = l.details;
        Map<String, Object> q = new LinkedHashMap<>();
        q.put("actual-size", l.actualSize);
        if (l.clusterSize > 0) {
            q.put("cluster-size", l.clusterSize);
        }
        q.put("dirty-flag", Boolean.TRUE.equals(d.get("dirty")) || Boolean.TRUE.equals(d.get("need-check")));
        if (!l.parentLocators.isEmpty()) {
            q.put("backing-filename", l.parentLocators.get(0));
        }
        if (i > 0) {
            q.put("full-backing-filename", chain.get(i - 1).filename);
        }
        if (d.get("backing-format") != null) {
            q.put("backing-filename-format", d.get("backing-format"));
        } else if (l.format.equals("vmdk") && !l.parentLocators.isEmpty()) {
            q.put("backing-filename-format", "vmdk"); // a VMDK's parent is a VMDK (block/vmdk.c sets it so)
        }
        if (l.format.equals("luks") || d.containsKey("encrypt-format") || d.containsKey("encryption")) {
            q.put("encrypted", true);
        }
        Map<String, Object> specific = formatSpecific(l);
        if (specific != null) {
            q.put("format-specific", specific);
        }
        return q;
    }

    /** qemu-img's format-specific object where vd's details hold the same values: qcow2, vmdk. */
    private static Map<String, Object> formatSpecific(Layer l) {
        Map<String, Object> d = l.details;
        Map<String, Object> data = new LinkedHashMap<>();
        if (l.format.equals("qcow2")) {
            for (String k : List.of("compat", "compression-type", "lazy-refcounts", "refcount-bits", "corrupt",
                    "extended-l2", "data-file", "data-file-raw")) {
                if (d.containsKey(k)) {
                    data.put(k, d.get(k));
                }
            }
        } else if (l.format.equals("vmdk") && d.get("cid") instanceof String cid
                && d.get("parent-cid") instanceof String parentCid) {
            data.put("cid", Long.parseLong(cid, 16));
            data.put("parent-cid", Long.parseLong(parentCid, 16));
            data.put("create-type", d.get("create-type"));
            if (d.get("extents") instanceof List<?> extents) {
                data.put("extents", vmdkExtents(l, extents));
            }
        } else {
            return null;
        }
        Map<String, Object> fs = new LinkedHashMap<>();
        fs.put("type", l.format);
        fs.put("data", data);
        return fs;
    }

    /**
     * qemu-img's extents of a VMDK (block/vmdk.c vmdk_get_extent_info): compressed (stream
     * optimized only), virtual-size, filename (the layer's path as given, joined with the name the
     * descriptor records), cluster-size (sparse only), format: the descriptor's type, or "" for a
     * sparse file holding its own descriptor, which qemu opens without reading extent lines.
     */
    private static List<Map<String, Object>> vmdkExtents(Layer l, List<?> extents) {
        List<Map<String, Object>> out = new ArrayList<>();
        Path given = Path.of(l.filename);
        for (Object o : extents) {
            if (!(o instanceof Map<?, ?> x) || x.get("filename") == null) {
                continue; // a ZERO extent has no file, and qemu lists none
            }
            Map<String, Object> q = new LinkedHashMap<>();
            if (Boolean.TRUE.equals(x.get("compressed"))) {
                q.put("compressed", true);
            }
            q.put("virtual-size", x.get("virtual-size"));
            Path file = given.resolveSibling(String.valueOf(x.get("filename")));
            q.put("filename", file.toString());
            if (x.get("cluster-size") != null) {
                q.put("cluster-size", x.get("cluster-size"));
            }
            q.put("format", file.equals(given) ? "" : x.get("type"));
            out.add(q);
        }
        return out;
    }

    private String scheme() {
        return partitions.scheme().name().toLowerCase(Locale.ROOT);
    }

    // ---- human ------------------------------------------------------------------------------

    String toHuman() {
        StringBuilder sb = new StringBuilder();
        TextTable head = new TextTable(false, false);
        head.row("image:", filename);
        head.row("format:", format + " (" + variant + ")");
        head.row("virtual size:", size(virtualSize));
        head.row("sector size:", logicalSectorSize + " bytes"
                + (physicalSectorSize != logicalSectorSize ? " (physical " + physicalSectorSize + ")" : ""));
        head.row("allocated:", size(allocatedBytes) + " in " + chain.size()
                + (chain.size() == 1 ? " layer" : " layers"));
        head.row("disk size:", size(chain.stream().mapToLong(Layer::actualSize).sum()));
        head.row("partitions:", partitions.partitions().isEmpty() ? scheme() : scheme() + ", "
                + partitions.partitions().size() + " (" + partitions.sectorSize() + "-byte sectors)");
        sb.append(head.render(""));

        sb.append("chain (base first):\n");
        for (int i = 0; i < chain.size(); i++) {
            Layer l = chain.get(i);
            sb.append("  [").append(i + 1).append("] ").append(l.filename).append('\n');
            TextTable t = new TextTable(false, false);
            t.row("format:", l.format + " (" + l.variant + ")");
            t.row("virtual size:", size(l.virtualSize));
            t.row("uuid:", l.uuid == null ? "-" : l.uuid);
            t.row("parent uuid:", l.parentUuid == null ? "-" : l.parentUuid);
            t.row("allocated:", size(l.allocatedBytes));
            t.row("disk size:", size(l.actualSize));
            if (l.missing != null) {
                t.row("missing ranges:", missingText(l.missing));
            }
            for (Map.Entry<String, Object> e : l.details.entrySet()) {
                Object v = e.getValue();
                t.row(e.getKey() + ":", v instanceof Collection<?> c
                        ? String.join(", ", c.stream().map(InfoReport::humanItem).toList()) : v);
            }
            sb.append(t.render("      "));
        }

        if (!partitions.partitions().isEmpty()) {
            sb.append("partition table:\n");
            TextTable t = new TextTable(true, true, true, false, false, false, false);
            t.row("#", "start", "length", "size", "type", "name", "flags");
            for (Partition p : partitions.partitions()) {
                String type = p.typeName().equals(p.typeCode()) ? p.typeCode() : p.typeName() + " (" + p.typeCode() + ")";
                t.row(p.number(), p.startByte(), p.lengthBytes(), Sizes.human(p.lengthBytes()), type, p.name(),
                        p.bootable() ? "boot" : "");
            }
            sb.append(t.render("  "));
        }
        return sb.toString();
    }

    /** A list item of a format's details: a map (a VMDK extent, say) as "key=value key=value". */
    private static String humanItem(Object item) {
        if (item instanceof Map<?, ?> m) {
            return String.join(" ", m.entrySet().stream().map(e -> e.getKey() + "=" + e.getValue()).toList());
        }
        return String.valueOf(item);
    }

    /** "none", or "2097152-8388607 (6.0 MiB), ..." with the first few ranges and a count of the rest. */
    private static String missingText(List<Truncation.Range> missing) {
        if (missing.isEmpty()) {
            return "none";
        }
        String s = String.join(", ", missing.stream().limit(HUMAN_RANGES)
                .map(r -> r + " (" + Sizes.human(r.length()) + ")").toList());
        long total = missing.stream().mapToLong(Truncation.Range::length).sum();
        return s + (missing.size() > HUMAN_RANGES ? " and " + (missing.size() - HUMAN_RANGES) + " more" : "")
                + "; " + total + " bytes read as zeros";
    }

    /** "64.0 MiB (67108864 bytes)". */
    static String size(long bytes) {
        return bytes < 1024 ? bytes + " bytes" : Sizes.human(bytes) + " (" + bytes + " bytes)";
    }
}
