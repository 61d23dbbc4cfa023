package org.vdmount.partitions;

import java.io.IOException;
import java.util.ArrayList;
import java.util.List;
import java.util.zip.CRC32;

/**
 * GPT (libvsgpt; UEFI 2.x section 5.3). The primary header sits at LBA 1; when it or its entry array
 * is corrupt (signature, CRC-32, placement, sizes) the backup header is used: the one at the disk's
 * last LBA, else the one the primary's alternate-LBA field names (a disk grown after partitioning).
 * Entries are numbered by their 1-based index; unused ones (type GUID zero) are skipped. Entries past
 * the disk or outside the header's usable area (which would overlap the tables) are dropped with a
 * warning. The entry array is bounded to {@value #MAX_ARRAY_BYTES} bytes, entry size >= 128 and a
 * multiple of 8, before anything is allocated.
 */
final class GptReader {
    static final int MAX_ARRAY_BYTES = 1 << 20;

    /**
     * @param table          the GPT, or null when none was found at this sector size
     * @param warnings       what was wrong (worth showing when a table was found or a header seen)
     * @param signatureSeen  whether any "EFI PART" header was found at this sector size
     */
    record Result(PartitionTable table, List<String> warnings, boolean signatureSeen) {
    }

    private final DiskReader disk;
    private final int sectorSize;
    private final long lastLba;
    private final List<String> warnings = new ArrayList<>();
    private boolean signatureSeen;
    private String problem; // why the last header or entry array was rejected

    private GptReader(DiskReader disk, int sectorSize) {
        this.disk = disk;
        this.sectorSize = sectorSize;
        this.lastLba = disk.sizeBytes() / sectorSize - 1;
    }

    /**
     * Looks for a GPT using {@code sectorSize}-byte sectors.
     *
     * @param allowBackup whether a backup header may stand in for a bad primary (only behind a
     *                    protective MBR: a lone backup at the end is often a stale leftover)
     */
    static Result read(DiskReader disk, int sectorSize, boolean allowBackup) throws IOException {
        GptReader r = new GptReader(disk, sectorSize);
        PartitionTable table = r.lastLba < 2 ? null : r.find(allowBackup);
        return new Result(table, List.copyOf(r.warnings), r.signatureSeen);
    }

    private PartitionTable find(boolean allowBackup) throws IOException {
        GptHeader primary = header(1);
        byte[] array = primary == null ? null : entries(primary);
        if (array != null) {
            checkBackup(primary);
            return build(primary, array);
        }
        String primaryProblem = problem;
        if (!allowBackup) {
            warnings.add("gpt: primary header unusable (" + primaryProblem + ")");
            return null;
        }
        List<Long> candidates = new ArrayList<>(List.of(lastLba));
        // The alternate-LBA field is only a hint here (the header may be corrupt): the backup found
        // there must pass its own checks.
        GptHeader raw = GptHeader.parse(read(1));
        if (raw != null && raw.alternateLba() > 1 && raw.alternateLba() < lastLba) {
            candidates.add(raw.alternateLba());
        }
        List<String> backupProblems = new ArrayList<>();
        for (long lba : candidates) {
            GptHeader backup = header(lba);
            array = backup == null ? null : entries(backup);
            if (array != null) {
                warnings.add("gpt: primary header unusable (" + primaryProblem + "); using the backup header at LBA "
                        + lba + " (" + sectorSize + "-byte sectors)");
                return build(backup, array);
            }
            backupProblems.add("LBA " + lba + ": " + problem);
        }
        warnings.add("gpt: primary header unusable (" + primaryProblem + "); no usable backup ("
                + String.join("; ", backupProblems) + ")");
        return null;
    }

    private byte[] read(long lba) throws IOException {
        return disk.read(lba * sectorSize, sectorSize);
    }

    /** The valid header at {@code lba}, or null with {@link #problem} set. */
    private GptHeader header(long lba) throws IOException {
        byte[] sector = read(lba);
        GptHeader h = sector == null ? null : GptHeader.parse(sector);
        if (h == null) {
            problem = "no \"EFI PART\" signature";
            return null;
        }
        signatureSeen = true;
        problem = validate(h, lba);
        return problem == null ? h : null;
    }

    private String validate(GptHeader h, long lba) {
        if (!h.crcValid()) {
            return h.headerSizeBytes() < GptHeader.SIZE || h.headerSizeBytes() > sectorSize
                    ? "header size " + h.headerSizeBytes() + " outside [" + GptHeader.SIZE + ", " + sectorSize + "]"
                    : "header CRC-32 mismatch";
        }
        if (h.myLba() != lba) {
            return "header at LBA " + lba + " says it is at LBA " + h.myLba();
        }
        if (h.entrySizeBytes() < GptEntry.SIZE || h.entrySizeBytes() % 8 != 0 || h.entrySizeBytes() > MAX_ARRAY_BYTES) {
            return "entry size " + h.entrySizeBytes() + " (must be >= 128 and a multiple of 8)";
        }
        if (h.entryArrayBytes() > MAX_ARRAY_BYTES) {
            return "entry array of " + h.entryCount() + " x " + h.entrySizeBytes() + " bytes > " + MAX_ARRAY_BYTES;
        }
        long arraySectors = (h.entryArrayBytes() + sectorSize - 1) / sectorSize;
        long arrayEnd = h.entriesLba() + arraySectors; // exclusive
        if (h.entriesLba() < 1 || h.entriesLba() > lastLba || arrayEnd > lastLba + 1) {
            return "entry array at LBA " + h.entriesLba() + " (" + arraySectors + " sectors) outside the disk";
        }
        if (arraySectors > 0 && lba >= h.entriesLba() && lba < arrayEnd) {
            return "entry array at LBA " + h.entriesLba() + " overlaps its header";
        }
        long first = h.firstUsableLba();
        long last = h.lastUsableLba();
        if (first < 1 || last < first - 1) {
            return "usable area [" + first + ", " + last + "] invalid";
        }
        if ((lba >= first && lba <= last) || (h.alternateLba() >= first && h.alternateLba() <= last)
                || (arraySectors > 0 && h.entriesLba() <= last && arrayEnd > first)) {
            return "usable area [" + first + ", " + last + "] overlaps the header or its entry array";
        }
        return null;
    }

    /** The entry array of a valid header if its CRC-32 matches, or null with {@link #problem} set. */
    private byte[] entries(GptHeader h) throws IOException {
        int bytes = (int) h.entryArrayBytes();
        byte[] array = disk.read(h.entriesLba() * sectorSize, bytes);
        if (array == null) {
            problem = "entry array past the end of the disk";
            return null;
        }
        CRC32 crc = new CRC32();
        crc.update(array);
        if (crc.getValue() != h.entriesCrc32()) {
            problem = "entry array at LBA " + h.entriesLba() + " fails its CRC-32";
            return null;
        }
        return array;
    }

    /** Warns when the backup header is not where the primary says, or not at the disk's end. */
    private void checkBackup(GptHeader primary) throws IOException {
        long alt = primary.alternateLba();
        if (alt != lastLba) {
            warnings.add("gpt: backup header expected at LBA " + alt + " but the disk's last LBA is " + lastLba
                    + " (disk resized after partitioning?)");
        }
        if (alt > 1 && alt <= lastLba && header(alt) == null) {
            warnings.add("gpt: backup header at LBA " + alt + " unusable (" + problem + ")");
        }
    }

    private PartitionTable build(GptHeader h, byte[] array) {
        List<Partition> partitions = new ArrayList<>();
        Bytes b = Bytes.of(array);
        int stride = (int) h.entrySizeBytes();
        for (int i = 0; i < h.entryCount(); i++) {
            GptEntry e = GptEntry.parse(b.at(i * stride));
            if (!e.used()) {
                continue;
            }
            int number = i + 1;
            String bad = null;
            if (e.firstLba() < 0 || e.lastLba() < 0 || e.lastLba() > lastLba) {
                bad = "ends past the disk's last LBA " + lastLba;
            } else if (e.firstLba() > e.lastLba()) {
                bad = "ends before it starts";
            } else if (e.firstLba() < h.firstUsableLba() || e.lastLba() > h.lastUsableLba()) {
                bad = "lies outside the usable area [" + h.firstUsableLba() + ", " + h.lastUsableLba()
                        + "] (overlaps the partition tables)";
            }
            if (bad != null) {
                warnings.add("gpt: entry " + number + " [" + Long.toUnsignedString(e.firstLba()) + ", "
                        + Long.toUnsignedString(e.lastLba()) + "] " + bad + "; dropped");
                continue;
            }
            partitions.add(new Partition(number, e.firstLba() * sectorSize,
                    (e.lastLba() - e.firstLba() + 1) * sectorSize, Scheme.GPT, e.typeGuid().toString(),
                    TypeNames.gpt(e.typeGuid()), e.name(), e.uniqueGuid().toString(), e.bootable()));
        }
        return new PartitionTable(Scheme.GPT, sectorSize, partitions);
    }
}
