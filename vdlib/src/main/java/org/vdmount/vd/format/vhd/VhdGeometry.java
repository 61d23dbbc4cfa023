package org.vdmount.vd.format.vhd;

/**
 * CHS geometry and the virtual size rule. The footer carries both a CHS geometry and a
 * "current size"; Virtual PC sizes the disk by its geometry, Hyper-V and most other tools by the
 * current size. We follow QEMU's rule (block/vpc.c, vpc_ignore_current_size, upstream since 2025):
 * the geometry counts only for creator applications "vpc " and "qemu", and not when it is the
 * maximum geometry 65535/16/255 (then the current size is authoritative).
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

    /** Whether the creator sizes its disks by geometry (see the class comment). */
    static boolean usesChs(String creatorApp) {
        return creatorApp.equals("vpc ") || creatorApp.equals("qemu");
    }

    /** The virtual size in bytes (a multiple of 512); negative if the footer's size is absurd. */
    static long virtualSize(VhdFooter f) {
        long chsSectors = (long) f.cylinders() * f.heads() * f.sectorsPerTrack();
        if (usesChs(f.creatorApp()) && chsSectors != MAX_CHS_SECTORS) {
            return chsSectors * SECTOR;
        }
        return f.currentSizeBytes() < 0 ? -1 : f.currentSizeBytes() & ~(long) (SECTOR - 1);
    }
}
