package org.vdmount.vd.format.vhdx;

import java.util.UUID;
import java.util.zip.CRC32C;

/** Constants of the VHDX format (MS-VHDX v1.00) and the one checksum it uses. */
final class Vhdx {
    static final String FORMAT = "vhdx";

    static final long KIB = 1024;
    static final long MIB = 1024 * 1024;

    // 1 MiB header section (MS-VHDX 2.1): file identifier, two headers, two region tables.
    static final long HEADER_SECTION_BYTES = MIB;
    static final long FILE_ID_OFFSET = 0;
    static final long HEADER1_OFFSET = 64 * KIB;
    static final long HEADER2_OFFSET = 128 * KIB;
    static final long REGION1_OFFSET = 192 * KIB;
    static final long REGION2_OFFSET = 256 * KIB;

    // Region GUIDs (MS-VHDX 2.2.3.2).
    static final UUID BAT_REGION = UUID.fromString("2dc27766-f623-4200-9d64-115e9bfd4a08");
    static final UUID METADATA_REGION = UUID.fromString("8b7ca206-4790-4b9a-b8fe-575f050f886e");

    // Metadata item GUIDs (MS-VHDX 2.6.2).
    static final UUID FILE_PARAMETERS = UUID.fromString("caa16737-fa36-4d43-b3b6-33f0aa44e76b");
    static final UUID VIRTUAL_DISK_SIZE = UUID.fromString("2fa54224-cd1b-4876-b211-5dbed83bf4b8");
    static final UUID PAGE83_DATA = UUID.fromString("beca12ab-b2e6-4523-93ef-c309e000c746");
    static final UUID LOGICAL_SECTOR_SIZE = UUID.fromString("8141bf1d-a96f-4709-ba47-f233a8faab5f");
    static final UUID PHYSICAL_SECTOR_SIZE = UUID.fromString("cda348c7-445d-4471-9cc9-e9885251c556");
    static final UUID PARENT_LOCATOR = UUID.fromString("a8d35f2d-b30b-454d-abf7-d3d84834ab0c");
    /** LocatorType of a parent locator naming a VHDX parent (MS-VHDX 2.6.2.6). */
    static final UUID VHDX_PARENT_LOCATOR_TYPE = UUID.fromString("b04aefb7-d19e-4a81-b789-25b8e9445913");

    static final UUID ZERO_GUID = new UUID(0, 0);

    static final long MIN_BLOCK_SIZE = MIB;
    static final long MAX_BLOCK_SIZE = 256 * MIB;
    static final long MAX_VIRTUAL_SIZE = 64L << 40;
    /** Sectors described by one 1 MiB sector bitmap block (MS-VHDX 2.4.2). */
    static final long SECTORS_PER_BITMAP_BLOCK = 1L << 23;
    static final int LOG_SECTOR = 4096;

    private static final byte[] ZERO4 = new byte[4];

    private Vhdx() {
    }

    /** CRC-32C (Castagnoli) of {@code len} bytes with the 4-byte field at {@code crcField} taken as 0. */
    static long crc32c(byte[] b, int off, int len, int crcField) {
        CRC32C c = new CRC32C();
        c.update(b, off, crcField);
        c.update(ZERO4, 0, 4);
        c.update(b, off + crcField + 4, len - crcField - 4);
        return c.getValue();
    }

    static long roundUp(long value, long unit) {
        return (value + unit - 1) / unit * unit;
    }

    static String hex(long v) {
        return "0x" + Long.toHexString(v);
    }
}
