package org.vdmount.vd.format.parallels;

import java.io.ByteArrayInputStream;
import java.io.IOException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.UUID;
import javax.xml.XMLConstants;
import javax.xml.parsers.DocumentBuilder;
import javax.xml.parsers.DocumentBuilderFactory;
import javax.xml.parsers.ParserConfigurationException;
import org.vdmount.vd.CorruptImageException;
import org.vdmount.vd.UnsupportedFeatureException;
import org.w3c.dom.Document;
import org.w3c.dom.Element;
import org.w3c.dom.Node;
import org.xml.sax.SAXException;

/**
 * A bundle's {@code DiskDescriptor.xml} (qemu docs/interop/prl-xml.txt; libphdi "Descriptor file"):
 * the disk's parameters, its storages (one per address range: several make a split disk), each
 * holding one image file per snapshot, and the snapshot tree. Parsed with DTDs and external
 * entities disabled, from at most {@link #MAX_BYTES} bytes; every count is bounded.
 *
 * @param diskSizeSectors    Disk_size: the disk in 512-byte sectors
 * @param cylinders          Cylinders (0 if absent)
 * @param heads              Heads (0 if absent)
 * @param sectors            Sectors per track (0 if absent)
 * @param logicalSectorSize  LogicSectorSize, 512 if absent
 * @param physicalSectorSize PhysicalSectorSize, the logical size if absent
 * @param storages           StorageData/Storage, in address order
 * @param topGuid            the top snapshot: TopGUID, or the predefined top GUID
 * @param shots              Snapshots/Shot
 */
record DiskDescriptor(long diskSizeSectors, long cylinders, long heads, long sectors, int logicalSectorSize,
                      int physicalSectorSize, List<Storage> storages, UUID topGuid, List<Shot> shots) {

    static final String FILE_NAME = "DiskDescriptor.xml";
    static final int MAX_BYTES = 1 << 20;
    static final int MAX_STORAGES = 4096;
    static final int MAX_SHOTS = 4096;
    /** ParentGUID of the root snapshot. */
    static final UUID NO_PARENT = new UUID(0, 0);
    /** prl-xml.txt: the top snapshot's GUID when there is no TopGUID element. */
    static final UUID DEFAULT_TOP = UUID.fromString("5fbaabe3-6958-40ff-92a7-860e329aab41");

    /** One address range of the disk and its image file per snapshot. */
    record Storage(long startSector, long endSector, long blockSizeSectors, List<ImageEntry> images) {
        Storage {
            images = List.copyOf(images);
        }

        /** The image of snapshot {@code guid} in this range, or null. */
        ImageEntry image(UUID guid) {
            return images.stream().filter(i -> i.guid().equals(guid)).findFirst().orElse(null);
        }
    }

    /**
     * One image file.
     *
     * @param type "Compressed" (an expanding image file) or "Plain" (raw)
     * @param file the name as the descriptor gives it (untrusted)
     */
    record ImageEntry(UUID guid, String type, String file) {
        boolean plain() {
            return type.equalsIgnoreCase("Plain");
        }
    }

    /** One snapshot and its parent ({@link #NO_PARENT} for the root). */
    record Shot(UUID guid, UUID parentGuid) {
    }

    DiskDescriptor {
        storages = List.copyOf(storages);
        shots = List.copyOf(shots);
    }

    long diskSizeBytes() {
        return diskSizeSectors * 512;
    }

    /** Whether {@code head} looks like a descriptor (for the probe). */
    static boolean looksLikeDescriptor(byte[] head) {
        String s = new String(head, 0, Math.min(head.length, 4096), java.nio.charset.StandardCharsets.UTF_8);
        return s.contains("<Parallels_disk_image");
    }

    static DiskDescriptor parse(byte[] xml, Path file) throws IOException {
        Document doc;
        try {
            doc = builder().parse(new ByteArrayInputStream(xml));
        } catch (SAXException | IOException | RuntimeException e) { // an unknown encoding is an IOException
            if (e instanceof org.vdmount.vd.VdException v) {
                throw v;
            }
            throw new CorruptImageException("parallels: corrupt descriptor " + file + ": "
                    + String.valueOf(e.getMessage()).replace('\n', ' ').replace('\r', ' '));
        }
        Element root = doc.getDocumentElement();
        if (!root.getTagName().equals("Parallels_disk_image")) {
            throw new CorruptImageException("parallels: " + file + " is not a Parallels disk descriptor (root element <"
                    + root.getTagName() + ">)");
        }
        Element params = child(root, "Disk_Parameters", file, true);
        long diskSize = number(params, "Disk_size", file, true, Long.MAX_VALUE / 512);
        long padding = number(params, "Padding", file, false, Long.MAX_VALUE);
        if (padding != 0) {
            throw new UnsupportedFeatureException("parallels: " + file + ": Disk_Parameters/Padding " + padding
                    + " is not supported (prl-xml.txt: only 0)");
        }
        long lss = number(params, "LogicSectorSize", file, false, 65536);
        long pss = number(params, "PhysicalSectorSize", file, false, 1 << 20);
        int logical = lss == 0 ? 512 : (int) lss;
        if (logical != 512 && logical != 4096) {
            throw new UnsupportedFeatureException("parallels: " + file + ": LogicSectorSize " + logical
                    + " is not supported (512 or 4096)");
        }
        List<Storage> storages = new ArrayList<>();
        Element data = child(root, "StorageData", file, true);
        for (Element s : children(data, "Storage")) {
            if (storages.size() == MAX_STORAGES) {
                throw new UnsupportedFeatureException("parallels: " + file + " has more than " + MAX_STORAGES
                        + " Storage elements");
            }
            long start = number(s, "Start", file, true, diskSize);
            long end = number(s, "End", file, true, diskSize);
            long block = number(s, "Blocksize", file, false, ParallelsHeader.MAX_CLUSTER_BYTES / 512);
            List<ImageEntry> images = new ArrayList<>();
            for (Element i : children(s, "Image")) {
                if (images.size() == MAX_SHOTS) {
                    throw new UnsupportedFeatureException("parallels: " + file + " has more than " + MAX_SHOTS
                            + " Image elements in a Storage");
                }
                String type = text(child(i, "Type", file, true));
                if (!type.equalsIgnoreCase("Plain") && !type.equalsIgnoreCase("Compressed")) {
                    throw new UnsupportedFeatureException("parallels: " + file + ": image type '" + type
                            + "' is not supported (Plain or Compressed)");
                }
                images.add(new ImageEntry(guid(child(i, "GUID", file, true), file), type,
                        text(child(i, "File", file, true))));
            }
            storages.add(new Storage(start, end, block, images));
        }
        checkRanges(storages, diskSize, file);
        UUID top = DEFAULT_TOP;
        List<Shot> shots = new ArrayList<>();
        Element snaps = child(root, "Snapshots", file, false);
        if (snaps != null) {
            Element t = child(snaps, "TopGUID", file, false);
            if (t != null) {
                top = guid(t, file);
            }
            for (Element s : children(snaps, "Shot")) {
                if (shots.size() == MAX_SHOTS) {
                    throw new UnsupportedFeatureException("parallels: " + file + " has more than " + MAX_SHOTS
                            + " Shot elements");
                }
                Element p = child(s, "ParentGUID", file, false);
                shots.add(new Shot(guid(child(s, "GUID", file, true), file), p == null ? NO_PARENT : guid(p, file)));
            }
        }
        return new DiskDescriptor(diskSize, number(params, "Cylinders", file, false, Long.MAX_VALUE),
                number(params, "Heads", file, false, Long.MAX_VALUE), number(params, "Sectors", file, false,
                Long.MAX_VALUE), logical, pss == 0 ? logical : (int) pss, storages, top, shots);
    }

    /** The ranges must tile [0, Disk_size) in order, each non-empty. */
    private static void checkRanges(List<Storage> storages, long diskSize, Path file) throws CorruptImageException {
        if (storages.isEmpty()) {
            throw new CorruptImageException("parallels: corrupt descriptor " + file + ": no Storage element");
        }
        long next = 0;
        for (Storage s : storages) {
            if (s.startSector() != next || s.endSector() <= s.startSector()) {
                throw new CorruptImageException("parallels: corrupt descriptor " + file + ": Storage range "
                        + s.startSector() + ".." + s.endSector() + " does not continue the disk at sector " + next);
            }
            next = s.endSector();
        }
        if (next != diskSize) {
            throw new CorruptImageException("parallels: corrupt descriptor " + file + ": the Storage ranges end at"
                    + " sector " + next + ", Disk_size is " + diskSize);
        }
    }

    /**
     * The chain of snapshot GUIDs from the root to {@code top}, following ParentGUID; a loop, a
     * missing Shot or a chain longer than the Shots is refused.
     */
    List<UUID> chainTo(UUID top, Path file) throws CorruptImageException {
        if (shots.isEmpty()) {
            return List.of(onlyImage(file));
        }
        List<UUID> chain = new ArrayList<>();
        UUID g = top;
        while (!g.equals(NO_PARENT)) {
            UUID cur = g;
            Shot s = shots.stream().filter(x -> x.guid().equals(cur)).findFirst().orElseThrow(() ->
                    new CorruptImageException("parallels: corrupt descriptor " + file + ": snapshot {" + cur
                            + "} has no Shot element"));
            if (chain.contains(g) || chain.size() > shots.size()) {
                throw new CorruptImageException("parallels: corrupt descriptor " + file + ": snapshot {" + g
                        + "} is its own ancestor (ParentGUID loop)");
            }
            chain.add(0, g);
            g = s.parentGuid();
        }
        return chain;
    }

    /** The image GUID of a descriptor without Snapshots: there must be exactly one. */
    private UUID onlyImage(Path file) throws CorruptImageException {
        List<ImageEntry> first = storages.get(0).images();
        if (first.size() != 1) {
            throw new CorruptImageException("parallels: corrupt descriptor " + file + ": " + first.size()
                    + " images but no Snapshots element to order them");
        }
        return first.get(0).guid();
    }

    /**
     * The top snapshot: TopGUID, else the predefined top GUID if a Shot has it (prl-xml.txt), else
     * the one Shot that is nobody's parent; without Snapshots the single image.
     */
    UUID top(Path file) throws CorruptImageException {
        if (shots.isEmpty()) {
            return onlyImage(file);
        }
        if (!topGuid.equals(DEFAULT_TOP) || shots.stream().anyMatch(s -> s.guid().equals(DEFAULT_TOP))) {
            return topGuid;
        }
        List<UUID> leaves = shots.stream().map(Shot::guid)
                .filter(g -> shots.stream().noneMatch(s -> s.parentGuid().equals(g))).toList();
        if (leaves.size() != 1) {
            throw new CorruptImageException("parallels: corrupt descriptor " + file + ": no TopGUID, no Shot with the"
                    + " predefined top GUID " + braced(DEFAULT_TOP) + ", and " + leaves.size() + " snapshots without"
                    + " children: the top snapshot is undefined");
        }
        return leaves.get(0);
    }

    // ---- DOM helpers ----------------------------------------------------------------------------

    private static DocumentBuilder builder() throws IOException {
        try {
            DocumentBuilderFactory f = DocumentBuilderFactory.newInstance();
            f.setFeature("http://apache.org/xml/features/disallow-doctype-decl", true);
            f.setFeature("http://xml.org/sax/features/external-general-entities", false);
            f.setFeature("http://xml.org/sax/features/external-parameter-entities", false);
            f.setFeature(XMLConstants.FEATURE_SECURE_PROCESSING, true);
            f.setAttribute(XMLConstants.ACCESS_EXTERNAL_DTD, "");
            f.setAttribute(XMLConstants.ACCESS_EXTERNAL_SCHEMA, "");
            f.setXIncludeAware(false);
            f.setExpandEntityReferences(false);
            f.setNamespaceAware(false);
            DocumentBuilder b = f.newDocumentBuilder();
            b.setErrorHandler(null);
            return b;
        } catch (ParserConfigurationException e) {
            throw new IOException("parallels: no safe XML parser: " + e.getMessage(), e);
        }
    }

    private static List<Element> children(Element parent, String name) {
        List<Element> out = new ArrayList<>();
        for (Node n = parent.getFirstChild(); n != null; n = n.getNextSibling()) {
            if (n instanceof Element e && e.getTagName().equals(name)) {
                out.add(e);
            }
        }
        return out;
    }

    private static Element child(Element parent, String name, Path file, boolean required)
            throws CorruptImageException {
        List<Element> c = children(parent, name);
        if (c.isEmpty() && required) {
            throw new CorruptImageException("parallels: corrupt descriptor " + file + ": <" + parent.getTagName()
                    + "> has no <" + name + ">");
        }
        return c.isEmpty() ? null : c.get(0);
    }

    private static String text(Element e) {
        return e.getTextContent().strip();
    }

    private static long number(Element parent, String name, Path file, boolean required, long max)
            throws CorruptImageException {
        Element e = child(parent, name, file, required);
        if (e == null) {
            return 0;
        }
        String t = text(e);
        try {
            long v = Long.parseLong(t);
            if (v < 0 || v > max) {
                throw new NumberFormatException();
            }
            return v;
        } catch (NumberFormatException ex) {
            throw new CorruptImageException("parallels: corrupt descriptor " + file + ": <" + name + "> '"
                    + (t.length() > 40 ? t.substring(0, 40) + "..." : t) + "' is not a number from 0 to " + max);
        }
    }

    private static UUID guid(Element e, Path file) throws CorruptImageException {
        String t = text(e);
        String s = t.startsWith("{") && t.endsWith("}") ? t.substring(1, t.length() - 1) : t;
        try {
            if (s.length() != 36) {
                throw new IllegalArgumentException();
            }
            return UUID.fromString(s.toLowerCase(Locale.ROOT));
        } catch (IllegalArgumentException ex) {
            throw new CorruptImageException("parallels: corrupt descriptor " + file + ": <" + e.getTagName() + "> '"
                    + (t.length() > 40 ? t.substring(0, 40) + "..." : t) + "' is not a GUID");
        }
    }

    /**
     * The descriptor as Parallels Desktop lays it out (libphdi "Descriptor file", prl-xml.txt),
     * for a disk named {@code name}. File names are written as given (plain names inside the bundle).
     */
    String toXml(String name) {
        StringBuilder b = new StringBuilder();
        b.append("<?xml version='1.0' encoding='UTF-8'?>\n<Parallels_disk_image Version=\"1.0\">\n");
        b.append("    <Disk_Parameters>\n");
        tag(b, 8, "Disk_size", diskSizeSectors);
        tag(b, 8, "Cylinders", cylinders);
        tag(b, 8, "PhysicalSectorSize", physicalSectorSize);
        tag(b, 8, "LogicSectorSize", logicalSectorSize);
        tag(b, 8, "Heads", heads);
        tag(b, 8, "Sectors", sectors);
        tag(b, 8, "Padding", 0);
        b.append("        <Encryption>\n");
        tag(b, 12, "Engine", braced(NO_PARENT));
        tag(b, 12, "Data", "");
        b.append("        </Encryption>\n");
        tag(b, 8, "UID", braced(UUID.randomUUID()));
        tag(b, 8, "Name", escape(name));
        b.append("        <Miscellaneous>\n");
        tag(b, 12, "CompatLevel", "level2");
        tag(b, 12, "Bootable", 1);
        tag(b, 12, "ChangeState", 0);
        tag(b, 12, "SuspendState", 0);
        b.append("        </Miscellaneous>\n    </Disk_Parameters>\n    <StorageData>\n");
        for (Storage s : storages) {
            b.append("        <Storage>\n");
            tag(b, 12, "Start", s.startSector());
            tag(b, 12, "End", s.endSector());
            tag(b, 12, "Blocksize", s.blockSizeSectors());
            for (ImageEntry i : s.images()) {
                b.append("            <Image>\n");
                tag(b, 16, "GUID", braced(i.guid()));
                tag(b, 16, "Type", i.type());
                tag(b, 16, "File", escape(i.file()));
                b.append("            </Image>\n");
            }
            b.append("        </Storage>\n");
        }
        b.append("    </StorageData>\n    <Snapshots>\n");
        if (!topGuid.equals(DEFAULT_TOP)) {
            tag(b, 8, "TopGUID", braced(topGuid));
        }
        for (Shot s : shots) {
            b.append("        <Shot>\n");
            tag(b, 12, "GUID", braced(s.guid()));
            tag(b, 12, "ParentGUID", braced(s.parentGuid()));
            b.append("        </Shot>\n");
        }
        return b.append("    </Snapshots>\n</Parallels_disk_image>\n").toString();
    }

    /** This descriptor with a new top snapshot {@code guid} over the current top, its file per range from {@code files}. */
    DiskDescriptor withSnapshot(UUID guid, UUID parent, List<String> files) {
        List<Storage> st = new ArrayList<>();
        for (int i = 0; i < storages.size(); i++) {
            Storage s = storages.get(i);
            List<ImageEntry> images = new ArrayList<>(s.images());
            images.add(new ImageEntry(guid, "Compressed", files.get(i)));
            st.add(new Storage(s.startSector(), s.endSector(), s.blockSizeSectors(), images));
        }
        List<Shot> sh = new ArrayList<>(shots);
        sh.add(new Shot(guid, parent));
        return new DiskDescriptor(diskSizeSectors, cylinders, heads, sectors, logicalSectorSize, physicalSectorSize, st,
                guid, sh);
    }

    private static void tag(StringBuilder b, int indent, String name, Object value) {
        b.append(" ".repeat(indent)).append('<').append(name).append('>').append(value).append("</").append(name)
                .append(">\n");
    }

    private static String escape(String s) {
        return s.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;");
    }

    /** A GUID as the descriptor writes it: lower case in braces. */
    static String braced(UUID u) {
        return "{" + u + "}";
    }
}
