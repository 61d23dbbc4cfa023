package org.vdmount.partitions;

import java.io.IOException;
import java.util.ArrayList;
import java.util.List;
import java.util.function.Consumer;

/**
 * The partitions found on a disk.
 *
 * @param scheme     the scheme found (NONE when there is no valid table)
 * @param sectorSize the sector size the table was read with (512 or 4096; APM: its block size)
 * @param partitions valid partitions, ordered by number
 */
public record PartitionTable(Scheme scheme, int sectorSize, List<Partition> partitions) {

    public PartitionTable {
        partitions = List.copyOf(partitions);
    }

    /**
     * Reads the partition table of a disk. Never throws for bad tables: garbage yields
     * {@link Scheme#NONE} and problems go to {@code warnings}; only I/O errors of the source throw.
     *
     * <p>Probe order, as Linux's: GPT, then APM, then MBR.
     * <ul>
     *   <li>GPT is looked for with the given sector size (then the other of 512/4096, with a warning),
     *       or, when probing, at 512 and then 4096. Behind a protective (0xEE) MBR, hybrid MBRs
     *       included, a corrupt primary falls back to a backup; a protective MBR without any usable
     *       GPT gives NONE. Without a protective MBR only a fully valid primary GPT counts, and only
     *       when the MBR holds no partitions of its own (then the MBR wins, as in Linux).</li>
     *   <li>APM: driver descriptor "ER" in block 0 and a "PM" map entry in block 1.</li>
     *   <li>MBR: counted in the given sector size, else in 512-byte sectors. A filesystem boot sector
     *       (FAT/NTFS/exFAT) is not a table.</li>
     * </ul>
     *
     * @param logicalSectorSize the disk's sector size if the container knows it, 0 to probe
     */
    public static PartitionTable read(BlockSource disk, int logicalSectorSize, Consumer<String> warnings)
            throws IOException {
        Consumer<String> warn = warnings == null ? w -> { } : warnings;
        int given = logicalSectorSize;
        if (given != 0 && (given < 512 || given > 65536 || Integer.bitCount(given) != 1)) {
            warn.accept("partitions: sector size " + given + " invalid; probing 512 and 4096");
            given = 0;
        }
        int mbrSectorSize = given == 0 ? 512 : given;
        PartitionTable none = new PartitionTable(Scheme.NONE, mbrSectorSize, List.of());
        DiskReader reader = new DiskReader(disk);
        byte[] sector0 = reader.read(0, Mbr.SIZE);
        if (sector0 == null) {
            return none;
        }
        Mbr mbr = Mbr.parse(sector0);
        boolean protective = mbr.hasProtectiveEntry();

        PartitionTable gpt = findGpt(reader, given, protective, mbr, warn);
        if (gpt != null) {
            return gpt;
        }
        if (protective) {
            warn.accept("gpt: protective MBR (type 0xEE) but no usable GPT: no partitions");
            return none;
        }
        PartitionTable apm = ApmReader.read(reader, warn);
        if (apm != null) {
            return apm;
        }
        if (!mbr.signatureValid()) {
            return none;
        }
        return MbrReader.read(reader, mbrSectorSize, mbr, sector0, warn);
    }

    private static PartitionTable findGpt(DiskReader reader, int given, boolean protective, Mbr mbr,
                                          Consumer<String> warn) throws IOException {
        int[] sizes = given == 0 ? new int[] {512, 4096} : given == 512 ? new int[] {512, 4096}
                : given == 4096 ? new int[] {4096, 512} : new int[] {given};
        List<String> seen = new ArrayList<>();
        for (int size : sizes) {
            GptReader.Result r = GptReader.read(reader, size, protective);
            if (r.table() == null) {
                if (r.signatureSeen()) {
                    seen.addAll(r.warnings());
                }
                continue;
            }
            if (!protective && mbr.signatureValid() && mbr.hasOtherEntries()) {
                warn.accept("gpt: valid GPT ignored: the MBR has partitions and no protective entry (0xEE)");
                return null;
            }
            r.warnings().forEach(warn);
            if (given != 0 && size != given) {
                warn.accept("gpt: found with " + size + "-byte sectors although the disk reports " + given);
            }
            if (!protective) {
                warn.accept("gpt: no protective MBR; using the valid primary GPT");
            } else if (mbr.hasOtherEntries()) {
                warn.accept("gpt: hybrid MBR; showing the GPT");
            }
            return r.table();
        }
        seen.forEach(warn);
        return null;
    }
}
