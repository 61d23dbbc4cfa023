package org.vdmount.vd.format.ewf;

import java.nio.file.Path;
import org.vdmount.vd.Bytes;
import org.vdmount.vd.CorruptImageException;

/**
 * A "table" or "table2" section (spec: "Table section", EWF-E01): a 24-byte header (entry count, base offset,
 * Adler-32), one 32-bit entry per chunk (bit 31: compressed; bits 0-30: the chunk's offset from
 * the base offset, in the same segment file), then the Adler-32 of the entries (EnCase 6 and
 * later). "table2" mirrors "table" and stands in when the table is damaged.
 *
 * @param base the offset in the segment file the entries are relative to
 * @param raw  the entries as stored (checked: each points inside the segment)
 */
record TableSection(long base, int[] raw) {
    static final int HEADER_SIZE = 24;

    /**
     * Parses the section data {@code data} of the table at {@code descriptor} in {@code file}
     * of {@code segmentBytes}; every entry must point inside the segment.
     */
    static TableSection parse(Bytes data, Path file, SectionDescriptor descriptor, long segmentBytes)
            throws CorruptImageException {
        long at = descriptor.dataOffset();
        String what = descriptor.type() + " section";
        if (data.size() < HEADER_SIZE) {
            throw new CorruptImageException("ewf", file, what, at, "data of " + data.size() + " bytes, header needs "
                    + HEADER_SIZE);
        }
        // 0: entries (u32); 4: padding; 8: base offset (u64); 16: padding; 20: adler32 of 0..19
        long stored = data.u32le(20);
        long computed = SectionDescriptor.adler32(data, 0, 20);
        if (stored != computed) {
            throw new CorruptImageException("ewf", file, what + " header", at, "checksum 0x" + Long.toHexString(stored)
                    + ", computed 0x" + Long.toHexString(computed));
        }
        long entries = data.u32le(0);
        long base = data.u64le(8);
        if (entries > (data.size() - HEADER_SIZE) / 4) {
            throw new CorruptImageException("ewf", file, what + " header", at, entries + " entries do not fit in "
                    + (data.size() - HEADER_SIZE) + " bytes of section data");
        }
        int n = (int) entries;
        int footer = HEADER_SIZE + 4 * n;
        if (data.size() >= footer + 4) {
            long storedEntries = data.u32le(footer);
            long computedEntries = SectionDescriptor.adler32(data, HEADER_SIZE, 4 * n);
            if (storedEntries != computedEntries) {
                throw new CorruptImageException("ewf", file, what + " entries", at + HEADER_SIZE, "checksum 0x"
                        + Long.toHexString(storedEntries) + ", computed 0x" + Long.toHexString(computedEntries));
            }
        }
        if (base < 0 || base >= segmentBytes) {
            throw new CorruptImageException("ewf", file, what + " header", at + 8, "base offset 0x"
                    + Long.toHexString(base) + " outside the segment (0x" + Long.toHexString(segmentBytes) + " bytes)");
        }
        int[] raw = new int[n];
        for (int i = 0; i < n; i++) {
            raw[i] = (int) data.u32le(HEADER_SIZE + 4 * i);
            long offset = base + (raw[i] & 0x7fffffffL);
            if (offset >= segmentBytes) {
                throw new CorruptImageException("ewf", file, what + " entry " + i, at + HEADER_SIZE + 4L * i,
                        "chunk offset 0x" + Long.toHexString(offset) + " past the segment's end 0x"
                                + Long.toHexString(segmentBytes));
            }
        }
        return new TableSection(base, raw);
    }

    /** Entry {@code i}'s chunk offset in the segment file. */
    long offset(int i) {
        return base + (raw[i] & 0x7fffffffL);
    }
}
