package org.vdmount.vd;

import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.util.UUID;

/**
 * Absolute little/big-endian accessors over a {@link ByteBuffer}. Every method names its byte order,
 * ignores the buffer's own order and never moves its position: on-disk structures are parsed as
 * {@code b.u32le(0x10)} next to the spec's offset table, never through the buffer's mutable state.
 * Unsigned 32-bit values come back as {@code long}.
 */
public final class Bytes {
    private final ByteBuffer buf;
    private final int base;

    private Bytes(ByteBuffer buf, int base) {
        this.buf = buf;
        this.base = base;
    }

    /** A view whose offset 0 is {@code buf}'s current position. */
    public static Bytes of(ByteBuffer buf) {
        return new Bytes(buf, buf.position());
    }

    public static Bytes of(byte[] array) {
        return new Bytes(ByteBuffer.wrap(array), 0);
    }

    public static Bytes allocate(int size) {
        return of(new byte[size]);
    }

    /** A view starting {@code offset} bytes into this one (shares the bytes). */
    public Bytes at(int offset) {
        return new Bytes(buf, base + offset);
    }

    public int size() {
        return buf.limit() - base;
    }

    public ByteBuffer buffer() {
        return buf;
    }

    /** The bytes of this view as a fresh buffer positioned at 0, limited to {@code length}. */
    public ByteBuffer slice(int offset, int length) {
        return buf.duplicate().position(base + offset).limit(base + offset + length).slice();
    }

    // ---- little endian ------------------------------------------------------------------------

    public int u8(int off) {
        return buf.get(base + off) & 0xFF;
    }

    public int u16le(int off) {
        return (buf.get(base + off) & 0xFF) | (buf.get(base + off + 1) & 0xFF) << 8;
    }

    public long u32le(int off) {
        return s32le(off) & 0xFFFF_FFFFL;
    }

    public int s32le(int off) {
        return u16le(off) | u16le(off + 2) << 16;
    }

    public long u64le(int off) {
        return (s32le(off) & 0xFFFF_FFFFL) | (long) s32le(off + 4) << 32;
    }

    public Bytes put8(int off, int v) {
        buf.put(base + off, (byte) v);
        return this;
    }

    public Bytes put16le(int off, int v) {
        buf.put(base + off, (byte) v);
        buf.put(base + off + 1, (byte) (v >>> 8));
        return this;
    }

    public Bytes put32le(int off, long v) {
        put16le(off, (int) v);
        return put16le(off + 2, (int) (v >>> 16));
    }

    public Bytes put64le(int off, long v) {
        put32le(off, v);
        return put32le(off + 4, v >>> 32);
    }

    // ---- big endian ---------------------------------------------------------------------------

    public int u16be(int off) {
        return (buf.get(base + off) & 0xFF) << 8 | (buf.get(base + off + 1) & 0xFF);
    }

    public int s32be(int off) {
        return u16be(off) << 16 | u16be(off + 2);
    }

    public long u32be(int off) {
        return s32be(off) & 0xFFFF_FFFFL;
    }

    public long u64be(int off) {
        return (long) s32be(off) << 32 | (s32be(off + 4) & 0xFFFF_FFFFL);
    }

    public Bytes put16be(int off, int v) {
        buf.put(base + off, (byte) (v >>> 8));
        buf.put(base + off + 1, (byte) v);
        return this;
    }

    public Bytes put32be(int off, long v) {
        put16be(off, (int) (v >>> 16));
        return put16be(off + 2, (int) v);
    }

    public Bytes put64be(int off, long v) {
        put32be(off, v >>> 32);
        return put32be(off + 4, v);
    }

    // ---- byte runs, strings, UUIDs ------------------------------------------------------------

    public byte[] bytes(int off, int len) {
        byte[] out = new byte[len];
        buf.get(base + off, out);
        return out;
    }

    public Bytes putBytes(int off, byte[] src) {
        buf.put(base + off, src);
        return this;
    }

    public Bytes fill(int off, int len, int value) {
        for (int i = 0; i < len; i++) {
            buf.put(base + off + i, (byte) value);
        }
        return this;
    }

    /** ASCII/Latin-1 text up to the first NUL within {@code len} bytes. */
    public String asciiz(int off, int len) {
        int n = 0;
        while (n < len && buf.get(base + off + n) != 0) {
            n++;
        }
        return new String(bytes(off, n), StandardCharsets.ISO_8859_1);
    }

    /** UTF-16LE text of {@code len} bytes, cut at the first NUL character. */
    public String utf16le(int off, int len) {
        String s = new String(bytes(off, len & ~1), StandardCharsets.UTF_16LE);
        int nul = s.indexOf('\0');
        return nul >= 0 ? s.substring(0, nul) : s;
    }

    /** UTF-16BE text of {@code len} bytes, cut at the first NUL character. */
    public String utf16be(int off, int len) {
        String s = new String(bytes(off, len & ~1), StandardCharsets.UTF_16BE);
        int nul = s.indexOf('\0');
        return nul >= 0 ? s.substring(0, nul) : s;
    }

    /** A UUID stored as 16 bytes in RFC 4122 (big-endian) order. */
    public UUID uuidBe(int off) {
        return new UUID(u64be(off), u64be(off + 8));
    }

    public Bytes putUuidBe(int off, UUID u) {
        put64be(off, u.getMostSignificantBits());
        return put64be(off + 8, u.getLeastSignificantBits());
    }

    /**
     * A Microsoft GUID: Data1 (u32), Data2 (u16), Data3 (u16) little-endian, then Data4 as 8 bytes.
     * Used by GPT, VHDX and VDI.
     */
    public UUID guid(int off) {
        long msb = u32le(off) << 32 | (long) u16le(off + 4) << 16 | u16le(off + 6);
        return new UUID(msb, u64be(off + 8));
    }

    public Bytes putGuid(int off, UUID u) {
        long msb = u.getMostSignificantBits();
        put32le(off, msb >>> 32);
        put16le(off + 4, (int) (msb >>> 16));
        put16le(off + 6, (int) msb);
        return put64be(off + 8, u.getLeastSignificantBits());
    }

    public boolean isZero(int off, int len) {
        for (int i = 0; i < len; i++) {
            if (buf.get(base + off + i) != 0) {
                return false;
            }
        }
        return true;
    }
}
