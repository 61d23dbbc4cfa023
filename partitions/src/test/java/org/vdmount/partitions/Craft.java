package org.vdmount.partitions;

import java.nio.charset.StandardCharsets;
import java.util.zip.CRC32;

/** Writes on-disk fields into byte arrays to craft or patch tables (tests only). */
final class Craft {
    private Craft() {
    }

    static void put16le(byte[] b, int off, long v) {
        b[off] = (byte) v;
        b[off + 1] = (byte) (v >>> 8);
    }

    static void put32le(byte[] b, int off, long v) {
        put16le(b, off, v);
        put16le(b, off + 2, v >>> 16);
    }

    static void put64le(byte[] b, int off, long v) {
        put32le(b, off, v);
        put32le(b, off + 4, v >>> 32);
    }

    static void put16be(byte[] b, int off, long v) {
        b[off] = (byte) (v >>> 8);
        b[off + 1] = (byte) v;
    }

    static void put32be(byte[] b, int off, long v) {
        put16be(b, off, v >>> 16);
        put16be(b, off + 2, v);
    }

    static void putAscii(byte[] b, int off, String s) {
        byte[] a = s.getBytes(StandardCharsets.US_ASCII);
        System.arraycopy(a, 0, b, off, a.length);
    }

    static long u32le(byte[] b, int off) {
        return (b[off] & 0xFFL) | (b[off + 1] & 0xFFL) << 8 | (b[off + 2] & 0xFFL) << 16 | (b[off + 3] & 0xFFL) << 24;
    }

    static long u64le(byte[] b, int off) {
        return u32le(b, off) | u32le(b, off + 4) << 32;
    }

    /** Writes MBR/EBR entry {@code slot} (0-3) of the 512-byte table sector at {@code base} in {@code b}. */
    static void mbrEntry(byte[] b, int base, int slot, int boot, int type, long startLba, long sectors) {
        int off = base + 0x1BE + slot * 16;
        b[off] = (byte) boot;
        b[off + 4] = (byte) type;
        put32le(b, off + 8, startLba);
        put32le(b, off + 12, sectors);
    }

    static void signature(byte[] b, int base) {
        b[base + 510] = 0x55;
        b[base + 511] = (byte) 0xAA;
    }

    static long crc32(byte[] b, int off, int len) {
        CRC32 c = new CRC32();
        c.update(b, off, len);
        return c.getValue();
    }

    /** Recomputes the header CRC of the GPT header at {@code off} (header size taken from it, capped). */
    static void fixGptHeaderCrc(byte[] b, int off) {
        int size = (int) Math.min(Math.max(u32le(b, off + 12), 92), 512);
        if (off + size > b.length) {
            return;
        }
        put32le(b, off + 16, 0);
        put32le(b, off + 16, crc32(b, off, size));
    }
}
