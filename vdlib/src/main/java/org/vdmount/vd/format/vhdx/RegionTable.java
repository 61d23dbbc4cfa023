package org.vdmount.vd.format.vhdx;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.UUID;
import org.vdmount.vd.Bytes;
import org.vdmount.vd.CorruptImageException;

/**
 * The 64 KiB region table, stored twice at 192 KiB and 256 KiB (MS-VHDX 2.2.3): a 16-byte header
 * (0x00 "regi", 0x04 CRC-32C of the 64 KiB, 0x08 entry count &lt;= 2047, 0x0C reserved) and entries.
 */
record RegionTable(List<RegionTable.Entry> entries) {
    static final int SIZE = 64 * 1024;
    static final long SIGNATURE = 0x6967_6572L; // "regi"
    static final int MAX_ENTRIES = 2047;
    static final int HEADER_SIZE = 16;

    /**
     * One region.
     *
     * @param guid            0x00 region type
     * @param fileOffsetBytes 0x10 u64, multiple of 1 MiB, at least 1 MiB
     * @param lengthBytes     0x18 u32, multiple of 1 MiB
     * @param required        0x1C bit 0: a reader must understand the region to open the file
     */
    record Entry(UUID guid, long fileOffsetBytes, long lengthBytes, boolean required) {
        static final int SIZE = 32;

        long end() {
            return fileOffsetBytes + lengthBytes;
        }
    }

    RegionTable {
        entries = List.copyOf(entries);
    }

    /** Parses and checks signature, checksum and count; entries are checked by the opener. */
    static RegionTable parse(byte[] b, Path file, long at) throws CorruptImageException {
        Bytes r = Bytes.of(b);
        if (r.u32le(0) != SIGNATURE) {
            throw new CorruptImageException(Vhdx.FORMAT, file, "region table", at, "signature is not 'regi'");
        }
        long crc = Vhdx.crc32c(b, 0, SIZE, 4);
        if (r.u32le(4) != crc) {
            throw new CorruptImageException(Vhdx.FORMAT, file, "region table", at, "checksum "
                    + Vhdx.hex(r.u32le(4)) + " != computed " + Vhdx.hex(crc));
        }
        long count = r.u32le(8);
        if (count > MAX_ENTRIES) {
            throw new CorruptImageException(Vhdx.FORMAT, file, "region table", at, "entry count " + count
                    + " > " + MAX_ENTRIES);
        }
        List<Entry> out = new ArrayList<>();
        for (int i = 0; i < count; i++) {
            int o = HEADER_SIZE + i * Entry.SIZE;
            out.add(new Entry(r.guid(o), r.u64le(o + 0x10), r.u32le(o + 0x18), (r.u32le(o + 0x1C) & 1) != 0));
        }
        return new RegionTable(out);
    }

    byte[] write() {
        byte[] b = new byte[SIZE];
        Bytes w = Bytes.of(b);
        w.put32le(0, SIGNATURE);
        w.put32le(8, entries.size());
        for (int i = 0; i < entries.size(); i++) {
            Entry e = entries.get(i);
            int o = HEADER_SIZE + i * Entry.SIZE;
            w.putGuid(o, e.guid());
            w.put64le(o + 0x10, e.fileOffsetBytes());
            w.put32le(o + 0x18, e.lengthBytes());
            w.put32le(o + 0x1C, e.required() ? 1 : 0);
        }
        w.put32le(4, Vhdx.crc32c(b, 0, SIZE, 4));
        return b;
    }

    Entry find(UUID guid) {
        for (Entry e : entries) {
            if (e.guid().equals(guid)) {
                return e;
            }
        }
        return null;
    }
}
