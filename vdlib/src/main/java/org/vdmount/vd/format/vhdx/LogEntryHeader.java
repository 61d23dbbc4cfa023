package org.vdmount.vd.format.vhdx;

import java.util.UUID;
import org.vdmount.vd.Bytes;

/**
 * Header of one log entry, the first 64 bytes of its first 4 KiB sector (MS-VHDX 2.3.1.1). The
 * descriptors follow it (32 bytes each, continuing into further sectors), then one 4 KiB data
 * sector per data descriptor. The checksum covers the whole entry with the field taken as 0.
 *
 * @param checksum          0x04 CRC-32C over {@code entryLength} bytes
 * @param entryLength       0x08 u32, multiple of 4 KiB
 * @param tail              0x0C u32, log offset of the first entry of the sequence this one ends
 * @param sequence          0x10 u64, not 0; +1 per entry within a sequence
 * @param descriptorCount   0x18 u32
 * @param logGuid           0x20 must equal the header's LogGuid
 * @param flushedFileOffset 0x30 u64, file size known stable when the entry was written
 * @param lastFileOffset    0x38 u64, file size all structures fit in
 */
record LogEntryHeader(long checksum, long entryLength, long tail, long sequence, long descriptorCount,
                      UUID logGuid, long flushedFileOffset, long lastFileOffset) {
    static final int SIZE = 64;
    static final long SIGNATURE = 0x6567_6F6CL; // "loge"
    static final int CHECKSUM_OFFSET = 4;

    static boolean hasSignature(Bytes b) {
        return b.u32le(0) == SIGNATURE;
    }

    static LogEntryHeader parse(Bytes b) {
        return new LogEntryHeader(b.u32le(0x04), b.u32le(0x08), b.u32le(0x0C), b.u64le(0x10), b.u32le(0x18),
                b.guid(0x20), b.u64le(0x30), b.u64le(0x38));
    }

    /** Writes everything but the checksum, which covers the finished entry. */
    void write(Bytes w) {
        w.put32le(0, SIGNATURE);
        w.put32le(0x08, entryLength);
        w.put32le(0x0C, tail);
        w.put64le(0x10, sequence);
        w.put32le(0x18, descriptorCount);
        w.putGuid(0x20, logGuid);
        w.put64le(0x30, flushedFileOffset);
        w.put64le(0x38, lastFileOffset);
    }

    /** Sectors holding the header and {@code descriptors} descriptors (at least one). */
    static long descriptorSectors(long descriptors) {
        return (SIZE + descriptors * LogDescriptor.SIZE + Vhdx.LOG_SECTOR - 1) / Vhdx.LOG_SECTOR;
    }
}
