package org.vdmount.vd.format.parallels;

import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.Arrays;
import org.vdmount.vd.Bytes;
import org.vdmount.vd.CorruptImageException;
import org.vdmount.vd.NotThisFormatException;
import org.vdmount.vd.TruncatedImageException;
import org.vdmount.vd.UnsupportedFeatureException;

/**
 * The 64-byte header of a Parallels expanding image file (qemu docs/interop/parallels.txt "Header";
 * libphdi "Sparse storage data image file header"), little-endian, at offset 0. Sectors are 512
 * bytes whatever the guest's sector size.
 */
record ParallelsHeader(
        boolean extended,       // 0x00 16 bytes: "WithouFreSpacExt" (true) or "WithoutFreeSpace"
        long version,           // 0x10 u32: 2
        long heads,             // 0x14 u32: guest geometry
        long cylinders,         // 0x18 u32: guest geometry
        long clusterSectors,    // 0x1C u32 "tracks": cluster size in sectors
        long batEntries,        // 0x20 u32: BAT size, disk size in clusters
        long sectors,           // 0x24 u64 nb_sectors (only the low 32 bits in "WithoutFreeSpace")
        long inUse,             // 0x2C u32: IN_USE while open read-write, CLOSED (or 0) when closed
        long dataOffSectors,    // 0x30 u32: start of the data area, 0 = computed (old magic only)
        long flags,             // 0x34 u32: bit 0 "empty image"
        long extOffSectors) {   // 0x38 u64: the Format Extension cluster, 0 = none

    static final int SIZE = 64;
    static final byte[] MAGIC = "WithoutFreeSpace".getBytes(StandardCharsets.US_ASCII);
    static final byte[] MAGIC_EXT = "WithouFreSpacExt".getBytes(StandardCharsets.US_ASCII);
    static final long VERSION = 2;
    static final long IN_USE = 0x746F6E59L;
    static final long CLOSED = 0x312E3276L;
    static final long FLAG_EMPTY = 1;
    static final int OFF_IN_USE = 0x2C;
    static final int SECTOR = 512;
    /** Largest cluster this implementation holds in memory (Parallels writes 1 MiB, formerly 252K/256K/63 sectors). */
    static final long MAX_CLUSTER_BYTES = 64L << 20;

    /** Which of the two magics {@code b} starts with, or null if neither. */
    static Boolean magicKind(Bytes b) {
        if (b.size() < 16) {
            return null;
        }
        byte[] m = b.bytes(0, 16);
        return Arrays.equals(m, MAGIC_EXT) ? Boolean.TRUE : Arrays.equals(m, MAGIC) ? Boolean.FALSE : null;
    }

    static ParallelsHeader parse(Bytes b, Path file) throws NotThisFormatException {
        Boolean ext = magicKind(b);
        if (ext == null || b.size() < SIZE) {
            throw new NotThisFormatException("parallels: " + file + " has no Parallels image header");
        }
        long sectors = ext ? b.u64le(0x24) : b.u32le(0x24); // parallels.txt: old magic uses the low 4 bytes only
        return new ParallelsHeader(ext, b.u32le(0x10), b.u32le(0x14), b.u32le(0x18), b.u32le(0x1C), b.u32le(0x20),
                sectors, b.u32le(0x2C), b.u32le(0x30), b.u32le(0x34), b.u64le(0x38));
    }

    void write(Bytes b) {
        b.putBytes(0, extended ? MAGIC_EXT : MAGIC);
        b.put32le(0x10, version);
        b.put32le(0x14, heads);
        b.put32le(0x18, cylinders);
        b.put32le(0x1C, clusterSectors);
        b.put32le(0x20, batEntries);
        b.put64le(0x24, sectors);
        b.put32le(0x2C, inUse);
        b.put32le(0x30, dataOffSectors);
        b.put32le(0x34, flags);
        b.put64le(0x38, extOffSectors);
    }

    Bytes bytes() {
        Bytes b = Bytes.allocate(SIZE);
        write(b);
        return b;
    }

    ParallelsHeader withInUse(long value) {
        return new ParallelsHeader(extended, version, heads, cylinders, clusterSectors, batEntries, sectors, value,
                dataOffSectors, flags, extOffSectors);
    }

    ParallelsHeader withExtOff(long value) {
        return new ParallelsHeader(extended, version, heads, cylinders, clusterSectors, batEntries, sectors, inUse,
                dataOffSectors, flags, value);
    }

    long clusterBytes() {
        return clusterSectors * SECTOR;
    }

    long virtualSizeBytes() {
        return sectors * SECTOR;
    }

    long batOffset() {
        return SIZE;
    }

    long batBytes() {
        return 4 * batEntries;
    }

    /** Whether the image was left open read-write (not closed cleanly). */
    boolean inUseSet() {
        return inUse == IN_USE;
    }

    /**
     * Where the data area starts: data_off, or for the old magic with data_off 0 the end of the BAT
     * rounded up to a sector (parallels.txt "data_off").
     */
    long dataOffsetBytes() {
        if (dataOffSectors != 0) {
            return dataOffSectors * SECTOR;
        }
        return (batOffset() + batBytes() + SECTOR - 1) / SECTOR * SECTOR;
    }

    /** Bytes per BAT unit: clusters in "WithouFreSpacExt" images, sectors in "WithoutFreeSpace" (parallels.txt "BAT"). */
    long batUnitBytes() {
        return extended ? clusterBytes() : SECTOR;
    }

    /** Checks every field against the spec's rules, this implementation's bounds and the file size. */
    void validate(Path file, long fileSize) throws CorruptImageException, UnsupportedFeatureException {
        if (version != VERSION) {
            throw new UnsupportedFeatureException("parallels: " + file + " has unsupported version " + version
                    + " in the header at 0x10 (only 2 is defined)");
        }
        if (clusterSectors == 0) {
            throw new CorruptImageException("parallels", file, "header", 0x1C, "cluster size (tracks) is 0 sectors");
        }
        if (clusterBytes() > MAX_CLUSTER_BYTES) {
            throw new UnsupportedFeatureException("parallels: " + file + ": cluster size of " + clusterSectors
                    + " sectors (header at 0x1c) exceeds the supported " + MAX_CLUSTER_BYTES + " bytes");
        }
        if (sectors < 0 || sectors > Long.MAX_VALUE / SECTOR) {
            throw new CorruptImageException("parallels", file, "header", 0x24, "disk size of " + Long.toUnsignedString(sectors)
                    + " sectors is out of range");
        }
        long needed = (sectors + clusterSectors - 1) / clusterSectors;
        if (batEntries < needed) {
            throw new CorruptImageException("parallels", file, "header", 0x20, "BAT of " + batEntries
                    + " entries covers " + batEntries * clusterSectors + " sectors, less than the disk size of "
                    + sectors + " sectors (nb_sectors at 0x24)");
        }
        if (batOffset() + batBytes() > fileSize) {
            throw new TruncatedImageException("parallels", file, "BAT", batOffset(), batBytes(), fileSize);
        }
        if (inUse != 0 && inUse != IN_USE && inUse != CLOSED && (inUse & 0xFFFF) != 0x6470) { // "pd17", "pd22" seen by libphdi
            throw new CorruptImageException("parallels", file, "header", OFF_IN_USE, "in-use field 0x"
                    + Long.toHexString(inUse) + " is neither 0x746f6e59 (in use) nor 0x312e3276 (closed)");
        }
        long dataOff = dataOffsetBytes();
        if (dataOff < batOffset() + batBytes()) {
            throw new CorruptImageException("parallels", file, "header", 0x30, "data area at 0x"
                    + Long.toHexString(dataOff) + " overlaps the BAT, which ends at 0x"
                    + Long.toHexString(batOffset() + batBytes()));
        }
        if (extended && (dataOffSectors == 0 || dataOffSectors % clusterSectors != 0)) {
            throw new CorruptImageException("parallels", file, "header", 0x30, "data offset of " + dataOffSectors
                    + " sectors is not a non-zero multiple of the cluster size (" + clusterSectors + " sectors)");
        }
        if (extOffSectors != 0 && !validCluster(extOffSectors * SECTOR, fileSize)) {
            throw new CorruptImageException("parallels", file, "header", 0x38, "format extension offset of "
                    + extOffSectors + " sectors is not a cluster of the data area inside the file");
        }
    }

    /** Whether a cluster at host byte {@code offset} meets parallels.txt's rules for BAT entries. */
    boolean validCluster(long offset, long fileSize) {
        long dataOff = dataOffsetBytes();
        return offset >= dataOff && offset < fileSize && (offset - dataOff) % clusterBytes() == 0;
    }
}
