package org.vdmount.partitions;

import java.util.UUID;

/**
 * One GPT partition entry (libvsgpt "GPT partition entry"). Entries may be larger than {@link #SIZE}
 * (the header says how large); the extra bytes are ignored.
 *
 * @param firstLba first sector; unsigned, so values of 2^63 and more come back negative
 * @param lastLba  last sector, inclusive
 */
record GptEntry(UUID typeGuid, UUID uniqueGuid, long firstLba, long lastLba, long attributes, String name) {
    static final int SIZE = 128;
    static final long ATTR_LEGACY_BIOS_BOOTABLE = 1L << 2;
    private static final UUID UNUSED = new UUID(0, 0);

    static GptEntry parse(Bytes b) {
        return new GptEntry(
                b.guid(0x00),           // 0x00 partition type GUID (all zero = unused)
                b.guid(0x10),           // 0x10 unique partition GUID
                b.u64le(0x20),          // 0x20 first LBA
                b.u64le(0x28),          // 0x28 last LBA (inclusive)
                b.u64le(0x30),          // 0x30 attribute flags
                b.utf16le(0x38, 72));   // 0x38 name, 36 UTF-16LE code units
    }

    boolean used() {
        return !typeGuid.equals(UNUSED);
    }

    boolean bootable() {
        return (attributes & ATTR_LEGACY_BIOS_BOOTABLE) != 0;
    }
}
