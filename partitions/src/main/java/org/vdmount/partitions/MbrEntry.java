package org.vdmount.partitions;

/**
 * One 16-byte MBR/EBR partition entry (libvsmbr "MBR partition entry"). CHS fields are ignored:
 * every modern tool uses the LBA fields.
 *
 * @param bootIndicator 0x80 active, 0x00 inactive; anything else means the sector is no table
 * @param type          partition type byte
 * @param startLba      first sector, relative to the table's base (see {@link MbrReader})
 * @param sectorCount   number of sectors; 0 means the entry is unused (as Linux and libfdisk read it)
 */
record MbrEntry(int bootIndicator, int type, long startLba, long sectorCount) {
    static final int SIZE = 16;

    static MbrEntry parse(Bytes b) {
        return new MbrEntry(
                b.u8(0x00),     // 0x00 boot indicator
                                // 0x01 CHS of the first sector (3 bytes)
                b.u8(0x04),     // 0x04 partition type
                                // 0x05 CHS of the last sector (3 bytes)
                b.u32le(0x08),  // 0x08 LBA of the first sector
                b.u32le(0x0C)); // 0x0C number of sectors
    }

    boolean used() {
        return sectorCount != 0;
    }

    boolean bootable() {
        return bootIndicator == 0x80;
    }

    /** DOS extended (0x05), Windows extended LBA (0x0F) and Linux extended (0x85), as Linux accepts. */
    boolean isExtended() {
        return isExtendedType(type);
    }

    static boolean isExtendedType(int type) {
        return type == 0x05 || type == 0x0F || type == 0x85;
    }

    String typeCode() {
        return String.format("%02x", type);
    }
}
