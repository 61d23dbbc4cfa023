package org.vdmount.vd.format.vhd;

import java.nio.file.Path;

/**
 * CHS geometry and the virtual size rule. The footer carries both a CHS geometry and a
 * "current size"; Virtual PC sizes the disk by its geometry, Hyper-V and most other tools by the
 * current size. The specification makes the current size the disk's size (the geometry is
 * derived from it and rounds down), so the current size wins whenever the two disagree, with
 * one warning naming both ({@link #disagreement}); a zero current size next to a geometry falls
 * back to the geometry, so no header makes a silent 0-byte disk.
 *
 * <p>QEMU 7.2 (block/vpc.c, vpc_open) instead takes the geometry for every creator application
 * except "win ", "qem2", "d2v ", "CTXS" and "tap" unless the geometry is the maximum 65535/16/255,
 * and says nothing when they disagree: a "vpc " or "qemu" image with geometry 0/0/0 is a 0-byte
 * disk there. Images QEMU and Virtual PC create have a current size equal to the geometry's, so
 * both rules agree on them.
 */
final class VhdGeometry {
    static final int SECTOR = 512;
    static final long MAX_CHS_SECTORS = 65535L * 16 * 255;

    private VhdGeometry() {
    }

    /**
     * The geometry for {@code totalSectors} by the algorithm in the appendix of Microsoft's VHD
     * specification (rounds down; capped at 65535/16/255). Packed as cylinders << 16 | heads << 8
     * | sectors per track.
     */
    static long chsFor(long totalSectors) {
        long sectors = Math.min(totalSectors, MAX_CHS_SECTORS);
        long spt;
        long heads;
        long cylTimesHeads;
        if (sectors >= 65535L * 16 * 63) {
            spt = 255;
            heads = 16;
            cylTimesHeads = sectors / spt;
        } else {
            spt = 17;
            cylTimesHeads = sectors / spt;
            heads = Math.max(4, (cylTimesHeads + 1023) / 1024);
            if (cylTimesHeads >= heads * 1024 || heads > 16) {
                spt = 31;
                heads = 16;
                cylTimesHeads = sectors / spt;
            }
            if (cylTimesHeads >= heads * 1024) {
                spt = 63;
                heads = 16;
                cylTimesHeads = sectors / spt;
            }
        }
        return (cylTimesHeads / heads) << 16 | heads << 8 | spt;
    }

    static int cylinders(long chs) {
        return (int) (chs >>> 16);
    }

    static int heads(long chs) {
        return (int) (chs >>> 8) & 0xFF;
    }

    static int sectorsPerTrack(long chs) {
        return (int) chs & 0xFF;
    }

    /** The size the geometry describes, in bytes. */
    static long chsBytes(VhdFooter f) {
        return (long) f.cylinders() * f.heads() * f.sectorsPerTrack() * SECTOR;
    }

    /** The virtual size in bytes (a multiple of 512); negative if the footer's size is absurd. */
    static long virtualSize(VhdFooter f) {
        long current = f.currentSizeBytes();
        if (current < 0) {
            return -1;
        }
        current &= ~(long) (SECTOR - 1);
        return current == 0 ? chsBytes(f) : current;
    }

    /**
     * The warning when the geometry and the current size disagree, or null. They agree when the
     * geometry describes exactly the current size, or is the one the specification's algorithm
     * derives from it ({@link #chsFor}; it rounds down, so Hyper-V's and our own images have a
     * geometry a little smaller than the disk), which includes the maximum geometry for disks
     * larger than CHS can say.
     */
    static String disagreement(VhdFooter f, Path file) {
        long current = f.currentSizeBytes();
        long chs = chsBytes(f);
        if (current < 0 || chs == (current & ~(long) (SECTOR - 1))) {
            return null;
        }
        long derived = chsFor(current / SECTOR);
        if (cylinders(derived) == f.cylinders() && heads(derived) == f.heads()
                && sectorsPerTrack(derived) == f.sectorsPerTrack()) {
            return null;
        }
        return "vhd: " + file + ": footer CHS geometry " + f.cylinders() + "/" + f.heads() + "/" + f.sectorsPerTrack()
                + " gives " + chs + " bytes but the current size at 0x30 is " + current + " bytes; using "
                + virtualSize(f) + " bytes (" + (current == 0 ? "the geometry" : "the current size") + ")";
    }
}
