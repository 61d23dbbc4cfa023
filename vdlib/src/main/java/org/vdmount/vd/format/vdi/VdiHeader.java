package org.vdmount.vd.format.vdi;

import java.nio.file.Path;
import java.util.UUID;
import org.vdmount.vd.Bytes;
import org.vdmount.vd.CorruptImageException;
import org.vdmount.vd.TruncatedImageException;
import org.vdmount.vd.UnsupportedFeatureException;

/**
 * VDIPREHEADER followed by VDIHEADER1PLUS (VirtualBox src/VBox/Storage/VDICore.h), all fields
 * little endian; offsets are from the start of the file. A v1.1 header without the LCHS geometry
 * ({@code cbHeader} = 0x180, as QEMU writes it) and the old v0 header (VDIHEADER0, version
 * 0x00000002, read-only here) parse into the same record; fields v0 lacks are derived or zero.
 * UUIDs are RTUUIDs, i.e. Microsoft GUID byte order.
 *
 * @param fileInfo            0x000 szFileInfo[64], text for eyes only
 * @param signature           0x040 u32Signature, {@link #SIGNATURE}
 * @param version             0x044 u32Version, major &lt;&lt; 16 | minor
 * @param headerSizeBytes     0x048 cbHeader (v0: {@link #V0_SIZE})
 * @param imageType           0x04C u32Type ({@link #TYPE_NORMAL} ...)
 * @param imageFlags          0x050 fFlags
 * @param comment             0x054 szComment[256]
 * @param blockMapOffsetBytes 0x154 offBlocks (v0: right after the header)
 * @param dataOffsetBytes     0x158 offData (v0: right after the block map)
 * @param legacyGeometry      0x15C LegacyGeometry
 * @param dummy               0x16C u32Dummy (was the BIOS translation mode)
 * @param diskSizeBytes       0x170 cbDisk
 * @param blockSizeBytes      0x178 cbBlock
 * @param blockExtraBytes     0x17C cbBlockExtra, service data stored before every block
 * @param blockCount          0x180 cBlocks
 * @param allocatedBlocks     0x184 cBlocksAllocated
 * @param uuidCreate          0x188 this image's UUID
 * @param uuidModify          0x198 UUID of the last modification
 * @param uuidLinkage         0x1A8 differencing: the parent's uuidCreate
 * @param uuidParentModify    0x1B8 differencing: the parent's uuidModify when linked
 * @param lchsGeometry        0x1C8 LCHSGeometry (only when cbHeader &ge; 0x190, else null)
 */
record VdiHeader(byte[] fileInfo, long signature, long version, long headerSizeBytes, long imageType,
                 long imageFlags, byte[] comment, long blockMapOffsetBytes, long dataOffsetBytes,
                 Geometry legacyGeometry, long dummy, long diskSizeBytes, long blockSizeBytes,
                 long blockExtraBytes, long blockCount, long allocatedBlocks, UUID uuidCreate,
                 UUID uuidModify, UUID uuidLinkage, UUID uuidParentModify, Geometry lchsGeometry) {

    static final long SIGNATURE = 0xBEDA107FL;
    static final long VERSION_1_1 = 0x0001_0001L;
    /** The pre-1.1 layout VirtualBox still accepts (VDIHEADER0). */
    static final long VERSION_0 = 0x0000_0002L;

    static final int PRE_HEADER_SIZE = 0x48;
    static final int V0_SIZE = 0x15C;
    static final int V1_SIZE = 0x180;
    static final int V1_PLUS_SIZE = 0x190;
    /** Bytes to read to parse any supported header. */
    static final int SIZE = PRE_HEADER_SIZE + V1_PLUS_SIZE;
    static final int COMMENT_SIZE = 256;
    static final int FILE_INFO_SIZE = 64;

    static final int TYPE_NORMAL = 1;
    static final int TYPE_FIXED = 2;
    static final int TYPE_UNDO = 3;
    static final int TYPE_DIFF = 4;

    /** VD_VDI_IMAGE_FLAGS_ZERO_EXPAND >> 8, the only flag VirtualBox defines. */
    static final long FLAG_ZERO_EXPAND = 1;

    /**
     * Block sizes accepted at open: VirtualBox's upper bound (vdiOpenImage: 128 KiB..128 MiB), but
     * any power of two from one sector, since nothing here depends on VirtualBox's lower bound.
     */
    static final long MIN_BLOCK_SIZE = 512;
    static final long MAX_BLOCK_SIZE = 128L << 20;
    /** Cap on block map entries held in memory (64 TiB at 1 MiB blocks; 256 MiB of RAM). */
    static final long MAX_BLOCKS = 1L << 26;

    /** VDIDISKGEOMETRY: 0x0 cCylinders, 0x4 cHeads, 0x8 cSectors, 0xC cbSector. */
    record Geometry(long cylinders, long heads, long sectors, long sectorSizeBytes) {
        static final int SIZE = 16;

        static Geometry parse(Bytes b, int off) {
            return new Geometry(b.u32le(off), b.u32le(off + 4), b.u32le(off + 8), b.u32le(off + 12));
        }

        void write(Bytes b, int off) {
            b.put32le(off, cylinders).put32le(off + 4, heads).put32le(off + 8, sectors)
                    .put32le(off + 12, sectorSizeBytes);
        }

        static Geometry unset() {
            return new Geometry(0, 0, 0, 512);
        }
    }

    boolean isV0() {
        return version == VERSION_0;
    }

    /** Bytes of the header proper rewritten on update (VirtualBox writes VDIHEADER1 or 1PLUS). */
    int writtenSize() {
        return isV0() ? V0_SIZE : headerSizeBytes >= V1_PLUS_SIZE ? V1_PLUS_SIZE : V1_SIZE;
    }

    /** Bytes the pre-header and the header of {@code version} occupy, to check the file holds them. */
    static int requiredSize(long version, long headerSizeBytes) {
        return PRE_HEADER_SIZE + (version == VERSION_0 ? V0_SIZE
                : headerSizeBytes >= V1_PLUS_SIZE ? V1_PLUS_SIZE : V1_SIZE);
    }

    static UUID nullUuid() {
        return new UUID(0, 0);
    }

    /** Parses the pre-header and header; {@code b} holds at least {@link #requiredSize} bytes. */
    static VdiHeader parse(Bytes b) {
        byte[] info = b.bytes(0, FILE_INFO_SIZE);
        long sig = b.u32le(0x40);
        long ver = b.u32le(0x44);
        if (ver == VERSION_0) {
            long blocks = b.u32le(0x16C);
            long mapOffset = PRE_HEADER_SIZE + V0_SIZE;
            return new VdiHeader(info, sig, ver, V0_SIZE, b.u32le(0x48), b.u32le(0x4C), b.bytes(0x50, COMMENT_SIZE),
                    mapOffset, mapOffset + 4 * blocks, Geometry.parse(b, 0x150), 0, b.u64le(0x160),
                    b.u32le(0x168), 0, blocks, b.u32le(0x170), b.guid(0x174), b.guid(0x184), b.guid(0x194),
                    nullUuid(), null);
        }
        long cbHeader = b.u32le(0x48);
        return new VdiHeader(info, sig, ver, cbHeader, b.u32le(0x4C), b.u32le(0x50), b.bytes(0x54, COMMENT_SIZE),
                b.u32le(0x154), b.u32le(0x158), Geometry.parse(b, 0x15C), b.u32le(0x16C), b.u64le(0x170),
                b.u32le(0x178), b.u32le(0x17C), b.u32le(0x180), b.u32le(0x184), b.guid(0x188), b.guid(0x198),
                b.guid(0x1A8), b.guid(0x1B8), cbHeader >= V1_PLUS_SIZE ? Geometry.parse(b, 0x1C8) : null);
    }

    /** Writes the pre-header and the v1.1 header (0x180 or 0x190 bytes, per cbHeader) into {@code b}. */
    void write(Bytes b) {
        if (isV0()) {
            throw new IllegalStateException("v0 VDI headers are never written");
        }
        b.putBytes(0, fileInfo).put32le(0x40, signature).put32le(0x44, version);
        b.put32le(0x48, headerSizeBytes).put32le(0x4C, imageType).put32le(0x50, imageFlags);
        b.putBytes(0x54, comment);
        b.put32le(0x154, blockMapOffsetBytes).put32le(0x158, dataOffsetBytes);
        legacyGeometry.write(b, 0x15C);
        b.put32le(0x16C, dummy).put64le(0x170, diskSizeBytes).put32le(0x178, blockSizeBytes)
                .put32le(0x17C, blockExtraBytes).put32le(0x180, blockCount).put32le(0x184, allocatedBlocks);
        b.putGuid(0x188, uuidCreate).putGuid(0x198, uuidModify).putGuid(0x1A8, uuidLinkage)
                .putGuid(0x1B8, uuidParentModify);
        if (writtenSize() == V1_PLUS_SIZE) {
            (lchsGeometry != null ? lchsGeometry : Geometry.unset()).write(b, 0x1C8);
        }
    }

    /** The same header with a new allocated-block count and modification UUID. */
    VdiHeader withState(long allocated, UUID modify) {
        return new VdiHeader(fileInfo, signature, version, headerSizeBytes, imageType, imageFlags, comment,
                blockMapOffsetBytes, dataOffsetBytes, legacyGeometry, dummy, diskSizeBytes, blockSizeBytes,
                blockExtraBytes, blockCount, allocated, uuidCreate, modify, uuidLinkage, uuidParentModify,
                lchsGeometry);
    }

    /** The same header for a resized disk (vd resize): map and data offsets, size, block counts. */
    VdiHeader resized(long mapOffset, long dataOffset, long diskSize, long blocks, long allocated) {
        return new VdiHeader(fileInfo, signature, version, headerSizeBytes, imageType, imageFlags, comment,
                mapOffset, dataOffset, legacyGeometry, dummy, diskSize, blockSizeBytes, blockExtraBytes, blocks,
                allocated, uuidCreate, uuidModify, uuidLinkage, uuidParentModify, lchsGeometry);
    }

    /**
     * The same header with the identity, linkage, comment and legacy geometry of an edit applied
     * (VirtualBox's VDSetUuid / VDSetParentUuid / VDSetComment / VDSetPCHSGeometry); a null
     * argument keeps the field. {@code type} is the new image type.
     */
    VdiHeader edited(long type, UUID create, UUID linkage, UUID parentModify, byte[] newComment, Geometry legacy) {
        return new VdiHeader(fileInfo, signature, version, headerSizeBytes, type, imageFlags,
                newComment != null ? newComment : comment, blockMapOffsetBytes, dataOffsetBytes,
                legacy != null ? legacy : legacyGeometry, dummy, diskSizeBytes, blockSizeBytes, blockExtraBytes,
                blockCount, allocatedBlocks, create != null ? create : uuidCreate, uuidModify,
                linkage != null ? linkage : uuidLinkage, parentModify != null ? parentModify : uuidParentModify,
                lchsGeometry);
    }

    /** Virtual size: cbDisk rounded up to whole sectors, as QEMU does (VirtualBox rounds down). */
    long virtualSizeBytes() {
        return (diskSizeBytes + 511) & ~511L;
    }

    /** Bytes one block occupies in the file: extra service data, then the block's data. */
    long strideBytes() {
        return blockExtraBytes + blockSizeBytes;
    }

    String commentText() {
        return Bytes.of(comment).asciiz(0, COMMENT_SIZE);
    }

    /**
     * Checks every header field the reader relies on (VirtualBox vdiValidateHeader plus the bounds
     * this reader needs). Throws a typed exception naming the file, field and offset.
     */
    void validate(Path file, long fileSizeBytes) throws CorruptImageException, UnsupportedFeatureException {
        if (!isV0()) {
            if (headerSizeBytes < V1_SIZE) {
                throw corrupt(file, 0x48, "header size " + headerSizeBytes + " < " + V1_SIZE);
            }
            long minMap = PRE_HEADER_SIZE + Math.min(headerSizeBytes, (long) V1_PLUS_SIZE);
            if (blockMapOffsetBytes < minMap || PRE_HEADER_SIZE + headerSizeBytes > blockMapOffsetBytes) {
                throw corrupt(file, 0x154, "block map offset 0x" + Long.toHexString(blockMapOffsetBytes)
                        + " overlaps the header of " + headerSizeBytes + " bytes");
            }
        }
        if (imageType == TYPE_UNDO) {
            throw new UnsupportedFeatureException("vdi: " + file + " is an undo image (type 3), not supported");
        }
        if (imageType < TYPE_NORMAL || imageType > TYPE_DIFF) {
            throw corrupt(file, isV0() ? 0x48 : 0x4C, "image type " + imageType + " (valid: 1..4)");
        }
        if ((imageFlags & ~FLAG_ZERO_EXPAND) != 0) {
            throw new UnsupportedFeatureException("vdi: " + file + " has unknown image flags 0x"
                    + Long.toHexString(imageFlags) + " in the header at 0x" + Integer.toHexString(isV0() ? 0x4C : 0x50));
        }
        int sizeField = isV0() ? 0x160 : 0x170;
        int blockField = isV0() ? 0x168 : 0x178;
        int countField = isV0() ? 0x16C : 0x180;
        if (diskSizeBytes <= 0) {
            throw corrupt(file, sizeField, "disk size " + Long.toUnsignedString(diskSizeBytes));
        }
        if (Long.bitCount(blockSizeBytes) != 1 || blockSizeBytes < MIN_BLOCK_SIZE || blockSizeBytes > MAX_BLOCK_SIZE) {
            throw corrupt(file, blockField, "block size " + blockSizeBytes + " is not a power of two in ["
                    + MIN_BLOCK_SIZE + ", " + MAX_BLOCK_SIZE + "]");
        }
        if (blockExtraBytes != 0 && (Long.bitCount(blockExtraBytes) != 1 || blockExtraBytes > MAX_BLOCK_SIZE)) {
            throw corrupt(file, 0x17C, "extra block size " + blockExtraBytes + " is not a power of two <= "
                    + MAX_BLOCK_SIZE);
        }
        if (blockCount == 0) {
            throw corrupt(file, countField, "block count 0");
        }
        if (blockCount * blockSizeBytes < virtualSizeBytes()) {
            throw corrupt(file, countField, blockCount + " blocks of " + blockSizeBytes
                    + " bytes cannot hold the disk size " + diskSizeBytes);
        }
        if (allocatedBlocks > blockCount) {
            throw corrupt(file, countField + 4, "allocated block count " + allocatedBlocks + " > block count "
                    + blockCount);
        }
        long mapEnd = blockMapOffsetBytes + 4 * blockCount;
        if (!isV0() && dataOffsetBytes < mapEnd) {
            throw corrupt(file, 0x158, "data offset 0x" + Long.toHexString(dataOffsetBytes)
                    + " inside the block map ending at 0x" + Long.toHexString(mapEnd));
        }
        if (mapEnd > fileSizeBytes) {
            throw new TruncatedImageException("vdi", file, "block map", blockMapOffsetBytes, 4 * blockCount,
                    fileSizeBytes);
        }
        if (blockCount > MAX_BLOCKS) {
            throw new UnsupportedFeatureException("vdi: " + file + " has " + blockCount
                    + " blocks; this reader holds at most " + MAX_BLOCKS);
        }
        if (uuidCreate.equals(nullUuid())) {
            throw corrupt(file, isV0() ? 0x174 : 0x188, "image UUID is null");
        }
        if (imageType == TYPE_DIFF && uuidLinkage.equals(nullUuid())) {
            throw corrupt(file, isV0() ? 0x194 : 0x1A8, "differencing image without a parent UUID");
        }
    }

    private static CorruptImageException corrupt(Path file, long offset, String detail) {
        return new CorruptImageException("vdi", file, "header", offset, detail);
    }
}
