package org.vdmount.vd.format.vhdx;

import java.io.IOException;
import java.util.UUID;

/**
 * The current header and its slot. An update writes the other slot with sequence + 1 and flushes;
 * it is done twice, so both slots end up holding the new values (MS-VHDX 2.2.2.1).
 */
final class Headers {
    private volatile VhdxHeader current;
    private int slot;

    Headers(VhdxHeader current, int slot) {
        this.current = current;
        this.slot = slot;
    }

    VhdxHeader current() {
        return current;
    }

    int slot() {
        return slot;
    }

    static long offset(int slot) {
        return slot == 0 ? Vhdx.HEADER1_OFFSET : Vhdx.HEADER2_OFFSET;
    }

    void update(VhdxFile f, UUID fileWrite, UUID dataWrite, UUID log) throws IOException {
        for (int i = 0; i < 2; i++) {
            VhdxHeader next = current.next(fileWrite, dataWrite, log);
            int target = 1 - slot;
            f.writeMeta(next.write(), offset(target), "header-write");
            f.force("header-flush");
            current = next;
            slot = target;
        }
    }
}
