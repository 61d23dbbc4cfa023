package org.vdmount.vd.format.vmdk;

import org.vdmount.vd.Bytes;

/**
 * The header of an ESX Server sparse extent, "COWD" (vmfsSparse; VMware "Virtual Disk Format 5.0",
 * "ESX Server Sparse Extent Header"; libvmdk notes "The COWD sparse extent data file"). Little
 * endian, sizes and offsets in sectors. Grain tables have a fixed 4096 entries.
 */
record CowdHeader(
        long version,              // 0x04 u32: 1
        long flags,                // 0x08 u32
        long capacitySectors,      // 0x0C u32
        long grainSectors,         // 0x10 u32
        long gdOffset,             // 0x14 u32
        long gdEntries,            // 0x18 u32
        long freeSector,           // 0x1C u32: next free sector
        String parentFileName) {   // 0x20 char[1024] (children only; often empty)

    static final int SIZE = 2048;
    static final int GT_ENTRIES = 4096;

    static boolean hasMagic(Bytes b) {
        return b.size() >= 4 && b.u8(0) == 'C' && b.u8(1) == 'O' && b.u8(2) == 'W' && b.u8(3) == 'D';
    }

    static CowdHeader parse(Bytes b) {
        return new CowdHeader(b.u32le(0x04), b.u32le(0x08), b.u32le(0x0C), b.u32le(0x10), b.u32le(0x14),
                b.u32le(0x18), b.u32le(0x1C), b.asciiz(0x20, 1024));
    }
}
