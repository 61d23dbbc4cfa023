package org.vdmount.vd.format.dmg;

import java.nio.charset.StandardCharsets;
import org.vdmount.vd.Bytes;

/**
 * A block table ({@code mish}, BLKXTable): the {@code Data} of one {@code blkx} entry of the
 * property list, big-endian (libmodi § UDIF XML plist, block table). Its chunk entries follow the
 * 204-byte header, {@link #ENTRY_SIZE} bytes each.
 *
 * @param name           the entry's {@code Name} (or {@code CFName}), e.g. "Apple_HFS : 2"
 * @param firstSector    +8: where the table's sectors start on the media
 * @param sectorCount    +16
 * @param dataOffset     +24: added to every chunk's stored offset (0 in images seen)
 * @param buffersNeeded  +32
 * @param blockDescriptors +36
 * @param checksum       +64: over the table's decoded sectors
 * @param chunkCount     +200
 */
record BlkxTable(String name, long firstSector, long sectorCount, long dataOffset, long buffersNeeded,
                 long blockDescriptors, UdifChecksum checksum, long chunkCount) {
    static final byte[] SIGNATURE = "mish".getBytes(StandardCharsets.US_ASCII);
    static final int HEADER_SIZE = 204;
    static final int ENTRY_SIZE = 40;

    static boolean hasSignature(Bytes b) {
        return b.size() >= 4 && java.util.Arrays.equals(b.bytes(0, 4), SIGNATURE);
    }

    static BlkxTable parse(String name, Bytes b) {
        return new BlkxTable(name, b.u64be(8), b.u64be(16), b.u64be(24), b.u32be(32), b.u32be(36),
                UdifChecksum.parse(b, 64), b.u32be(200));
    }

    /**
     * One chunk entry (BLKXChunkEntry) at {@code HEADER_SIZE + i * ENTRY_SIZE}.
     *
     * @param type         +0: a {@link ChunkKind} code
     * @param comment      +4
     * @param sectorStart  +8: from the table's first sector
     * @param sectorCount  +16
     * @param storedOffset +24: in the data fork (plus the table's data offset)
     * @param storedLength +32: bytes stored, 0 for zero chunks
     */
    record Entry(long type, long comment, long sectorStart, long sectorCount, long storedOffset, long storedLength) {
        static Entry parse(Bytes b, int i) {
            int o = HEADER_SIZE + i * ENTRY_SIZE;
            return new Entry(b.u32be(o), b.u32be(o + 4), b.u64be(o + 8), b.u64be(o + 16), b.u64be(o + 24),
                    b.u64be(o + 32));
        }
    }
}
