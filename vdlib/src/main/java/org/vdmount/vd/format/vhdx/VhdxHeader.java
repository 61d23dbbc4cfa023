package org.vdmount.vd.format.vhdx;

import java.util.UUID;
import org.vdmount.vd.Bytes;

/**
 * One of the two 4 KiB headers at 64 KiB and 128 KiB (MS-VHDX 2.2.2). The valid one with the
 * higher sequence number is current; updates go to the other slot with sequence + 1.
 *
 * @param sequence       0x08 u64
 * @param fileWriteGuid  0x10 changed before the first write to the file in a session
 * @param dataWriteGuid  0x20 changed before the first change of visible data; children link to it
 * @param logGuid        0x30 zero = no log to replay; log entries must carry this GUID
 * @param logVersion     0x40 u16, must be 0
 * @param version        0x42 u16, must be 1
 * @param logLengthBytes 0x44 u32, multiple of 1 MiB
 * @param logOffsetBytes 0x48 u64, multiple of 1 MiB, at least 1 MiB
 */
record VhdxHeader(long sequence, UUID fileWriteGuid, UUID dataWriteGuid, UUID logGuid, int logVersion,
                  int version, long logLengthBytes, long logOffsetBytes) {
    static final int SIZE = 4096;
    static final long SIGNATURE = 0x6461_6568L; // "head"
    static final int CHECKSUM_OFFSET = 4;

    /** The header in {@code b} (4096 bytes), or null if its signature or CRC-32C is wrong. */
    static VhdxHeader parse(byte[] b) {
        Bytes r = Bytes.of(b);
        if (r.u32le(0) != SIGNATURE || r.u32le(CHECKSUM_OFFSET) != Vhdx.crc32c(b, 0, SIZE, CHECKSUM_OFFSET)) {
            return null;
        }
        return new VhdxHeader(r.u64le(0x08), r.guid(0x10), r.guid(0x20), r.guid(0x30), r.u16le(0x40),
                r.u16le(0x42), r.u32le(0x44), r.u64le(0x48));
    }

    byte[] write() {
        byte[] b = new byte[SIZE];
        Bytes w = Bytes.of(b);
        w.put32le(0, SIGNATURE);
        w.put64le(0x08, sequence);
        w.putGuid(0x10, fileWriteGuid);
        w.putGuid(0x20, dataWriteGuid);
        w.putGuid(0x30, logGuid);
        w.put16le(0x40, logVersion);
        w.put16le(0x42, version);
        w.put32le(0x44, logLengthBytes);
        w.put64le(0x48, logOffsetBytes);
        w.put32le(CHECKSUM_OFFSET, Vhdx.crc32c(b, 0, SIZE, CHECKSUM_OFFSET));
        return b;
    }

    VhdxHeader next(UUID fileWrite, UUID dataWrite, UUID log) {
        return new VhdxHeader(sequence + 1, fileWrite, dataWrite, log, logVersion, version, logLengthBytes,
                logOffsetBytes);
    }

    boolean hasLog() {
        return !logGuid.equals(Vhdx.ZERO_GUID);
    }
}
