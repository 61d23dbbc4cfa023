package org.vdmount.vd.format.vhdx;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import org.vdmount.vd.storage.Storage;

/**
 * The log replayed in memory for a read-only open (MS-VHDX 2.3.3 without writing): file ranges
 * the active log sequence rewrites, consulted on every read so the file stays byte-identical.
 * Data pages are not copied: each refers to its data sector in the log (bytes 8..4091) plus the 8
 * leading and 4 trailing bytes kept in its descriptor. Later operations replace earlier ones.
 */
final class Overlay {
    /** A replaced range [start, end): zeros when {@code logSector < 0}, else one 4 KiB data page. */
    private record Segment(long start, long end, long logSector, long leading, long trailing) {
        boolean zero() {
            return logSector < 0;
        }
    }

    private final TreeMap<Long, Segment> segments = new TreeMap<>();
    private final Storage storage;

    Overlay(Storage storage) {
        this.storage = storage;
    }

    boolean isEmpty() {
        return segments.isEmpty();
    }

    int size() {
        return segments.size();
    }

    void zero(long start, long length) {
        put(new Segment(start, start + length, -1, 0, 0));
    }

    void page(long start, long logSector, long leading, long trailing) {
        put(new Segment(start, start + Vhdx.LOG_SECTOR, logSector, leading, trailing));
    }

    private void put(Segment s) {
        List<Segment> cut = new ArrayList<>();
        Map.Entry<Long, Segment> before = segments.lowerEntry(s.start());
        if (before != null && before.getValue().end() > s.start()) {
            cut.add(before.getValue());
        }
        cut.addAll(segments.subMap(s.start(), true, s.end(), false).values());
        for (Segment old : cut) {
            segments.remove(old.start());
            // pieces of a replaced zero range outside the new one survive; data pages are 4 KiB
            // aligned like every operation, so they are either covered whole or untouched
            if (old.start() < s.start()) {
                segments.put(old.start(), trimmed(old, old.start(), s.start()));
            }
            if (old.end() > s.end()) {
                segments.put(s.end(), trimmed(old, s.end(), old.end()));
            }
        }
        segments.put(s.start(), s);
    }

    private static Segment trimmed(Segment old, long start, long end) {
        return new Segment(start, end, old.logSector(), old.leading(), old.trailing());
    }

    /** Overwrites {@code dst[at, at+len)}, which holds file bytes [pos, pos+len), with replayed bytes. */
    void patch(ByteBuffer dst, int at, long pos, int len) throws IOException {
        long end = pos + len;
        Map.Entry<Long, Segment> first = segments.floorEntry(pos);
        Long from = first != null && first.getValue().end() > pos ? first.getKey() : Long.valueOf(pos);
        for (Segment s : segments.subMap(from, true, end, false).values()) {
            long a = Math.max(s.start(), pos);
            long b = Math.min(s.end(), end);
            if (a >= b) {
                continue;
            }
            int dstOff = at + (int) (a - pos);
            int n = (int) (b - a);
            if (s.zero()) {
                for (int i = 0; i < n; i++) {
                    dst.put(dstOff + i, (byte) 0);
                }
            } else {
                byte[] page = LogReplay.page(storage, s.logSector(), s.leading(), s.trailing());
                dst.put(dstOff, page, (int) (a - s.start()), n);
            }
        }
    }
}
