package org.vdmount.vd.format.ewf;

import java.nio.file.Path;
import org.vdmount.vd.Bytes;
import org.vdmount.vd.CorruptImageException;
import org.vdmount.vd.UnsupportedFeatureException;

/**
 * The EWF-E01 "volume" (or "disk") section data, 1052 bytes (spec: "Volume section", EWF-E01): the media's
 * geometry. Segments after the first repeat it as a "data" section.
 *
 * @param mediaType         0x00 removable, 0x01 fixed, 0x03 optical, 0x0e logical, 0x10 memory
 * @param chunkCount        number of chunks the set holds
 * @param sectorsPerChunk   sectors in one chunk (a power of two)
 * @param bytesPerSector    the media's sector size (a power of two, 512 or 4096 in practice)
 * @param sectorCount       the media's size in sectors
 * @param mediaFlags        bit 1: physical device
 * @param compressionLevel  0 none, 1 fast, 2 best
 * @param errorGranularity  sectors per read-error unit
 */
record VolumeSection(int mediaType, long chunkCount, long sectorsPerChunk, long bytesPerSector, long sectorCount,
                     int mediaFlags, int compressionLevel, long errorGranularity) {
    static final int SIZE = 1052;
    /** Chunks larger than this are refused: one chunk is decoded in memory (libewf's maximum is 32768 sectors). */
    static final long MAX_CHUNK_BYTES = 16L << 20;
    /** Chunks of one set at most (2^31 chunks of 32 KiB are 64 TiB of media); the volume's chunk count is 32 bits. */
    static final long MAX_CHUNKS = Integer.MAX_VALUE - 8;

    static VolumeSection parse(Bytes b, Path file, long offset) throws CorruptImageException {
        long stored = b.u32le(1048);
        long computed = SectionDescriptor.adler32(b, 0, 1048);
        if (stored != computed) {
            throw new CorruptImageException("ewf", file, "volume section", offset, "checksum 0x"
                    + Long.toHexString(stored) + ", computed 0x" + Long.toHexString(computed));
        }
        // 0: media type; 4: chunks (u32); 8: sectors per chunk (u32); 12: bytes per sector (u32);
        // 16: sectors (u64); 24..36: CHS; 36: media flags; 52: compression level; 56: error granularity
        return new VolumeSection(b.u8(0), b.u32le(4), b.u32le(8), b.u32le(12), b.u64le(16), b.u8(36), b.u8(52),
                b.u32le(56));
    }

    long chunkBytes() {
        return sectorsPerChunk * bytesPerSector;
    }

    /** The media's size in bytes. */
    long mediaBytes() {
        return sectorCount * bytesPerSector;
    }

    /** Chunks the media needs: the last one may be short. */
    long chunksNeeded() {
        return sectorCount == 0 ? 0 : (sectorCount - 1) / sectorsPerChunk + 1;
    }

    /** The geometry is sane and bounded: powers of two, a chunk that fits in memory, no overflow. */
    void validate(Path file, long offset) throws CorruptImageException, UnsupportedFeatureException {
        if (bytesPerSector < 256 || bytesPerSector > 65536 || Long.bitCount(bytesPerSector) != 1) {
            throw new CorruptImageException("ewf", file, "volume section", offset + 12, "bytes per sector "
                    + bytesPerSector + " is not a power of two in [256, 65536]");
        }
        if (sectorsPerChunk < 1 || Long.bitCount(sectorsPerChunk) != 1) {
            throw new CorruptImageException("ewf", file, "volume section", offset + 8, "sectors per chunk "
                    + sectorsPerChunk + " is not a power of two");
        }
        if (chunkBytes() > MAX_CHUNK_BYTES) {
            throw new UnsupportedFeatureException("ewf: " + file + ": chunks of " + chunkBytes() + " bytes (volume "
                    + "section at 0x" + Long.toHexString(offset) + ") exceed the supported " + MAX_CHUNK_BYTES);
        }
        if (sectorCount < 0 || sectorCount > Long.MAX_VALUE / bytesPerSector) {
            throw new CorruptImageException("ewf", file, "volume section", offset + 16, "sector count "
                    + Long.toUnsignedString(sectorCount) + " overflows");
        }
        if (chunksNeeded() > MAX_CHUNKS) {
            throw new UnsupportedFeatureException("ewf: " + file + ": " + chunksNeeded() + " chunks (volume section at 0x"
                    + Long.toHexString(offset) + ") exceed the supported " + MAX_CHUNKS);
        }
        if (chunkCount != chunksNeeded()) {
            throw new CorruptImageException("ewf", file, "volume section", offset + 4, "chunk count " + chunkCount
                    + " does not match " + sectorCount + " sectors of " + sectorsPerChunk + " per chunk ("
                    + chunksNeeded() + " chunks)");
        }
    }

    String compressionName() {
        return switch (compressionLevel) {
            case 0 -> "none";
            case 1 -> "fast";
            case 2 -> "best";
            default -> "level " + compressionLevel;
        };
    }

    String mediaTypeName() {
        return switch (mediaType) {
            case 0x00 -> "removable";
            case 0x01 -> "fixed";
            case 0x03 -> "optical";
            case 0x0e -> "logical";
            case 0x10 -> "memory";
            default -> "0x" + Integer.toHexString(mediaType);
        };
    }
}
