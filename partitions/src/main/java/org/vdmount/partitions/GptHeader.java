package org.vdmount.partitions;

import java.util.zip.CRC32;

/**
 * The GPT header (libvsgpt "GPT partition table header"; UEFI 2.x section 5.3.2), little-endian, in
 * the first {@code headerSizeBytes} of its sector.
 *
 * @param crcValid whether the CRC-32 of the first {@code headerSizeBytes} (with the CRC field taken
 *                 as 0) matches {@code headerCrc32}; false when the size is out of range
 */
record GptHeader(long revision, long headerSizeBytes, long headerCrc32, long myLba, long alternateLba,
                 long firstUsableLba, long lastUsableLba, String diskGuid, long entriesLba, long entryCount,
                 long entrySizeBytes, long entriesCrc32, boolean crcValid) {
    static final int SIZE = 92;
    static final long SIGNATURE = 0x5452_4150_2049_4645L; // "EFI PART"

    /** The header in {@code sector}, or null when the signature is missing. */
    static GptHeader parse(byte[] sector) {
        Bytes b = Bytes.of(sector);
        if (b.u64le(0x00) != SIGNATURE) {                 // 0x00 signature "EFI PART"
            return null;
        }
        long headerSize = b.u32le(0x0C);
        long crc = b.u32le(0x10);
        return new GptHeader(
                b.u32le(0x08),                            // 0x08 revision (0x00010000)
                headerSize,                               // 0x0C header size (92)
                crc,                                      // 0x10 CRC-32 of the header
                                                          // 0x14 reserved
                b.u64le(0x18),                            // 0x18 LBA of this header
                b.u64le(0x20),                            // 0x20 LBA of the other header
                b.u64le(0x28),                            // 0x28 first usable LBA
                b.u64le(0x30),                            // 0x30 last usable LBA (inclusive)
                b.guid(0x38).toString(),                  // 0x38 disk GUID
                b.u64le(0x48),                            // 0x48 LBA of the entry array
                b.u32le(0x50),                            // 0x50 number of entries
                b.u32le(0x54),                            // 0x54 size of one entry
                b.u32le(0x58),                            // 0x58 CRC-32 of the entry array
                headerSize >= SIZE && headerSize <= sector.length && crc == crc(sector, (int) headerSize));
    }

    private static long crc(byte[] sector, int length) {
        CRC32 crc = new CRC32();
        crc.update(sector, 0, 0x10);
        crc.update(new byte[4]);
        crc.update(sector, 0x14, length - 0x14);
        return crc.getValue();
    }

    long entryArrayBytes() {
        return entryCount * entrySizeBytes;
    }
}
