package org.vdmount.vd.format.vhdx;

import java.util.Arrays;
import org.vdmount.vd.Bytes;

/**
 * A 32-byte log descriptor (MS-VHDX 2.3.1.2 and 2.3.1.3). A zero descriptor ("zero") asks for
 * {@code zeroLength} zero bytes at {@code fileOffset}; a data descriptor ("desc") writes one 4 KiB
 * page whose bytes 8..4091 are in the matching data sector and whose first 8 and last 4 bytes are
 * kept here (the data sector's own first 8 and last 4 bytes hold its signature and sequence).
 *
 * @param data          0x00 signature: "desc" (data) or "zero"
 * @param trailingBytes 0x04 data: bytes 4092..4095 of the page (u32); zero: reserved
 * @param leadingOrZeroLength 0x08 data: bytes 0..7 of the page (u64); zero: length, multiple of 4 KiB
 * @param fileOffset    0x10 u64, multiple of 4 KiB
 * @param sequence      0x18 u64, the entry's sequence number
 */
record LogDescriptor(boolean data, long trailingBytes, long leadingOrZeroLength, long fileOffset, long sequence) {
    static final int SIZE = 32;
    static final long DATA_SIGNATURE = 0x6373_6564L; // "desc"
    static final long ZERO_SIGNATURE = 0x6F72_657AL; // "zero"
    /** Signature of a data sector ("data"), followed by the sequence's high 32 bits. */
    static final long DATA_SECTOR_SIGNATURE = 0x6174_6164L;

    /** The descriptor at {@code b}, or null if its signature is neither "desc" nor "zero". */
    static LogDescriptor parse(Bytes b) {
        long sig = b.u32le(0);
        if (sig != DATA_SIGNATURE && sig != ZERO_SIGNATURE) {
            return null;
        }
        return new LogDescriptor(sig == DATA_SIGNATURE, b.u32le(4), b.u64le(8), b.u64le(0x10), b.u64le(0x18));
    }

    void write(Bytes w) {
        w.put32le(0, data ? DATA_SIGNATURE : ZERO_SIGNATURE);
        w.put32le(4, data ? trailingBytes : 0);
        w.put64le(8, leadingOrZeroLength);
        w.put64le(0x10, fileOffset);
        w.put64le(0x18, sequence);
    }

    /** Whether a 4 KiB data sector carries the "data" signature and {@code seq} split around its payload. */
    static boolean dataSectorMatches(Bytes sector, long seq) {
        return sector.u32le(0) == DATA_SECTOR_SIGNATURE && sector.u32le(4) == seq >>> 32
                && sector.u32le(Vhdx.LOG_SECTOR - 4) == (seq & 0xFFFF_FFFFL);
    }

    /** Fills the data sector for a page: signature, sequence halves, bytes 8..4091 of the page. */
    static void writeDataSector(Bytes sector, byte[] page, long seq) {
        sector.putBytes(8, Arrays.copyOfRange(page, 8, Vhdx.LOG_SECTOR - 4));
        sector.put32le(0, DATA_SECTOR_SIGNATURE);
        sector.put32le(4, seq >>> 32);
        sector.put32le(Vhdx.LOG_SECTOR - 4, seq);
    }
}
