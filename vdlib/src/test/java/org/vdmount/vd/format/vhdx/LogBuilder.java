package org.vdmount.vd.format.vhdx;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.List;
import java.util.UUID;
import org.vdmount.vd.Bytes;

/** Writes hand-made log entries (any tail, wrapping, torn) into an image for replay tests. */
final class LogBuilder {
    /** A descriptor: a data page ({@code page != null}) or a zero range. */
    record Desc(long target, long zeroLength, byte[] page) {
    }

    private final Path img;
    private final long logOffset;
    private final long logLength;

    LogBuilder(Path img, long logOffset, long logLength) {
        this.img = img;
        this.logOffset = logOffset;
        this.logLength = logLength;
    }

    static Desc data(long target, byte[] page) {
        return new Desc(target, 0, page);
    }

    static Desc zero(long target, long length) {
        return new Desc(target, length, null);
    }

    /** Writes the entry at log offset {@code at} sector by sector, wrapping at the end of the ring. */
    void entry(long at, long seq, long tail, UUID guid, List<Desc> descs, boolean torn) throws IOException {
        long dataCount = descs.stream().filter(d -> d.page() != null).count();
        long descSectors = LogEntryHeader.descriptorSectors(descs.size());
        int length = (int) ((descSectors + dataCount) * Vhdx.LOG_SECTOR);
        byte[] e = new byte[length];
        Bytes w = Bytes.of(e);
        new LogEntryHeader(0, length, tail, seq, descs.size(), guid, Vhdx.MIB, Vhdx.MIB).write(w);
        int k = 0;
        for (int i = 0; i < descs.size(); i++) {
            Desc d = descs.get(i);
            Bytes dw = w.at(LogEntryHeader.SIZE + i * LogDescriptor.SIZE);
            if (d.page() == null) {
                new LogDescriptor(false, 0, d.zeroLength(), d.target(), seq).write(dw);
            } else {
                Bytes p = Bytes.of(d.page());
                new LogDescriptor(true, p.u32le(4092), p.u64le(0), d.target(), seq).write(dw);
                LogDescriptor.writeDataSector(w.at((int) ((descSectors + k++) * Vhdx.LOG_SECTOR)), d.page(), seq);
            }
        }
        w.put32le(4, Vhdx.crc32c(e, 0, length, 4));
        if (torn) {
            e[length - 1] ^= 1;
        }
        try (FileChannel ch = FileChannel.open(img, StandardOpenOption.WRITE)) {
            for (int s = 0; s < length / Vhdx.LOG_SECTOR; s++) {
                long pos = logOffset + (at + (long) s * Vhdx.LOG_SECTOR) % logLength;
                ch.write(ByteBuffer.wrap(e, s * Vhdx.LOG_SECTOR, Vhdx.LOG_SECTOR), pos);
            }
        }
    }
}
