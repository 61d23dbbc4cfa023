package org.vdmount.vd.format.vhd;

import java.nio.charset.StandardCharsets;
import java.util.UUID;
import org.vdmount.vd.Bytes;

/**
 * The hard disk footer (libvhdi "Footer"; Microsoft VHD spec "Hard Disk Footer Format"): 512
 * big-endian bytes at the end of every VHD, copied at offset 0 of dynamic and differencing
 * images. Old Virtual PC versions wrote only 511 bytes (the last reserved byte missing).
 *
 * @param features             0x08 "features" (bit 1 reserved, always set)
 * @param formatVersion        0x0C 0x00010000
 * @param dataOffsetBytes      0x10 dynamic header offset; all ones for fixed disks
 * @param timestamp            0x18 creation time, seconds since 2000-01-01 UTC
 * @param creatorApp           0x1C four characters ("vpc ", "win ", "qemu", "qem2", ...)
 * @param creatorVersion       0x20 major.minor in 16+16 bits
 * @param creatorOs            0x24 "Wi2k" or "Mac "
 * @param originalSizeBytes    0x28 size at creation
 * @param currentSizeBytes     0x30 current virtual size
 * @param cylinders            0x38 CHS geometry: cylinders (u16)
 * @param heads                0x3A heads (u8)
 * @param sectorsPerTrack      0x3B sectors per track (u8)
 * @param diskType             0x3C 2 fixed, 3 dynamic, 4 differencing
 * @param checksum             0x40 one's complement of the byte sum (this field taken as zero)
 * @param uniqueId             0x44 16 bytes, RFC 4122 byte order; children record it
 * @param savedState           0x54 1 if the image is in a saved state
 */
record VhdFooter(long features, long formatVersion, long dataOffsetBytes, long timestamp,
                 String creatorApp, long creatorVersion, String creatorOs, long originalSizeBytes,
                 long currentSizeBytes, int cylinders, int heads, int sectorsPerTrack, long diskType,
                 long checksum, UUID uniqueId, int savedState) {

    static final int SIZE = 512;
    /** Length of the footers old Virtual PC versions wrote. */
    static final int SHORT_SIZE = 511;
    static final String COOKIE = "conectix";
    static final int CHECKSUM_OFFSET = 0x40;

    static final long TYPE_FIXED = 2;
    static final long TYPE_DYNAMIC = 3;
    static final long TYPE_DIFFERENCING = 4;
    static final long NO_DATA_OFFSET = -1L;

    /** Whether the cookie "conectix" starts at {@code off}. */
    static boolean hasCookie(Bytes b, int off) {
        return b.size() >= off + 8 && b.asciiz(off, 8).equals(COOKIE);
    }

    /** Parses 512 bytes (a 511-byte footer padded with a zero byte). */
    static VhdFooter parse(Bytes b) {
        return new VhdFooter(
                b.u32be(0x08), b.u32be(0x0C), b.u64be(0x10), b.u32be(0x18),
                fourcc(b, 0x1C), b.u32be(0x20), fourcc(b, 0x24),
                b.u64be(0x28), b.u64be(0x30),
                b.u16be(0x38), b.u8(0x3A), b.u8(0x3B),
                b.u32be(0x3C), b.u32be(CHECKSUM_OFFSET), b.uuidBe(0x44), b.u8(0x54));
    }

    /** The 512 on-disk bytes, with the checksum computed (the {@link #checksum} field is ignored). */
    Bytes encode() {
        Bytes b = Bytes.allocate(SIZE);
        b.putBytes(0x00, COOKIE.getBytes(StandardCharsets.US_ASCII));
        b.put32be(0x08, features).put32be(0x0C, formatVersion).put64be(0x10, dataOffsetBytes);
        b.put32be(0x18, timestamp).putBytes(0x1C, fourccBytes(creatorApp)).put32be(0x20, creatorVersion);
        b.putBytes(0x24, fourccBytes(creatorOs)).put64be(0x28, originalSizeBytes).put64be(0x30, currentSizeBytes);
        b.put16be(0x38, cylinders).put8(0x3A, heads).put8(0x3B, sectorsPerTrack);
        b.put32be(0x3C, diskType).putUuidBe(0x44, uniqueId).put8(0x54, savedState);
        b.put32be(CHECKSUM_OFFSET, checksum(b, SIZE, CHECKSUM_OFFSET));
        return b;
    }

    /** One's complement of the sum of {@code length} bytes, the checksum field counted as zero. */
    static long checksum(Bytes b, int length, int checksumOffset) {
        long sum = 0;
        for (int i = 0; i < length; i++) {
            if (i < checksumOffset || i >= checksumOffset + 4) {
                sum += b.u8(i);
            }
        }
        return ~sum & 0xFFFF_FFFFL;
    }

    /** Four characters as stored (bytes as Latin-1, NULs kept so "tap\0" stays distinct). */
    static String fourcc(Bytes b, int off) {
        return new String(b.bytes(off, 4), StandardCharsets.ISO_8859_1);
    }

    static byte[] fourccBytes(String s) {
        byte[] out = new byte[4];
        byte[] in = s.getBytes(StandardCharsets.ISO_8859_1);
        System.arraycopy(in, 0, out, 0, Math.min(4, in.length));
        return out;
    }

    boolean fixed() {
        return diskType == TYPE_FIXED;
    }

    boolean differencing() {
        return diskType == TYPE_DIFFERENCING;
    }

    /** Name of {@link #diskType} as users know it. */
    String variant() {
        return diskType == TYPE_FIXED ? "fixed" : diskType == TYPE_DYNAMIC ? "dynamic"
                : diskType == TYPE_DIFFERENCING ? "differencing" : "type " + diskType;
    }
}
