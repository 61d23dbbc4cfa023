package org.vdmount.vd.format.vhdx;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.zip.CRC32C;
import org.vdmount.vd.Bytes;
import org.vdmount.vd.CorruptImageException;
import org.vdmount.vd.UnsupportedFeatureException;
import org.vdmount.vd.storage.Storage;

/**
 * Finds the active log sequence and turns it into replay operations (MS-VHDX 2.3.3). The log is a
 * ring of 4 KiB sectors; an entry is valid when its header, descriptors, data sectors and CRC-32C
 * agree and it carries the header's LogGuid. A sequence runs from the entry its last entry's Tail
 * names through consecutive sequence numbers, each entry right after the previous one; the active
 * sequence is the valid one ending in the highest sequence number. Work is bounded by the log size.
 */
final class LogReplay {
    /** One replay step: a 4 KiB page taken from the log ({@code logSector >= 0}) or zeros. */
    record Op(long target, long length, long logSector, long leading, long trailing) {
        boolean zero() {
            return logSector < 0;
        }
    }

    /** The active sequence: its operations in order and the file size it leaves. */
    record Result(List<Op> ops, long lastFileOffset, int entries, long headSequence) {
    }

    static final int MAX_OPS = 1 << 20;
    /** How far LastFileOffset may reach past the end of the file. */
    static final long MAX_EXTENSION = 1L << 40;
    private static final int CHUNK = 1 << 20;

    private final Storage storage;
    private final Path file;
    private final VhdxHeader header;
    private final long base;
    private final long length;
    private final Map<Long, LogEntryHeader> candidates = new HashMap<>();
    private final Map<Long, Boolean> validity = new HashMap<>();
    private long sectorBudget;

    private LogReplay(Storage storage, VhdxHeader header) {
        this.storage = storage;
        this.file = storage.path();
        this.header = header;
        this.base = header.logOffsetBytes();
        this.length = header.logLengthBytes();
        this.sectorBudget = 4 * (length / Vhdx.LOG_SECTOR) + 256;
    }

    /** The active sequence of the log the header names, or null if there is none to replay. */
    static Result find(Storage storage, VhdxHeader header) throws IOException {
        if (!header.hasLog() || header.logLengthBytes() == 0) {
            return null;
        }
        return new LogReplay(storage, header).search();
    }

    private Result search() throws IOException {
        collectCandidates();
        List<Map.Entry<Long, LogEntryHeader>> bySequence = new ArrayList<>(candidates.entrySet());
        bySequence.sort(Comparator.comparingLong((Map.Entry<Long, LogEntryHeader> e) -> e.getValue().sequence())
                .reversed().thenComparingLong(Map.Entry::getKey));
        for (Map.Entry<Long, LogEntryHeader> head : bySequence) {
            List<Long> seq = sequenceEndingAt(head.getKey(), head.getValue());
            if (seq != null) {
                return operations(seq);
            }
        }
        return null;
    }

    private void collectCandidates() throws IOException {
        ByteBuffer chunk = ByteBuffer.allocate((int) Math.min(CHUNK, length));
        for (long at = 0; at < length; at += chunk.capacity()) {
            chunk.clear().limit((int) Math.min(chunk.capacity(), length - at));
            storage.readFully(chunk, base + at, Vhdx.FORMAT, "log");
            for (int s = 0; s < chunk.limit(); s += Vhdx.LOG_SECTOR) {
                Bytes b = Bytes.of(chunk.array()).at(s);
                if (!LogEntryHeader.hasSignature(b)) {
                    continue;
                }
                LogEntryHeader h = LogEntryHeader.parse(b);
                if (h.logGuid().equals(header.logGuid()) && h.sequence() != 0 && h.entryLength() >= Vhdx.LOG_SECTOR
                        && h.entryLength() % Vhdx.LOG_SECTOR == 0 && h.entryLength() <= length
                        && h.tail() % Vhdx.LOG_SECTOR == 0 && h.tail() < length
                        && LogEntryHeader.descriptorSectors(h.descriptorCount()) * Vhdx.LOG_SECTOR <= h.entryLength()) {
                    candidates.put(at + s, h);
                }
            }
        }
    }

    /** The entries (log offsets) from the head's tail to the head, or null if that is no valid sequence. */
    private List<Long> sequenceEndingAt(long headAt, LogEntryHeader head) throws IOException {
        if (!valid(headAt)) {
            return null;
        }
        List<Long> out = new ArrayList<>();
        long pos = head.tail();
        long previous = -1;
        long maxEntries = length / Vhdx.LOG_SECTOR;
        while (out.size() <= maxEntries) {
            LogEntryHeader e = candidates.get(pos);
            if (e == null || !valid(pos) || previous >= 0 && e.sequence() != previous + 1
                    || e.sequence() > head.sequence()) {
                return null;
            }
            out.add(pos);
            if (pos == headAt) {
                return out;
            }
            previous = e.sequence();
            pos = (pos + e.entryLength()) % length;
        }
        return null;
    }

    private boolean valid(long at) throws IOException {
        Boolean known = validity.get(at);
        if (known == null) {
            known = check(at, candidates.get(at));
            validity.put(at, known);
        }
        return known;
    }

    /** Streams one entry: CRC, descriptors and data sectors (memory does not depend on its size). */
    private boolean check(long at, LogEntryHeader h) throws IOException {
        long sectors = h.entryLength() / Vhdx.LOG_SECTOR;
        sectorBudget -= sectors;
        if (sectorBudget < 0) {
            throw new CorruptImageException(Vhdx.FORMAT, file, "log", base + at,
                    "overlapping entries exceed what a log of " + length + " bytes can hold");
        }
        long descSectors = LogEntryHeader.descriptorSectors(h.descriptorCount());
        long descLeft = h.descriptorCount();
        long dataCount = 0;
        CRC32C crc = new CRC32C();
        byte[] sector = new byte[Vhdx.LOG_SECTOR];
        for (long i = 0; i < sectors; i++) {
            readSector(at + i * Vhdx.LOG_SECTOR, sector);
            Bytes s = Bytes.of(sector);
            if (i == 0) {
                crc.update(sector, 0, LogEntryHeader.CHECKSUM_OFFSET);
                crc.update(new byte[4], 0, 4);
                crc.update(sector, LogEntryHeader.CHECKSUM_OFFSET + 4, Vhdx.LOG_SECTOR - LogEntryHeader.CHECKSUM_OFFSET - 4);
            } else {
                crc.update(sector, 0, Vhdx.LOG_SECTOR);
            }
            if (i < descSectors) {
                for (int p = i == 0 ? LogEntryHeader.SIZE : 0; p < Vhdx.LOG_SECTOR && descLeft > 0;
                        p += LogDescriptor.SIZE, descLeft--) {
                    LogDescriptor d = LogDescriptor.parse(s.at(p));
                    if (d == null || d.sequence() != h.sequence() || d.fileOffset() % Vhdx.LOG_SECTOR != 0
                            || !d.data() && d.leadingOrZeroLength() % Vhdx.LOG_SECTOR != 0) {
                        return false;
                    }
                    dataCount += d.data() ? 1 : 0;
                }
            } else if (i - descSectors < dataCount && !LogDescriptor.dataSectorMatches(s, h.sequence())) {
                return false;
            }
        }
        return dataCount <= sectors - descSectors && crc.getValue() == h.checksum();
    }

    private void readSector(long logPos, byte[] into) throws IOException {
        storage.readFully(ByteBuffer.wrap(into), base + logPos % length, Vhdx.FORMAT, "log sector");
    }

    private Result operations(List<Long> sequence) throws IOException {
        List<Op> ops = new ArrayList<>();
        long fileSize = storage.size();
        long last = 0;
        byte[] sector = new byte[Vhdx.LOG_SECTOR];
        for (long at : sequence) {
            LogEntryHeader h = candidates.get(at);
            if (h.flushedFileOffset() > fileSize) {
                throw new CorruptImageException(Vhdx.FORMAT, file, "log entry", base + at, "the log expects a file of"
                        + " at least " + h.flushedFileOffset() + " bytes but it has " + fileSize + " (truncated)");
            }
            if (h.lastFileOffset() > fileSize + MAX_EXTENSION) {
                throw new CorruptImageException(Vhdx.FORMAT, file, "log entry", base + at, "last file offset "
                        + Vhdx.hex(h.lastFileOffset()) + " lies far past the end of the file");
            }
            long limit = Math.max(fileSize, h.lastFileOffset());
            last = Math.max(last, h.lastFileOffset());
            long descSectors = LogEntryHeader.descriptorSectors(h.descriptorCount());
            long descLeft = h.descriptorCount();
            long dataIndex = 0;
            for (long i = 0; i < descSectors; i++) {
                readSector(at + i * Vhdx.LOG_SECTOR, sector);
                for (int p = i == 0 ? LogEntryHeader.SIZE : 0; p < Vhdx.LOG_SECTOR && descLeft > 0;
                        p += LogDescriptor.SIZE, descLeft--) {
                    LogDescriptor d = LogDescriptor.parse(Bytes.of(sector).at(p));
                    long len = d.data() ? Vhdx.LOG_SECTOR : d.leadingOrZeroLength();
                    checkTarget(at, d.fileOffset(), len, limit);
                    if (ops.size() >= MAX_OPS) {
                        throw new UnsupportedFeatureException("vhdx: log of " + file + " holds more than "
                                + MAX_OPS + " operations");
                    }
                    if (d.data()) {
                        long logSector = base + (at + (descSectors + dataIndex++) * Vhdx.LOG_SECTOR) % length;
                        ops.add(new Op(d.fileOffset(), len, logSector, d.leadingOrZeroLength(), d.trailingBytes()));
                    } else if (len > 0) {
                        ops.add(new Op(d.fileOffset(), len, -1, 0, 0));
                    }
                }
            }
        }
        LogEntryHeader head = candidates.get(sequence.get(sequence.size() - 1));
        return new Result(ops, last, sequence.size(), head.sequence());
    }

    /** Replay may not touch the file identifier and headers nor the log itself. */
    private void checkTarget(long at, long target, long len, long limit) throws CorruptImageException {
        if (target < Vhdx.REGION1_OFFSET || len > limit || target > limit - len
                || target < base + length && target + len > base) {
            throw new CorruptImageException(Vhdx.FORMAT, file, "log entry", base + at, "descriptor writes "
                    + len + " bytes at " + Vhdx.hex(target) + ", outside the replayable part of the file");
        }
    }

    // ---- applying ------------------------------------------------------------------------------

    /** Read-write: writes the sequence into the file, extends it to LastFileOffset and flushes. */
    static void applyToFile(VhdxFile f, Result r) throws IOException {
        byte[] zeros = new byte[CHUNK];
        for (Op op : r.ops()) {
            if (!op.zero()) {
                f.writeMeta(page(f.storage(), op.logSector(), op.leading(), op.trailing()), op.target(),
                        "replay-write");
                continue;
            }
            long end = Math.min(op.target() + op.length(), f.storage().size()); // past the end reads zeros
            for (long p = op.target(); p < end; p += CHUNK) {
                int n = (int) Math.min(CHUNK, end - p);
                f.writeMeta(n == CHUNK ? zeros : new byte[n], p, "replay-write");
            }
        }
        if (r.lastFileOffset() > f.storage().size()) {
            f.extend(Vhdx.roundUp(r.lastFileOffset(), Vhdx.MIB));
        }
        f.force("replay-flush");
    }

    /** Read-only: the sequence as an overlay; the file is not touched. */
    static Overlay toOverlay(Storage s, Result r) {
        Overlay o = new Overlay(s);
        for (Op op : r.ops()) {
            if (op.zero()) {
                o.zero(op.target(), op.length());
            } else {
                o.page(op.target(), op.logSector(), op.leading(), op.trailing());
            }
        }
        return o;
    }

    /** The 4 KiB page a data descriptor writes: its data sector with the kept 8 + 4 bytes restored. */
    static byte[] page(Storage s, long logSector, long leading, long trailing) throws IOException {
        ByteBuffer b = ByteBuffer.allocate(Vhdx.LOG_SECTOR);
        s.readFully(b, logSector, Vhdx.FORMAT, "log data sector");
        byte[] page = b.array();
        Bytes.of(page).put64le(0, leading).put32le(Vhdx.LOG_SECTOR - 4, trailing);
        return page;
    }
}
