package org.vdmount.vd.format.vmdk;

import java.io.IOException;
import java.nio.ByteBuffer;
import org.vdmount.vd.Bytes;
import org.vdmount.vd.CorruptImageException;
import org.vdmount.vd.NotThisFormatException;
import org.vdmount.vd.TruncatedImageException;
import org.vdmount.vd.UnsupportedFeatureException;
import org.vdmount.vd.VdException;
import org.vdmount.vd.storage.Storage;

/**
 * The header of a hosted sparse extent, "KDMV" (VMware "Virtual Disk Format 5.0", "Hosted Sparse
 * Extent Header"; libvmdk notes "File header"). Little-endian; sizes and offsets in sectors. The
 * footer of a stream-optimized extent has the same layout.
 */
record SparseHeader(
        long version,               // 0x04 u32: 1, 2 or 3
        long flags,                 // 0x08 u32
        long capacitySectors,       // 0x0C u64
        long grainSectors,          // 0x14 u64
        long descriptorOffset,      // 0x1C u64 (sectors, 0 = none)
        long descriptorSectors,     // 0x24 u64
        long gtEntries,             // 0x2C u32: entries per grain table (512)
        long rgdOffset,             // 0x30 u64: redundant grain directory
        long gdOffset,              // 0x38 u64: grain directory, GD_AT_END in a streamed header
        long overheadSectors,       // 0x40 u64: metadata size = first grain
        int uncleanShutdown,        // 0x48 u8
        boolean newlinesIntact,     // 0x49..0x4C: '\n' ' ' '\r' '\n'
        int compressAlgorithm) {    // 0x4D u16

    static final int SIZE = 512;
    static final byte[] MAGIC = {'K', 'D', 'M', 'V'};
    static final long FLAG_NL_DETECT = 1;
    /** Redundant grain directory present at rgdOffset (QEMU, VMware; libvmdk: "use secondary"). */
    static final long FLAG_RGD = 1 << 1;
    /** Grain table entry 1 means "zeroed grain" (version 2+). */
    static final long FLAG_ZERO_GRAIN = 1 << 2;
    static final long FLAG_COMPRESSED = 1 << 16;
    static final long FLAG_MARKERS = 1 << 17;
    static final long GD_AT_END = -1L;
    static final int COMPRESSION_NONE = 0;
    static final int COMPRESSION_DEFLATE = 1;

    static boolean hasMagic(Bytes b) {
        return b.size() >= 4 && b.u8(0) == 'K' && b.u8(1) == 'D' && b.u8(2) == 'M' && b.u8(3) == 'V';
    }

    static SparseHeader parse(Bytes b) {
        boolean nl = b.u8(0x49) == '\n' && b.u8(0x4A) == ' ' && b.u8(0x4B) == '\r' && b.u8(0x4C) == '\n';
        return new SparseHeader(b.u32le(0x04), b.u32le(0x08), b.u64le(0x0C), b.u64le(0x14), b.u64le(0x1C),
                b.u64le(0x24), b.u32le(0x2C), b.u64le(0x30), b.u64le(0x38), b.u64le(0x40), b.u8(0x48), nl,
                b.u16le(0x4D));
    }

    void write(Bytes b) {
        b.fill(0, SIZE, 0);
        b.putBytes(0, MAGIC);
        b.put32le(0x04, version).put32le(0x08, flags).put64le(0x0C, capacitySectors).put64le(0x14, grainSectors)
                .put64le(0x1C, descriptorOffset).put64le(0x24, descriptorSectors).put32le(0x2C, gtEntries)
                .put64le(0x30, rgdOffset).put64le(0x38, gdOffset).put64le(0x40, overheadSectors)
                .put8(0x48, uncleanShutdown);
        b.put8(0x49, '\n').put8(0x4A, ' ').put8(0x4B, '\r').put8(0x4C, '\n');
        b.put16le(0x4D, compressAlgorithm);
    }

    boolean has(long flag) {
        return (flags & flag) != 0;
    }

    boolean compressed() {
        return compressAlgorithm == COMPRESSION_DEFLATE;
    }

    /** Entry 1 means "zeroed grain": flag set (VMware: as of version 2; QEMU honours the flag alone). */
    boolean zeroGrainEntries() {
        return has(FLAG_ZERO_GRAIN);
    }

    /** The header of a grown (or shrunk) extent: its capacity and where its directories are. */
    SparseHeader resized(long capacity, long gd, long rgd) {
        return new SparseHeader(version, flags, capacity, grainSectors, descriptorOffset, descriptorSectors,
                gtEntries, rgd, gd, overheadSectors, uncleanShutdown, newlinesIntact, compressAlgorithm);
    }

    SparseHeader withGdOffset(long gd) {
        return new SparseHeader(version, flags, capacitySectors, grainSectors, descriptorOffset, descriptorSectors,
                gtEntries, rgdOffset, gd, overheadSectors, uncleanShutdown, newlinesIntact, compressAlgorithm);
    }

    /**
     * Reads and validates the header of a hosted sparse extent; for a stream-optimized extent whose
     * header says GD_AT_END, the footer at the end of the file.
     */
    static SparseHeader read(Storage storage, long fileSize) throws IOException {
        Bytes hb = readSector(storage, 0, "sparse header");
        if (!hasMagic(hb)) {
            throw new NotThisFormatException("vmdk: " + storage.path() + " is no hosted sparse extent (no KDMV)");
        }
        SparseHeader h = parse(hb);
        if (h.gdOffset() == GD_AT_END) {
            h = readFooter(storage, fileSize);
        }
        validate(storage, h, fileSize);
        return h;
    }

    private static Bytes readSector(Storage storage, long pos, String what) throws IOException {
        ByteBuffer b = ByteBuffer.allocate(512);
        storage.readFully(b, pos, "vmdk", what);
        return Bytes.of(b.array());
    }

    /** How far before the end of a stream the footer is looked for (padding after the stream). */
    static final int FOOTER_SEARCH_BYTES = 1 << 20;

    /**
     * The footer of a stream-optimized extent: footer marker, footer, end-of-stream marker as the
     * last three sectors (QEMU requires exactly that); copies padded after the end-of-stream marker
     * are found by searching back up to {@link #FOOTER_SEARCH_BYTES}.
     */
    private static SparseHeader readFooter(Storage storage, long fileSize) throws IOException {
        if (fileSize < 4 * 512) {
            throw new TruncatedImageException("vmdk", storage.path(), "stream footer", 0, 4 * 512, fileSize);
        }
        long end = fileSize & ~511L;
        int window = (int) Math.min(end, FOOTER_SEARCH_BYTES);
        ByteBuffer b = ByteBuffer.allocate(window);
        storage.readFully(b, end - window, "vmdk", "stream footer");
        Bytes tail = Bytes.of(b.array());
        for (int at = window - 1536; at >= 0; at -= 512) {
            Marker fm = Marker.parse(tail.at(at));
            Bytes footer = tail.at(at + 512);
            Marker eos = Marker.parse(tail.at(at + 1024));
            if (fm.size() == 0 && fm.type() == Marker.FOOTER && hasMagic(footer) && eos.size() == 0
                    && eos.type() == Marker.EOS && eos.value() == 0) {
                SparseHeader h = parse(footer);
                if (h.gdOffset() == GD_AT_END) {
                    throw new CorruptImageException("vmdk", storage.path(), "stream footer", end - window + at + 512,
                            "footer has no grain directory offset");
                }
                return h;
            }
        }
        throw new CorruptImageException("vmdk", storage.path(), "stream footer", end - 1536,
                "no footer marker, footer and end-of-stream marker near the end (incomplete stream?)");
    }

    private static void validate(Storage st, SparseHeader h, long fileSize) throws VdException {
        String where = st.path().toString();
        if (h.version() < 1 || h.version() > 3) {
            throw new UnsupportedFeatureException("vmdk: sparse extent version " + h.version() + " in " + where
                    + " (supported: 1-3)");
        }
        if (h.has(FLAG_NL_DETECT) && !h.newlinesIntact()) {
            throw new CorruptImageException("vmdk", st.path(), "sparse header", 0x49,
                    "newline check bytes altered (file transferred in text mode?)");
        }
        long g = h.grainSectors();
        if (g <= 0 || g > GrainMapExtent.MAX_GRAIN_BYTES / 512) {
            throw new CorruptImageException("vmdk", st.path(), "sparse header", 0x14,
                    "grain size " + g + " sectors (limit " + GrainMapExtent.MAX_GRAIN_BYTES / 512 + ")");
        }
        if (!GrainMapExtent.powerOfTwo(g)) {
            throw new UnsupportedFeatureException("vmdk: grain size " + g + " sectors (not a power of two) in " + where);
        }
        if (h.gtEntries() < 1 || h.gtEntries() > SparseExtent.MAX_GT_ENTRIES) {
            throw new CorruptImageException("vmdk", st.path(), "sparse header", 0x2C,
                    "grain table entries " + h.gtEntries() + " (limit " + SparseExtent.MAX_GT_ENTRIES + ")");
        }
        if (h.capacitySectors() < 0 || h.capacitySectors() > (1L << 50)) {
            throw new CorruptImageException("vmdk", st.path(), "sparse header", 0x0C,
                    "capacity " + h.capacitySectors() + " sectors");
        }
        long coverage = h.gtEntries() * g;
        long gdCount = (h.capacitySectors() + coverage - 1) / coverage;
        if (gdCount > GrainMapExtent.MAX_GD_ENTRIES) {
            throw new CorruptImageException("vmdk", st.path(), "sparse header", 0x0C,
                    "grain directory of " + gdCount + " entries (limit " + GrainMapExtent.MAX_GD_ENTRIES + ")");
        }
        if (h.gdOffset() < 1 || !GrainMapExtent.sectorInside(h.gdOffset(), fileSize) || h.gdOffset() * 512 + gdCount * 4 > fileSize) {
            throw new TruncatedImageException("vmdk", st.path(), "grain directory", h.gdOffset() * 512,
                    gdCount * 4, fileSize);
        }
    }
}
