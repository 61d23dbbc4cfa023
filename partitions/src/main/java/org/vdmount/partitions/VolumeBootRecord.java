package org.vdmount.partitions;

/**
 * Recognises a filesystem boot sector (FAT12/16/32, NTFS, exFAT volume boot record) in sector 0: such
 * a sector also ends in 0x55 0xAA but holds no partition table. Checked: the x86 jump at 0x00
 * (EB xx 90 or E9 xx xx), then the OEM id at 0x03 ("NTFS    ", "EXFAT   ") or a plausible FAT BIOS
 * parameter block (bytes per sector 0x0B, sectors per cluster 0x0D, reserved sectors 0x0E, FAT count
 * 0x10, media descriptor 0x15).
 */
final class VolumeBootRecord {
    private VolumeBootRecord() {
    }

    /** "NTFS", "exFAT" or "FAT" when {@code sector} looks like that volume boot record, else null. */
    static String detect(byte[] sector) {
        Bytes b = Bytes.of(sector);
        boolean jump = (b.u8(0) == 0xEB && b.u8(2) == 0x90) || b.u8(0) == 0xE9;
        if (!jump) {
            return null;
        }
        String oem = b.asciiz(0x03, 8);
        if (oem.equals("NTFS    ")) {
            return "NTFS";
        }
        if (oem.equals("EXFAT   ")) {
            return "exFAT";
        }
        int bytesPerSector = b.u16le(0x0B);
        int sectorsPerCluster = b.u8(0x0D);
        int reservedSectors = b.u16le(0x0E);
        int fatCount = b.u8(0x10);
        int media = b.u8(0x15);
        boolean bpb = bytesPerSector >= 512 && bytesPerSector <= 4096 && Integer.bitCount(bytesPerSector) == 1
                && sectorsPerCluster != 0 && Integer.bitCount(sectorsPerCluster) == 1
                && reservedSectors >= 1 && fatCount >= 1 && fatCount <= 2
                && (media == 0xF0 || media >= 0xF8);
        return bpb ? "FAT" : null;
    }
}
