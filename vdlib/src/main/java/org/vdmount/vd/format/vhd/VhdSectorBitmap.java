package org.vdmount.vd.format.vhd;

/**
 * The sector bitmap in front of each block: one bit per sector, the most significant bit of byte 0
 * is sector 0 (libvhdi "Data block sector bitmap"). Held in memory unpadded and immutable: changes
 * make a new array.
 */
final class VhdSectorBitmap {
    private VhdSectorBitmap() {
    }

    static boolean bit(byte[] bm, int sector) {
        return (bm[sector >>> 3] & (0x80 >>> (sector & 7))) != 0;
    }

    /** First sector after {@code from} whose bit differs from {@code set}, or {@code sectors}. */
    static int runEnd(byte[] bm, int from, boolean set, int sectors) {
        int want = set ? 0xFF : 0;
        int s = from + 1;
        while (s < sectors) {
            if ((s & 7) == 0) {
                while (s + 8 <= sectors && (bm[s >>> 3] & 0xFF) == want) {
                    s += 8; // whole bytes at a time
                }
                if (s >= sectors) {
                    break;
                }
            }
            if (bit(bm, s) != set) {
                return s;
            }
            s++;
        }
        return sectors;
    }

    static boolean allSet(byte[] bm, int from, int to) {
        for (int s = from; s < to; s++) {
            if (!bit(bm, s)) {
                return false;
            }
        }
        return true;
    }

    /** A copy of {@code bm} with bits [from, to) set. */
    static byte[] withBits(byte[] bm, int from, int to) {
        byte[] next = bm.clone();
        for (int s = from; s < to; s++) {
            next[s >>> 3] |= (byte) (0x80 >>> (s & 7));
        }
        return next;
    }
}
