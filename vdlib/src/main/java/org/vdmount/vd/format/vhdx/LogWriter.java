package org.vdmount.vd.format.vhdx;

import java.io.IOException;
import java.util.List;
import java.util.UUID;
import org.vdmount.vd.Bytes;

/**
 * Writes log entries (MS-VHDX 2.3): one entry per batch of 4 KiB metadata pages, each a complete
 * sequence of its own (Tail = its own offset) because the writer applies and flushes every entry
 * before the next. An entry never wraps: if it does not fit before the end of the ring it starts
 * at offset 0, and it leaves one sector of the ring unused (as QEMU's writer does).
 */
final class LogWriter {
    /** A metadata page to write through the log. */
    record Page(long fileOffset, byte[] bytes) {
    }

    private final VhdxFile file;
    private final long logOffset;
    private final long logLength;
    private UUID guid = Vhdx.ZERO_GUID;
    private long head;
    private long sequence;

    LogWriter(VhdxFile file, long logOffset, long logLength) {
        this.file = file;
        this.logOffset = logOffset;
        this.logLength = logLength;
    }

    /** Starts a fresh log under a new LogGuid (entries of other GUIDs are invalid). */
    void reset(UUID logGuid) {
        guid = logGuid;
        head = 0;
        sequence = 1;
    }

    /** Most pages one entry can carry in this log. */
    int maxPages() {
        long sectors = logLength / Vhdx.LOG_SECTOR - 1;
        long n = Math.max(0, Math.min(sectors - 1, 1 << 16));
        while (n > 0 && LogEntryHeader.descriptorSectors(n) + n > sectors) {
            n--;
        }
        return (int) n;
    }

    /** Writes one entry holding {@code pages} (at most {@link #maxPages()}) at the head of the ring. */
    void write(List<Page> pages, long fileSize) throws IOException {
        int n = pages.size();
        long descSectors = LogEntryHeader.descriptorSectors(n);
        int length = (int) ((descSectors + n) * Vhdx.LOG_SECTOR);
        if (head + length > logLength) {
            head = 0;
        }
        byte[] entry = new byte[length];
        Bytes w = Bytes.of(entry);
        // both offsets are multiples of 1 MiB: the flushed size rounded down, the needed size up
        new LogEntryHeader(0, length, head, sequence, n, guid, fileSize & -Vhdx.MIB,
                Vhdx.roundUp(fileSize, Vhdx.MIB)).write(w);
        for (int i = 0; i < n; i++) {
            byte[] page = pages.get(i).bytes();
            Bytes p = Bytes.of(page);
            new LogDescriptor(true, p.u32le(Vhdx.LOG_SECTOR - 4), p.u64le(0), pages.get(i).fileOffset(), sequence)
                    .write(w.at(LogEntryHeader.SIZE + i * LogDescriptor.SIZE));
            LogDescriptor.writeDataSector(w.at((int) ((descSectors + i) * Vhdx.LOG_SECTOR)), page, sequence);
        }
        w.put32le(LogEntryHeader.CHECKSUM_OFFSET, Vhdx.crc32c(entry, 0, length, LogEntryHeader.CHECKSUM_OFFSET));
        file.writeMeta(entry, logOffset + head, "log-write");
        head = (head + length) % logLength;
        sequence++;
    }
}
