package org.vdmount.partitions;

import java.nio.charset.StandardCharsets;
import java.util.UUID;

/**
 * Absolute little/big-endian accessors over a byte array (the partitions module's own tiny copy of
 * vdlib's {@code Bytes}; this module depends on the JDK only). Unsigned 32-bit values come back as
 * {@code long}; every method names its byte order.
 */
final class Bytes {
    private final byte[] b;
    private final int base;

    private Bytes(byte[] b, int base) {
        this.b = b;
        this.base = base;
    }

    static Bytes of(byte[] array) {
        return new Bytes(array, 0);
    }

    /** A view starting {@code offset} bytes into this one. */
    Bytes at(int offset) {
        return new Bytes(b, base + offset);
    }

    int u8(int off) {
        return b[base + off] & 0xFF;
    }

    int u16le(int off) {
        return u8(off) | u8(off + 1) << 8;
    }

    long u32le(int off) {
        return (u16le(off) | (long) u16le(off + 2) << 16) & 0xFFFF_FFFFL;
    }

    /** Unsigned 64-bit; values of 2^63 and more come back negative (callers treat them as out of range). */
    long u64le(int off) {
        return u32le(off) | u32le(off + 4) << 32;
    }

    int u16be(int off) {
        return u8(off) << 8 | u8(off + 1);
    }

    long u32be(int off) {
        return (long) u16be(off) << 16 | u16be(off + 2);
    }

    /** ASCII text up to the first NUL within {@code len} bytes (non-ASCII bytes kept as Latin-1). */
    String asciiz(int off, int len) {
        int n = 0;
        while (n < len && b[base + off + n] != 0) {
            n++;
        }
        return new String(b, base + off, n, StandardCharsets.ISO_8859_1);
    }

    /** UTF-16LE text of {@code len} bytes, cut at the first NUL character. */
    String utf16le(int off, int len) {
        String s = new String(b, base + off, len & ~1, StandardCharsets.UTF_16LE);
        int nul = s.indexOf('\0');
        return nul >= 0 ? s.substring(0, nul) : s;
    }

    /** A Microsoft GUID: Data1 (u32), Data2 (u16), Data3 (u16) little-endian, then Data4 as 8 bytes. */
    UUID guid(int off) {
        long msb = u32le(off) << 32 | (long) u16le(off + 4) << 16 | u16le(off + 6);
        long lsb = u32be(off + 8) << 32 | u32be(off + 12);
        return new UUID(msb, lsb);
    }

    boolean isZero(int off, int len) {
        for (int i = 0; i < len; i++) {
            if (b[base + off + i] != 0) {
                return false;
            }
        }
        return true;
    }
}
