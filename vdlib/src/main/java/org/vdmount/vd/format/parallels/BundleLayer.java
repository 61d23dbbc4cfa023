package org.vdmount.vd.format.parallels;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.UUID;
import org.vdmount.vd.HostLocation;
import org.vdmount.vd.Image;
import org.vdmount.vd.ImageFormat;
import org.vdmount.vd.ParentReference;
import org.vdmount.vd.ReadOnlyException;
import org.vdmount.vd.Run;
import org.vdmount.vd.WriteResult;
import org.vdmount.vd.storage.Storage;

/**
 * One snapshot of a Parallels bundle as a layer: for each Storage range of the descriptor, the
 * image file of this snapshot (an expanding image or, for a root, a plain raw file), laid end to
 * end. Its identity is the snapshot GUID and its parent the ParentGUID, both from the descriptor
 * (prl-xml.txt "Snapshots"): the image files themselves record neither. The descriptor stays open
 * read-only while the layer is open, so QEMU-style locks cover it too.
 */
final class BundleLayer implements Image {

    /** One range of the disk, [start, end) in bytes, held by {@code image} from its offset 0. */
    record Part(long start, long end, Image image) {
    }

    private final ImageFormat format;
    private final Storage descriptorFile;
    private final DiskDescriptor descriptor;
    private final UUID guid;
    private final ParentReference parent;
    private final List<Part> parts;
    private final long blockSize;

    BundleLayer(ImageFormat format, Storage descriptorFile, DiskDescriptor descriptor, UUID guid, ParentReference parent,
                List<Part> parts) {
        this.format = format;
        this.descriptorFile = descriptorFile;
        this.descriptor = descriptor;
        this.guid = guid;
        this.parent = parent;
        this.parts = List.copyOf(parts);
        long bs = Long.MAX_VALUE;
        for (Part p : parts) {
            bs = Math.min(bs, p.image().blockSize());
            if (p.start() > 0) {
                bs = Math.min(bs, Long.lowestOneBit(p.start())); // no run crosses a range boundary
            }
        }
        this.blockSize = bs;
    }

    /** Where the descriptor that describes this layer is. */
    Path descriptorPath() {
        return descriptorFile.path();
    }

    /** The Storage ranges, in disk order. */
    List<Part> parts() {
        return parts;
    }

    /** How many Storage ranges (image files) the layer has. */
    int partCount() {
        return parts.size();
    }

    /** The cluster size of the first range's image file (an expanding one), or 0 for a plain one. */
    long clusterBytes() {
        return parts.get(0).image() instanceof ParallelsImage p ? p.clusterBytes() : 0;
    }

    /** The largest part block size above the layer's: parts that cannot be written in the layer's blocks. */
    long largestPartBlock() {
        return parts.stream().mapToLong(p -> p.image().blockSize()).max().orElse(blockSize);
    }

    private Part partAt(long offset) {
        for (Part p : parts) {
            if (offset < p.end()) {
                return p;
            }
        }
        return parts.get(parts.size() - 1);
    }

    // ---- facts ----------------------------------------------------------------------------------

    @Override
    public ImageFormat format() {
        return format;
    }

    @Override
    public String variant() {
        if (parts.size() > 1) {
            return "split";
        }
        Image i = parts.get(0).image();
        return i instanceof ParallelsImage ? "expanding" : "plain";
    }

    @Override
    public Storage storage() {
        return parts.get(0).image().storage();
    }

    /** Every image file of this snapshot, then the descriptor. */
    @Override
    public List<Path> files() {
        Set<Path> out = new LinkedHashSet<>();
        for (Part p : parts) {
            out.addAll(p.image().files());
        }
        out.add(descriptorFile.path());
        return List.copyOf(out);
    }

    @Override
    public long virtualSize() {
        return descriptor.diskSizeBytes();
    }

    @Override
    public int logicalSectorSize() {
        return descriptor.logicalSectorSize();
    }

    @Override
    public int physicalSectorSize() {
        return descriptor.physicalSectorSize();
    }

    @Override
    public UUID uuid() {
        return guid;
    }

    @Override
    public ParentReference parent() {
        return parent;
    }

    @Override
    public boolean readOnly() {
        return parts.get(0).image().readOnly();
    }

    @Override
    public long blockSize() {
        return blockSize;
    }

    @Override
    public long fillUnit() {
        return parts.size() == 1 ? parts.get(0).image().fillUnit() : blockSize;
    }

    @Override
    public long allocatedBytes() throws IOException {
        long n = 0;
        for (Part p : parts) {
            n += p.image().allocatedBytes();
        }
        return n;
    }

    @Override
    public long hostAllocatedBytes() throws IOException {
        long n = descriptorFile.allocatedBytes();
        for (Part p : parts) {
            n += p.image().hostAllocatedBytes();
        }
        return n;
    }

    @Override
    public Map<String, Object> details() {
        Map<String, Object> d = new LinkedHashMap<>();
        d.put("descriptor", descriptorFile.path().toString());
        d.put("snapshot", DiskDescriptor.braced(guid));
        if (parts.size() > 1) {
            List<String> ranges = new ArrayList<>();
            for (Part p : parts) {
                ranges.add(p.start() + "-" + p.end() + ": " + p.image().storage().path().getFileName());
            }
            d.put("storages", ranges);
        } else {
            d.putAll(parts.get(0).image().details());
        }
        if (descriptor.cylinders() != 0) { // the descriptor's geometry, not the image file's header
            d.put("geometry", descriptor.cylinders() + "/" + descriptor.heads() + "/" + descriptor.sectors());
        }
        return d;
    }

    // ---- I/O ------------------------------------------------------------------------------------

    @Override
    public long map(long offset, long maxLength) throws IOException {
        Part p = partAt(offset);
        long len = Math.min(Math.min(maxLength, p.end() - offset), blockSize - (offset & (blockSize - 1)));
        long run = p.image().map(offset - p.start(), len);
        return Run.of(Run.kind(run), Math.min(Run.length(run), len));
    }

    @Override
    public void readData(long offset, ByteBuffer dst) throws IOException {
        Part p = partAt(offset);
        p.image().readData(offset - p.start(), dst);
    }

    @Override
    public HostLocation hostLocation(long offset) throws IOException {
        Part p = partAt(offset);
        return p.image().hostLocation(offset - p.start());
    }

    @Override
    public WriteResult write(long offset, ByteBuffer src) throws IOException {
        checkWritable();
        Part p = partAt(offset);
        return p.image().write(offset - p.start(), src);
    }

    /**
     * Whole blocks read as zeros afterwards. A root gives the clusters back; a snapshot over a
     * parent has no "zero" entry, so it gets clusters of zeros (an unallocated one would show the
     * parent again).
     */
    @Override
    public void discard(long offset, long length) throws IOException {
        checkWritable();
        for (long off = offset; off < offset + length; ) {
            Part p = partAt(off);
            long n = Math.min(offset + length, p.end()) - off;
            if (parent == null) {
                p.image().discard(off - p.start(), n);
            } else {
                for (long done = 0; done < n; done += blockSize) {
                    int len = (int) Math.min(blockSize, n - done);
                    if (p.image().write(off - p.start() + done, ByteBuffer.allocate(len)) != WriteResult.DONE) {
                        throw new IllegalStateException("a whole-block write of zeros was refused");
                    }
                }
            }
            off += n;
        }
    }

    @Override
    public void flush() throws IOException {
        for (Part p : parts) {
            p.image().flush();
        }
    }

    @Override
    public void close() throws IOException {
        IOException first = null;
        for (Part p : parts) {
            try {
                p.image().close();
            } catch (IOException e) {
                first = first == null ? e : first;
            }
        }
        try {
            descriptorFile.close();
        } catch (IOException e) {
            first = first == null ? e : first;
        }
        if (first != null) {
            throw first;
        }
    }

    private void checkWritable() throws ReadOnlyException {
        if (readOnly()) {
            throw new ReadOnlyException("parallels: " + storage().path() + " is opened read-only");
        }
    }
}
