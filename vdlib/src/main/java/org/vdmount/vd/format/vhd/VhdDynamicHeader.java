package org.vdmount.vd.format.vhd;

import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import java.util.UUID;
import org.vdmount.vd.Bytes;

/**
 * The dynamic disk header (libvhdi "Dynamic disk header"): 1024 big-endian bytes at the footer's
 * data offset of dynamic and differencing images.
 *
 * @param dataOffsetBytes    0x08 unused, all ones
 * @param tableOffsetBytes   0x10 file offset of the block allocation table
 * @param headerVersion      0x18 0x00010000
 * @param maxTableEntries    0x1C number of BAT entries
 * @param blockSizeBytes     0x20 data bytes per block (a power of two; bitmap not included)
 * @param checksum           0x24 one's complement of the byte sum (this field taken as zero)
 * @param parentUuid         0x28 differencing: the parent footer's unique id
 * @param parentTimestamp    0x38 differencing: parent modification time, seconds since 2000
 * @param parentName         0x40 differencing: parent file name, 512 bytes UTF-16BE (0x3C reserved)
 * @param locators           0x240 eight parent locator entries (0x300: 256 reserved bytes)
 */
record VhdDynamicHeader(long dataOffsetBytes, long tableOffsetBytes, long headerVersion, long maxTableEntries,
                        long blockSizeBytes, long checksum, UUID parentUuid, long parentTimestamp,
                        String parentName, List<VhdParentLocator> locators) {

    static final int SIZE = 1024;
    static final String COOKIE = "cxsparse";
    static final int CHECKSUM_OFFSET = 0x24;
    static final int PARENT_NAME_OFFSET = 0x40;
    static final int PARENT_NAME_SIZE = 512;
    static final int LOCATORS_OFFSET = 0x240;
    static final int LOCATOR_COUNT = 8;
    static final long UNUSED_BAT_ENTRY = 0xFFFF_FFFFL;

    VhdDynamicHeader {
        locators = List.copyOf(locators);
    }

    static boolean hasCookie(Bytes b) {
        return b.asciiz(0, 8).equals(COOKIE);
    }

    static VhdDynamicHeader parse(Bytes b) {
        List<VhdParentLocator> locs = new ArrayList<>();
        for (int i = 0; i < LOCATOR_COUNT; i++) {
            locs.add(VhdParentLocator.parse(b.at(LOCATORS_OFFSET + i * VhdParentLocator.SIZE)));
        }
        return new VhdDynamicHeader(b.u64be(0x08), b.u64be(0x10), b.u32be(0x18), b.u32be(0x1C),
                b.u32be(0x20), b.u32be(CHECKSUM_OFFSET), b.uuidBe(0x28), b.u32be(0x38),
                b.utf16be(PARENT_NAME_OFFSET, PARENT_NAME_SIZE), locs);
    }

    /** The 1024 on-disk bytes with the checksum computed (the {@link #checksum} field is ignored). */
    Bytes encode() {
        Bytes b = Bytes.allocate(SIZE);
        b.putBytes(0x00, COOKIE.getBytes(StandardCharsets.US_ASCII));
        b.put64be(0x08, dataOffsetBytes).put64be(0x10, tableOffsetBytes).put32be(0x18, headerVersion);
        b.put32be(0x1C, maxTableEntries).put32be(0x20, blockSizeBytes).putUuidBe(0x28, parentUuid);
        b.put32be(0x38, parentTimestamp);
        byte[] name = parentName.getBytes(StandardCharsets.UTF_16BE);
        b.putBytes(PARENT_NAME_OFFSET, java.util.Arrays.copyOf(name, Math.min(name.length, PARENT_NAME_SIZE)));
        for (int i = 0; i < locators.size() && i < LOCATOR_COUNT; i++) {
            locators.get(i).write(b.at(LOCATORS_OFFSET + i * VhdParentLocator.SIZE));
        }
        b.put32be(CHECKSUM_OFFSET, VhdFooter.checksum(b, SIZE, CHECKSUM_OFFSET));
        return b;
    }

    /** Bytes of the sector bitmap in front of each block: one bit per sector, padded to 512. */
    static long bitmapSizeBytes(long blockSizeBytes) {
        long bits = blockSizeBytes / VhdGeometry.SECTOR;
        long bytes = (bits + 7) / 8;
        return (bytes + VhdGeometry.SECTOR - 1) / VhdGeometry.SECTOR * VhdGeometry.SECTOR;
    }
}
