package org.vdmount.partitions;

import java.util.ArrayList;
import java.util.List;

/**
 * A 512-byte MBR or EBR sector: boot code, four {@link MbrEntry}s at 0x1BE, signature 0x55 0xAA at
 * 0x1FE (libvsmbr "Master Boot Record"). The same layout holds in sectors of 4096 bytes: only the
 * first 512 bytes matter.
 */
record Mbr(List<MbrEntry> entries, boolean signatureValid) {
    static final int SIZE = 512;
    static final int TABLE_OFFSET = 0x1BE;
    static final int SIGNATURE_OFFSET = 0x1FE;
    static final int PROTECTIVE_TYPE = 0xEE;

    Mbr {
        entries = List.copyOf(entries);
    }

    static Mbr parse(byte[] sector) {
        Bytes b = Bytes.of(sector);
        List<MbrEntry> entries = new ArrayList<>(4);
        for (int i = 0; i < 4; i++) {
            entries.add(MbrEntry.parse(b.at(TABLE_OFFSET + i * MbrEntry.SIZE)));
        }
        boolean signature = b.u8(SIGNATURE_OFFSET) == 0x55 && b.u8(SIGNATURE_OFFSET + 1) == 0xAA;
        return new Mbr(entries, signature);
    }

    /** Whether any entry is a GPT protective one (0xEE), i.e. a protective or hybrid MBR. */
    boolean hasProtectiveEntry() {
        return signatureValid && entries.stream().anyMatch(e -> e.type() == PROTECTIVE_TYPE);
    }

    /** Whether any used entry is something other than 0xEE (a hybrid MBR, or a real MBR). */
    boolean hasOtherEntries() {
        return entries.stream().anyMatch(e -> e.used() && e.type() != PROTECTIVE_TYPE);
    }

    /** Linux rejects a table whose boot indicators are not all 0x00 or 0x80 (msdos.c). */
    boolean bootIndicatorsValid() {
        return entries.stream().allMatch(e -> e.bootIndicator() == 0 || e.bootIndicator() == 0x80);
    }
}
