package org.vdmount.partitions;

import java.io.IOException;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Set;
import java.util.function.Consumer;

/**
 * MBR with extended partitions (libvsmbr; numbering and sanity rules as Linux block/partitions/msdos.c).
 *
 * <ul>
 *   <li>Primaries keep their slot numbers 1-4, empty slots included; logical partitions are numbered
 *       from 5 in EBR-chain order.</li>
 *   <li>The extended container (types 0x05, 0x0F, 0x85) is listed with its slot number and its full
 *       extent, as {@code sfdisk -J} lists it (mmls shows the same extent as "DOS Extended" meta);
 *       {@link Partition#isExtendedContainer()} tells it apart. Linux's 1 KiB stub device is not
 *       imitated: the extent is what forensic tools and users expect.</li>
 *   <li>In each EBR the first used non-extended entry is the logical partition, relative to that EBR;
 *       the first extended entry links to the next EBR, relative to the extended partition's start.
 *       The chain stops at a loop, at a link outside the extended partition, at an EBR without
 *       0x55AA and after {@value #MAX_EBRS} EBRs.</li>
 *   <li>Entries past the disk's end or overlapping their own table sector are dropped with a warning
 *       (their number stays consumed, so the others keep Linux's numbers); a table whose every entry
 *       was dropped is no table.</li>
 * </ul>
 */
final class MbrReader {
    static final int MAX_EBRS = 128;

    private final DiskReader disk;
    private final int sectorSize;
    private final long diskSectors;
    private final Consumer<String> warn;
    private final List<Partition> partitions = new ArrayList<>();
    private int dropped;
    private int nextLogical = 5;
    private int ebrCount;

    private MbrReader(DiskReader disk, int sectorSize, Consumer<String> warn) {
        this.disk = disk;
        this.sectorSize = sectorSize;
        this.diskSectors = disk.sizeBytes() / sectorSize;
        this.warn = warn;
    }

    /** Reads the MBR in {@code sector0} (signature already checked) and its EBR chains. */
    static PartitionTable read(DiskReader disk, int sectorSize, Mbr mbr, byte[] sector0, Consumer<String> warn)
            throws IOException {
        PartitionTable none = new PartitionTable(Scheme.NONE, sectorSize, List.of());
        if (!mbr.bootIndicatorsValid()) {
            warn.accept("mbr: sector 0 ends in 0x55AA but its boot indicators are not 0x00/0x80: not a partition table");
            return none;
        }
        MbrReader reader = new MbrReader(disk, sectorSize, warn);
        String vbr = VolumeBootRecord.detect(sector0);
        if (vbr != null) {
            if (!reader.primariesSane(mbr)) {
                warn.accept("mbr: sector 0 is a " + vbr + " volume boot record, not a partition table");
                return none;
            }
            warn.accept("mbr: sector 0 looks like a " + vbr + " boot sector but holds a plausible table; reading it");
        }
        reader.readPrimaries(mbr);
        if (reader.partitions.isEmpty() && reader.dropped > 0) {
            warn.accept("mbr: no valid entry left: not a partition table");
            return none;
        }
        return new PartitionTable(Scheme.MBR, sectorSize, reader.partitions);
    }

    /** For a sector that also looks like a boot sector: some entry, and every entry plausible. */
    private boolean primariesSane(Mbr mbr) {
        List<MbrEntry> used = mbr.entries().stream().filter(MbrEntry::used).toList();
        for (int i = 0; i < used.size(); i++) {
            MbrEntry a = used.get(i);
            if (a.startLba() == 0 || a.startLba() + a.sectorCount() > diskSectors) {
                return false;
            }
            for (int j = 0; j < i; j++) {
                MbrEntry b = used.get(j);
                if (a.startLba() < b.startLba() + b.sectorCount() && b.startLba() < a.startLba() + a.sectorCount()) {
                    return false;
                }
            }
        }
        return !used.isEmpty();
    }

    private void readPrimaries(Mbr mbr) throws IOException {
        List<MbrEntry> containers = new ArrayList<>();
        for (int slot = 0; slot < 4; slot++) {
            MbrEntry e = mbr.entries().get(slot);
            if (!e.used()) {
                continue;
            }
            add(slot + 1, e, e.startLba(), 0, "primary entry " + (slot + 1));
            if (e.isExtended()) {
                containers.add(e);
            }
        }
        if (containers.size() > 1) {
            warn.accept("mbr: " + containers.size() + " extended partitions; following each chain in slot order");
        }
        for (MbrEntry c : containers) {
            walkChain(c.startLba(), Math.min(c.startLba() + c.sectorCount(), diskSectors));
        }
    }

    /** Follows the EBR chain of the extended partition {@code [extStart, extEnd)} (clipped to the disk). */
    private void walkChain(long extStart, long extEnd) throws IOException {
        if (extStart == 0 || extStart >= extEnd) {
            return; // container dropped (overlaps the MBR or lies past the end): nothing to follow
        }
        Set<Long> seen = new HashSet<>();
        long ebr = extStart;
        while (true) {
            if (ebrCount >= MAX_EBRS) {
                warn.accept("mbr: more than " + MAX_EBRS + " EBRs; ignoring the rest of the chain");
                return;
            }
            if (!seen.add(ebr)) {
                warn.accept("mbr: EBR chain loops back to LBA " + ebr + "; chain cut there");
                return;
            }
            if (ebr < extStart || ebr >= extEnd) {
                warn.accept("mbr: EBR link to LBA " + ebr + " lies outside the extended partition [" + extStart
                        + ", " + extEnd + "); chain cut there");
                return;
            }
            ebrCount++;
            byte[] sector = disk.read(ebr * sectorSize, Mbr.SIZE);
            Mbr table = sector == null ? null : Mbr.parse(sector);
            if (table == null || !table.signatureValid()) {
                warn.accept("mbr: EBR at LBA " + ebr + " has no 0x55AA signature; chain ends there");
                return;
            }
            MbrEntry logical = null;
            MbrEntry link = null;
            int extra = 0;
            for (MbrEntry e : table.entries()) {
                if (!e.used()) {
                    continue;
                }
                if (e.isExtended() && link == null) {
                    link = e;
                } else if (!e.isExtended() && logical == null) {
                    logical = e;
                } else {
                    extra++;
                }
            }
            if (extra > 0) {
                warn.accept("mbr: EBR at LBA " + ebr + " has " + extra + " extra entries; ignored");
            }
            if (logical != null) {
                int number = nextLogical++;
                long start = ebr + logical.startLba();
                if (add(number, logical, start, ebr, "logical partition " + number)
                        && (start < extStart || start + logical.sectorCount() > extEnd)) {
                    warn.accept("mbr: logical partition " + number + " lies outside its extended partition");
                }
            }
            if (link == null) {
                return;
            }
            ebr = extStart + link.startLba();
        }
    }

    /** Adds the entry at absolute {@code startLba} unless it is past the disk or covers {@code tableLba}. */
    private boolean add(int number, MbrEntry e, long startLba, long tableLba, String what) {
        long end = startLba + e.sectorCount();
        String problem = null;
        if (startLba <= tableLba) {
            problem = "starts at LBA " + startLba + ", on its own table at LBA " + tableLba;
        } else if (end > diskSectors) {
            problem = "ends at LBA " + end + ", past the disk's " + diskSectors + " sectors";
        }
        if (problem != null) {
            dropped++;
            warn.accept("mbr: " + what + " (type 0x" + e.typeCode() + ") " + problem + "; dropped");
            return false;
        }
        partitions.add(new Partition(number, startLba * sectorSize, e.sectorCount() * sectorSize, Scheme.MBR,
                e.typeCode(), TypeNames.mbr(e.type()), "", "", e.bootable()));
        return true;
    }
}
