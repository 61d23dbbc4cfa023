package org.vdmount.partitions;

/**
 * One APM partition map entry (libvsapm "The partition map entry"), big-endian, one per block from
 * block 1 on. Only the first 512 bytes carry data, whatever the block size.
 *
 * @param mapEntries   number of entries in the whole map (read from the first entry)
 * @param startBlock   first block of the partition
 * @param blockCount   number of blocks
 * @param statusFlags  0x1 valid, 0x2 allocated, 0x4 in use, 0x8 contains boot information, ...
 */
record ApmEntry(long mapEntries, long startBlock, long blockCount, String name, String type, long statusFlags) {
    static final int SIZE = 512;
    static final int SIGNATURE = 0x504D; // "PM"
    static final long STATUS_BOOTABLE = 0x8;

    /** The entry in {@code block}, or null when the "PM" signature is missing. */
    static ApmEntry parse(byte[] block) {
        Bytes b = Bytes.of(block);
        if (b.u16be(0x00) != SIGNATURE) {      // 0x00 signature "PM"
            return null;
        }
        return new ApmEntry(                   // 0x02 reserved
                b.u32be(0x04),                 // 0x04 number of map entries
                b.u32be(0x08),                 // 0x08 partition start block
                b.u32be(0x0C),                 // 0x0C partition block count
                b.asciiz(0x10, 32),            // 0x10 partition name
                b.asciiz(0x30, 32),            // 0x30 partition type ("Apple_HFS", ...)
                                               // 0x50 data area start, 0x54 data area count
                b.u32be(0x58));                // 0x58 status flags
                                               // 0x5C boot code fields, 0x78 processor type
    }

    /** Free space: mmls flags it unallocated (not listed by {@code mmls -a}); Linux lists it. */
    boolean isFree() {
        return type.equalsIgnoreCase("Apple_Free");
    }

    /** The map's own entry, which describes the blocks holding the map. */
    boolean isMap() {
        return type.equalsIgnoreCase("Apple_partition_map");
    }
}
