package org.vdmount.vd.format.vmdk;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.file.Path;
import java.security.SecureRandom;
import java.util.ArrayList;
import java.util.EnumSet;
import java.util.IdentityHashMap;
import java.util.LinkedHashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Set;
import java.util.UUID;
import java.util.function.Consumer;
import org.vdmount.vd.HostLocation;
import org.vdmount.vd.ImageFormat;
import org.vdmount.vd.MetadataEdit;
import org.vdmount.vd.MetadataField;
import org.vdmount.vd.ParentReference;
import org.vdmount.vd.Run;
import org.vdmount.vd.UnsupportedFeatureException;
import org.vdmount.vd.VdException;
import org.vdmount.vd.WriteResult;
import org.vdmount.vd.format.common.ImageBase;
import org.vdmount.vd.storage.Spans;
import org.vdmount.vd.storage.Storage;

/**
 * One VMDK layer: a descriptor (own file or embedded in a sparse extent) and its extents laid end
 * to end. Requests are dispatched to extents; runs never cross an extent (nor a grain, except
 * where the grains follow each other in the file: {@link GrainMapExtent#map}). The CID is
 * renewed on the first modification of a writable session, as VMware does, so children made
 * against the old content notice.
 */
final class VmdkImage extends ImageBase {
    private static final SecureRandom RANDOM = new SecureRandom();

    /** Where the descriptor lives: a whole file ({@code capacityBytes} -1) or a fixed embedded area. */
    record DescriptorSlot(Storage storage, long offsetBytes, long capacityBytes) {
    }

    private final Storage primary;
    private final String variant;
    private final Extent[] extents;
    private final long[] starts;
    private final DescriptorSlot slot;
    private final Consumer<String> warn;
    private final List<Storage> storages;
    private volatile Descriptor descriptor;
    private volatile boolean cidUpdated;

    VmdkImage(ImageFormat format, Storage primary, String variant, Descriptor descriptor, DescriptorSlot slot,
              List<Extent> extentList, boolean readOnly, Consumer<String> warn) {
        super(format, primary, readOnly, totalSize(extentList), grainBlock(extentList));
        this.primary = primary;
        this.variant = variant;
        this.descriptor = descriptor;
        this.slot = slot;
        this.extents = extentList.toArray(new Extent[0]);
        this.starts = new long[extents.length + 1];
        for (int i = 0; i < extents.length; i++) {
            starts[i + 1] = starts[i] + extents[i].sizeBytes();
        }
        this.warn = warn;
        Set<Storage> seen = java.util.Collections.newSetFromMap(new IdentityHashMap<>());
        List<Storage> all = new ArrayList<>();
        if (primary != null && seen.add(primary)) {
            all.add(primary);
        }
        for (Extent e : extents) {
            if (e.storage() != null && seen.add(e.storage())) {
                all.add(e.storage());
            }
        }
        this.storages = List.copyOf(all);
    }

    private static long totalSize(List<Extent> extents) {
        long sum = 0;
        for (Extent e : extents) {
            sum += e.sizeBytes();
        }
        return sum;
    }

    /** The largest grain (a power of two), or 1 MiB when no extent has grains. */
    private static long grainBlock(List<Extent> extents) {
        long maxGrain = 0;
        for (Extent e : extents) {
            maxGrain = Math.max(maxGrain, e.grainBytes());
        }
        return maxGrain > 0 ? Long.highestOneBit(maxGrain) : 1 << 20;
    }

    /** Why a writable open must be refused, or null. */
    String whyNotWritable() {
        Set<Storage> sparseFiles = java.util.Collections.newSetFromMap(new IdentityHashMap<>());
        for (int i = 0; i < extents.length; i++) {
            if (extents[i].grainBytes() > 0 && !sparseFiles.add(extents[i].storage())) {
                return "vmdk: " + primary.path() + " names the sparse file " + extents[i].storage().path()
                        + " for two extents; writing it is not supported (open read-only)";
            }
            String why = extents[i].whyNotWritable();
            if (why != null) {
                return why;
            }
            if (extents[i].grainBytes() > 0
                    && (extents[i].grainBytes() != blockSize || starts[i] % blockSize != 0)) {
                return "vmdk: extents of " + primary.path() + " have mixed grain sizes or start off a grain"
                        + " boundary; writing them is not supported (open read-only)";
            }
        }
        Descriptor d = descriptor;
        if (d != null && d.text().contains("changeTrackPath")) {
            return "vmdk: changed block tracking is active for " + primary.path()
                    + "; writing here would make it stale (open read-only)";
        }
        return null;
    }

    Descriptor descriptor() {
        return descriptor;
    }

    /** This image's CID, or -1 when it has no descriptor. */
    long cid() {
        Descriptor d = descriptor;
        return d == null ? -1 : d.cid();
    }

    List<Extent> extents() {
        return List.of(extents);
    }

    @Override
    public String variant() {
        return variant;
    }

    @Override
    public long hostAllocatedBytes() throws IOException {
        long sum = 0;
        for (Storage s : storages) {
            sum += s.allocatedBytes();
        }
        return sum;
    }

    /** The descriptor (or monolithic file) first, then every extent file, each once. */
    @Override
    public List<Path> files() {
        Set<Path> out = new LinkedHashSet<>();
        for (Storage s : storages) {
            out.addAll(s.files());
        }
        return List.copyOf(out);
    }

    @Override
    public UUID uuid() {
        Descriptor d = descriptor;
        return d == null ? null : d.uuid();
    }

    /** The CID mapped into a UUID ({@code 0-0-0-0-cid}); children record it as parentCID. */
    @Override
    public UUID linkUuid() {
        long cid = cid();
        return cid < 0 ? null : cidUuid(cid);
    }

    static UUID cidUuid(long cid) {
        return new UUID(0, cid);
    }

    @Override
    public ParentReference parent() {
        Descriptor d = descriptor;
        if (d == null || !d.hasParent()) {
            return null;
        }
        UUID uuid = d.parentCid() == Descriptor.NO_PARENT ? null : cidUuid(d.parentCid());
        List<String> locators = d.parentFileNameHint() == null ? List.of() : List.of(d.parentFileNameHint());
        return new ParentReference(uuid, locators, "vmdk");
    }

    private int extentAt(long offset) {
        return Spans.indexOf(starts, extents.length, offset);
    }

    @Override
    public long map(long offset, long maxLength) throws IOException {
        int i = extentAt(offset);
        long in = offset - starts[i];
        // each extent bounds its own runs (a grain-mapped one to grains stored one after another)
        return extents[i].map(in, Math.min(maxLength, starts[i + 1] - offset));
    }

    @Override
    public HostLocation hostLocation(long offset) throws IOException {
        int i = extentAt(offset);
        long host = extents[i].hostOffset(offset - starts[i]);
        return host < 0 ? null : new HostLocation(extents[i].storage(), host);
    }

    @Override
    public void readData(long offset, ByteBuffer dst) throws IOException {
        int limit = dst.limit();
        try {
            long off = offset;
            while (dst.hasRemaining()) {
                int i = extentAt(off);
                int n = (int) Math.min(dst.remaining(), starts[i + 1] - off);
                dst.limit(dst.position() + n);
                extents[i].read(off - starts[i], dst);
                dst.limit(limit);
                off += n;
            }
        } finally {
            dst.limit(limit);
        }
    }

    @Override
    public WriteResult write(long offset, ByteBuffer src) throws IOException {
        checkWritable();
        int limit = src.limit();
        int start = src.position();
        try {
            // pieces: one per extent and grain; check every piece before writing any
            if (needsFill(offset, src.remaining())) {
                return WriteResult.NEEDS_FILL;
            }
            beforeModify();
            long off = offset;
            while (src.hasRemaining()) {
                int i = extentAt(off);
                long in = off - starts[i];
                long g = extents[i].grainBytes();
                long n = Math.min(src.remaining(), starts[i + 1] - off);
                if (g > 0) {
                    n = Math.min(n, g - in % g);
                }
                src.limit(src.position() + (int) n);
                int pos = src.position();
                if (extents[i].write(in, src) != WriteResult.DONE) {
                    if (off == offset) {
                        src.position(start);
                        return WriteResult.NEEDS_FILL; // a concurrent discard took the grain away
                    }
                    throw new VdException("vmdk: extent " + i + " of " + primary.path()
                            + " asked for a fill after the check (concurrent discard?)");
                }
                src.position(pos + (int) n).limit(limit);
                off += n;
            }
            return WriteResult.DONE;
        } catch (IOException | RuntimeException e) {
            src.position(start);
            throw e;
        } finally {
            src.limit(limit);
        }
    }

    /** Whether some grain in the range is partly covered and not held by its extent. */
    private boolean needsFill(long offset, long length) throws IOException {
        long off = offset;
        long end = offset + length;
        while (off < end) {
            int i = extentAt(off);
            long in = off - starts[i];
            long g = extents[i].grainBytes();
            long n = Math.min(end - off, starts[i + 1] - off);
            if (g > 0) {
                n = Math.min(n, g - in % g);
                long grainLen = Math.min(g, extents[i].sizeBytes() - (in - in % g));
                if (n < grainLen && Run.kind(extents[i].map(in, n)) != org.vdmount.vd.Allocation.DATA) {
                    return true;
                }
            }
            off += n;
        }
        return false;
    }

    @Override
    public void discard(long offset, long length) throws IOException {
        checkWritable();
        beforeModify();
        boolean hideParent = parent() != null;
        long off = offset;
        long end = offset + length;
        while (off < end) {
            int i = extentAt(off);
            long n = Math.min(end - off, starts[i + 1] - off);
            extents[i].discard(off - starts[i], n, hideParent);
            off += n;
        }
    }

    /** The first modification of a session gives the image a new CID (VMware semantics). */
    private void beforeModify() throws IOException {
        if (cidUpdated) {
            return;
        }
        synchronized (this) {
            if (cidUpdated) {
                return;
            }
            Descriptor d = descriptor;
            if (d != null && slot != null) {
                long newCid;
                do {
                    newCid = RANDOM.nextInt() & 0xFFFF_FFFFL;
                } while (newCid >= 0xFFFF_FFFEL || newCid == d.cid());
                writeDescriptor(d.withCid(newCid), d.charset());
            }
            cidUpdated = true;
        }
    }

    private void writeDescriptor(String text, java.nio.charset.Charset charset) throws IOException {
        byte[] bytes = text.getBytes(charset);
        if (slot.capacityBytes() >= 0) {
            if (bytes.length > slot.capacityBytes()) {
                warn.accept("vmdk: no room to update the CID in the embedded descriptor of " + slot.storage().path());
                return;
            }
            ByteBuffer b = ByteBuffer.allocate((int) slot.capacityBytes());
            b.put(bytes).clear();
            slot.storage().write(b, slot.offsetBytes());
        } else {
            slot.storage().write(ByteBuffer.wrap(bytes), 0);
            slot.storage().truncate(bytes.length);
        }
        descriptor = Descriptor.parse(text, slot.storage().path().toString());
    }

    /**
     * What the descriptor records: ddb.uuid, ddb.geometry.*, and for sparse images the parent
     * (parentCID, parentFileNameHint). A VMDK links to its parent by CID, so it has no parent UUID.
     */
    @Override
    public Set<MetadataField> editableFields() {
        if (descriptor == null || slot == null) {
            return Set.of();
        }
        boolean sparse = !descriptor.createType().toLowerCase(Locale.ROOT).contains("flat")
                && !descriptor.createType().equalsIgnoreCase("streamOptimized");
        return sparse ? EnumSet.of(MetadataField.UUID, MetadataField.GEOMETRY, MetadataField.BACKING)
                : EnumSet.of(MetadataField.UUID, MetadataField.GEOMETRY);
    }

    @Override
    public void checkEdit(MetadataEdit edit) throws IOException {
        changedText(edit);
    }

    /**
     * {@code vd resize} of a single-extent image (monolithicSparse, monolithicFlat, vmfs, and their
     * differencing children; VirtualBox's vmdkResize covers the same): the extent first (a sparse
     * header's capacity and, when it needs more entries, a grain directory written anew; a flat
     * file made longer), forced, then the descriptor's extent line and ddb.geometry.cylinders in
     * one write, forced. A kill before the descriptor write leaves the old size (an extent larger
     * than its descriptor line is accepted); after it, the new. Stream-optimized and split images
     * are refused. The image has been flushed; afterwards it is spent (the caller closes it).
     */
    void resize(long newSize) throws IOException {
        Descriptor d = descriptor;
        if (d == null || slot == null || extents.length != 1) {
            throw new UnsupportedFeatureException("resize is not supported by vmdk for " + primary.path() + ": it has "
                    + extents.length + " extents (only single-extent images: monolithicSparse, monolithicFlat)");
        }
        Extent e = extents[0];
        if (!(e instanceof SparseExtent) && !(e instanceof FlatExtent) || e.whyNotWritable() != null) {
            throw new UnsupportedFeatureException("resize is not supported by vmdk for " + primary.path() + " ("
                    + d.createType() + ", a " + e.kind() + " extent)");
        }
        Map<String, String> geometry = new java.util.LinkedHashMap<>();
        long heads = ddbNumber(d, "ddb.geometry.heads");
        long sectors = ddbNumber(d, "ddb.geometry.sectors");
        if (heads > 0 && sectors > 0 && d.ddb().containsKey("ddb.geometry.cylinders")) {
            geometry.put("ddb.geometry.cylinders", Long.toString(Math.min(newSize / (heads * sectors * 512), 16383)));
        }
        String text = Descriptor.parse(d.withExtentSectors(0, newSize / 512), primary.path().toString())
                .withChanges(Map.of(), geometry);
        if (slot.capacityBytes() >= 0 && text.getBytes(d.charset()).length > slot.capacityBytes()) {
            throw new UnsupportedFeatureException("vmdk: " + primary.path() + ": the resized descriptor does not fit "
                    + "the embedded descriptor area (" + slot.capacityBytes() + " bytes)");
        }
        if (e instanceof SparseExtent sparse) {
            sparse.resizeCapacity(newSize / 512);
        } else {
            ((FlatExtent) e).resizeFile(newSize);
        }
        synchronized (this) {
            writeDescriptor(text, d.charset());
            slot.storage().force();
        }
    }

    private static long ddbNumber(Descriptor d, String key) {
        try {
            return Long.parseLong(d.ddb().getOrDefault(key, "").strip());
        } catch (NumberFormatException e) {
            return -1;
        }
    }

    /** Flushes the extents, then writes the descriptor (one write) and forces it. */
    @Override
    public void edit(MetadataEdit edit) throws IOException {
        byte[] bytes = changedText(edit).getBytes(descriptor.charset());
        flush();
        synchronized (this) {
            writeDescriptor(new String(bytes, descriptor.charset()), descriptor.charset());
            slot.storage().force();
        }
    }

    private String changedText(MetadataEdit edit) throws IOException {
        edit.checkSupported(this);
        Descriptor d = descriptor;
        Map<String, String> header = new LinkedHashMap<>();
        Map<String, String> ddb = new LinkedHashMap<>();
        if (edit.uuid() != null) {
            ddb.put("ddb.uuid", vmwareUuid(edit.uuid()));
        }
        if (edit.geometry() != null) {
            MetadataEdit.Geometry g = edit.geometry();
            ddb.put("ddb.geometry.cylinders", Long.toString(g.cylinders()));
            ddb.put("ddb.geometry.heads", Long.toString(g.heads()));
            ddb.put("ddb.geometry.sectors", Long.toString(g.sectors()));
        }
        MetadataEdit.Backing b = edit.backing();
        if (b != null) {
            if (b.none()) {
                header.put("parentCID", Descriptor.hex(Descriptor.NO_PARENT));
                header.put("parentFileNameHint", null);
            } else {
                if (!(b.requireParent(this) instanceof VmdkImage p)) {
                    throw new UnsupportedFeatureException("vmdk: " + primary.path() + ": the parent of a VMDK must be "
                            + "a VMDK, not " + b.parent().format().name());
                }
                if (b.recorded().contains("\"") || b.recorded().contains("\n")) {
                    throw new UnsupportedFeatureException("vmdk: " + primary.path() + ": parentFileNameHint cannot "
                            + "hold a quote or a line break");
                }
                header.put("parentCID", Descriptor.hex(p.cid() < 0 ? Descriptor.NO_PARENT : p.cid()));
                header.put("parentFileNameHint", "\"" + b.recorded() + "\"");
            }
        }
        String text = d.withChanges(header, ddb);
        byte[] bytes = text.getBytes(d.charset());
        if (slot.capacityBytes() >= 0 && bytes.length > slot.capacityBytes()) {
            throw new UnsupportedFeatureException("vmdk: " + primary.path() + ": the changed descriptor ("
                    + bytes.length + " bytes) does not fit the embedded descriptor area (" + slot.capacityBytes()
                    + " bytes)");
        }
        Descriptor.parse(text, primary.path().toString());
        return text;
    }

    /** ddb.uuid as VMware writes it: "60 00 c2 9e 6f 0c 2f 0e-b8 be 46 43 57 f5 a0 f0". */
    static String vmwareUuid(UUID u) {
        String h = String.format(Locale.ROOT, "%016x%016x", u.getMostSignificantBits(), u.getLeastSignificantBits());
        StringBuilder sb = new StringBuilder();
        for (int i = 0; i < 32; i += 2) {
            if (i > 0) {
                sb.append(i == 16 ? '-' : ' ');
            }
            sb.append(h, i, i + 2);
        }
        return sb.toString();
    }

    @Override
    protected void flushWritable() throws IOException {
        for (Extent e : extents) {
            e.flush();
        }
        if (slot != null) {
            slot.storage().force();
        }
    }

    @Override
    public long allocatedBytes() throws IOException {
        long sum = 0;
        for (Storage s : storages) {
            sum += s.allocatedBytes();
        }
        return Math.min(sum, virtualSize);
    }

    @Override
    public Map<String, Object> details() {
        Map<String, Object> m = new LinkedHashMap<>();
        Descriptor d = descriptor;
        m.put("createType", variant);
        if (d != null) {
            m.put("cid", Descriptor.hex(d.cid()));
            m.put("parentCID", Descriptor.hex(d.parentCid()));
            if (d.parentFileNameHint() != null) {
                m.put("parentFileNameHint", d.parentFileNameHint());
            }
            for (String k : List.of("ddb.adapterType", "ddb.virtualHWVersion", "ddb.geometry.cylinders",
                    "ddb.geometry.heads", "ddb.geometry.sectors")) {
                if (d.ddb().containsKey(k)) {
                    m.put(k.substring(4), d.ddb().get(k));
                }
            }
        }
        // one map per extent: its kind (descriptor type), size, file as the descriptor names it
        // (the image file itself for a descriptor inside a sparse extent), grain, compression
        List<Map<String, Object>> ext = new ArrayList<>();
        for (int i = 0; i < extents.length; i++) {
            Extent e = extents[i];
            Map<String, Object> x = new LinkedHashMap<>();
            x.put("type", e.kind());
            x.put("virtualSize", e.sizeBytes());
            if (e.storage() != null) {
                boolean own = e.storage().path().equals(storage().path());
                String named = d != null && i < d.extents().size() ? d.extents().get(i).fileName() : null;
                x.put("filename", own || named == null ? e.storage().path().getFileName().toString() : named);
            }
            if (e.grainBytes() > 0) {
                x.put("clusterSize", e.grainBytes());
            }
            if (e instanceof SparseExtent se && se.header.compressed()) {
                x.put("compressed", true);
            }
            ext.add(x);
        }
        m.put("extents", ext);
        return m;
    }

    @Override
    protected void closeImage() throws IOException {
        IOException first = null;
        try {
            flush();
        } catch (IOException e) {
            first = e;
        }
        for (Extent e : extents) {
            try {
                e.close();
            } catch (IOException ex) {
                first = first == null ? ex : first;
            }
        }
        for (Storage s : storages) {
            try {
                s.close();
            } catch (IOException ex) {
                first = first == null ? ex : first;
            }
        }
        if (first != null) {
            throw first;
        }
    }
}
