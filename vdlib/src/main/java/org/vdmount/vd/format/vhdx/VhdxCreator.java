package org.vdmount.vd.format.vhdx;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.UUID;
import org.vdmount.vd.Bytes;
import org.vdmount.vd.CreateOption;
import org.vdmount.vd.CreateOptions;
import org.vdmount.vd.Image;
import org.vdmount.vd.ImageFormat;
import org.vdmount.vd.OpenOptions;
import org.vdmount.vd.Sizes;
import org.vdmount.vd.UnsupportedFeatureException;
import org.vdmount.vd.storage.FileStorage;
import org.vdmount.vd.storage.StorageScope;

/**
 * Creates dynamic, fixed and differencing images. Layout: 1 MiB header section, the log (1 MiB by
 * default), 1 MiB metadata region, the BAT, then payload blocks (a fixed image gets all of them,
 * sparse, in order). Options: subformat=dynamic|fixed, block_size, logical_sector_size,
 * physical_sector_size, log_size.
 */
final class VhdxCreator {
    static final long DEFAULT_BLOCK = 32 * Vhdx.MIB;
    static final long DEFAULT_DIFF_BLOCK = 2 * Vhdx.MIB;
    static final String CREATOR = "vdmount";

    private VhdxCreator() {
    }

    static Image create(ImageFormat format, Path path, CreateOptions o) throws IOException {
        boolean diff = o.parent() != null;
        String sub = o.get(VhdxFormat.SUBFORMAT, diff ? "differencing" : "dynamic");
        if (!(diff ? sub.equals("differencing") || sub.equals("dynamic") : sub.equals("dynamic")
                || sub.equals("fixed"))) {
            throw new UnsupportedFeatureException("vhdx: subformat must be dynamic or fixed"
                    + (diff ? " (and a differencing image is dynamic)" : "") + ", not '" + sub + "'");
        }
        Image parent = diff ? o.parent().top() : null;
        if (parent != null && !parent.format().name().equals(Vhdx.FORMAT)) {
            throw new UnsupportedFeatureException("vhdx: a differencing VHDX needs a VHDX parent, not "
                    + parent.format().name());
        }
        long block = o.size(VhdxFormat.BLOCK_SIZE, diff ? DEFAULT_DIFF_BLOCK : DEFAULT_BLOCK);
        if (block < Vhdx.MIN_BLOCK_SIZE || block > Vhdx.MAX_BLOCK_SIZE || Long.bitCount(block) != 1) {
            throw new UnsupportedFeatureException("vhdx: block_size must be a power of two from 1M to 256M, not "
                    + block);
        }
        int logical = sectorOption(o, VhdxFormat.LOGICAL_SECTOR_SIZE, parent != null ? parent.logicalSectorSize() : 512);
        if (parent != null && logical != parent.logicalSectorSize()) {
            throw new UnsupportedFeatureException("vhdx: logical_sector_size " + logical + " differs from the parent's "
                    + parent.logicalSectorSize());
        }
        int physical = sectorOption(o, VhdxFormat.PHYSICAL_SECTOR_SIZE, parent != null ? parent.physicalSectorSize() : logical);
        boolean zeroBlocks = o.flag(VhdxFormat.BLOCK_STATE_ZERO);
        if (zeroBlocks && (diff || sub.equals("fixed"))) {
            throw new UnsupportedFeatureException("vhdx: block_state_zero=on applies to dynamic images (a "
                    + (diff ? "differencing image's blocks must show its parent" : "fixed image's blocks are present")
                    + ")");
        }
        long logSize = o.size(VhdxFormat.LOG_SIZE);
        if (logSize < Vhdx.MIB || logSize % Vhdx.MIB != 0 || logSize > 256 * Vhdx.MIB) {
            throw new UnsupportedFeatureException("vhdx: log_size must be a multiple of 1M from 1M to 256M, not "
                    + logSize);
        }
        long size = o.virtualSize();
        if (parent != null) {
            if (size != 0 && size != parent.virtualSize()) {
                throw new UnsupportedFeatureException("vhdx: a differencing image has its parent's size ("
                        + parent.virtualSize() + " bytes), not " + size);
            }
            size = parent.virtualSize();
        }
        size = Vhdx.roundUp(size, logical);
        if (size <= 0 || size > Vhdx.MAX_VIRTUAL_SIZE) {
            throw new UnsupportedFeatureException("vhdx: size must be from 1 byte to 64T, not " + Sizes.human(size));
        }
        ParentLocator locator = parent == null ? null : locator(path, o.parentPath() != null ? o.parentPath()
                : parent.storage().path(), parent.linkUuid());
        VhdxMetadata meta = new VhdxMetadata(block, sub.equals("fixed"), diff, size, logical, physical,
                UUID.randomUUID(), locator);

        StorageScope.write(path, fs -> write(fs, meta, logSize, zeroBlocks));
        return VhdxOpener.open(format, path, OpenOptions.defaultReadWrite());
    }

    private static int sectorOption(CreateOptions o, CreateOption key, int dflt) throws UnsupportedFeatureException {
        long v = o.size(key, dflt);
        if (v != 512 && v != 4096) {
            throw new UnsupportedFeatureException("vhdx: " + key.name() + " must be 512 or 4096, not " + v);
        }
        return (int) v;
    }

    /** Locator keys as Hyper-V writes them: Windows separators, relative path from the child's directory. */
    static ParentLocator locator(Path child, Path parentPath, UUID linkage) {
        // a relative parent path is relative to the child's directory (as qemu-img takes -b)
        Path childDir = child.toAbsolutePath().normalize().getParent();
        Path parentAbs = childDir.resolve(parentPath).normalize();
        String relative = childDir.relativize(parentAbs).toString().replace('/', '\\');
        if (!relative.startsWith("..")) {
            relative = ".\\" + relative;
        }
        Map<String, String> m = new LinkedHashMap<>();
        m.put(ParentLocator.PARENT_LINKAGE, ParentLocator.guidText(linkage));
        m.put(ParentLocator.RELATIVE_PATH, relative);
        m.put(ParentLocator.ABSOLUTE_WIN32_PATH, parentAbs.toString().replace('/', '\\'));
        return new ParentLocator(Vhdx.VHDX_PARENT_LOCATOR_TYPE, m);
    }

    private static void write(FileStorage fs, VhdxMetadata meta, long logSize, boolean zeroBlocks) throws IOException {
        long logOffset = Vhdx.HEADER_SECTION_BYTES;
        long metaOffset = logOffset + logSize;
        long batOffset = metaOffset + Vhdx.MIB;
        long entries = Bat.entriesNeeded(meta);
        long batLength = Vhdx.roundUp(entries * 8, Vhdx.MIB);
        long dataStart = batOffset + batLength;
        long block = meta.blockSizeBytes();
        long dataBlocks = (meta.virtualSizeBytes() + block - 1) / block;
        long end = meta.leaveBlocksAllocated() ? dataStart + dataBlocks * block : dataStart;

        byte[] id = new byte[(int) (64 * Vhdx.KIB)];
        Bytes.of(id).putBytes(0, VhdxOpener.SIGNATURE).putBytes(8, CREATOR.getBytes(StandardCharsets.UTF_16LE));
        fs.write(ByteBuffer.wrap(id), Vhdx.FILE_ID_OFFSET);
        RegionTable regions = new RegionTable(List.of(
                new RegionTable.Entry(Vhdx.BAT_REGION, batOffset, batLength, true),
                new RegionTable.Entry(Vhdx.METADATA_REGION, metaOffset, Vhdx.MIB, true)));
        fs.write(ByteBuffer.wrap(regions.write()), Vhdx.REGION1_OFFSET);
        fs.write(ByteBuffer.wrap(regions.write()), Vhdx.REGION2_OFFSET);
        fs.write(ByteBuffer.wrap(meta.writeRegion((int) Vhdx.MIB)), metaOffset);
        if (meta.leaveBlocksAllocated() || zeroBlocks) {
            writeBat(fs, meta, batOffset, entries, zeroBlocks ? -1 : dataStart);
        }
        fs.truncate(end);
        UUID fileWrite = UUID.randomUUID();
        UUID dataWrite = UUID.randomUUID();
        VhdxHeader h1 = new VhdxHeader(1, fileWrite, dataWrite, Vhdx.ZERO_GUID, 0, 1, logSize, logOffset);
        fs.force();
        fs.write(ByteBuffer.wrap(h1.write()), Vhdx.HEADER1_OFFSET);
        fs.write(ByteBuffer.wrap(h1.next(fileWrite, dataWrite, Vhdx.ZERO_GUID).write()), Vhdx.HEADER2_OFFSET);
        fs.force();
    }

    /**
     * Every payload entry of the BAT (the sector bitmap entries, one per chunk, stay NOT_PRESENT):
     * FULLY_PRESENT at its place from {@code dataStart} on (fixed), or with {@code dataStart} -1
     * PAYLOAD_BLOCK_ZERO without a place (block_state_zero=on, MS-VHDX 2.5.1.1).
     */
    private static void writeBat(FileStorage fs, VhdxMetadata meta, long batOffset, long entries, long dataStart)
            throws IOException {
        long ratio = meta.chunkRatio();
        int perChunk = (int) (Vhdx.MIB / 8);
        for (long first = 0; first < entries; first += perChunk) {
            int n = (int) Math.min(perChunk, entries - first);
            byte[] b = new byte[n * 8];
            Bytes w = Bytes.of(b);
            for (int k = 0; k < n; k++) {
                long i = first + k;
                if (i % (ratio + 1) != ratio) {
                    long blockIndex = i - i / (ratio + 1);
                    w.put64le(k * 8, dataStart < 0 ? Bat.entry(Bat.ZERO, 0)
                            : Bat.entry(Bat.FULLY_PRESENT, dataStart + blockIndex * meta.blockSizeBytes()));
                }
            }
            fs.write(ByteBuffer.wrap(b), batOffset + first * 8);
        }
    }
}
