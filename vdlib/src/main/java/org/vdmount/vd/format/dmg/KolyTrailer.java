package org.vdmount.vd.format.dmg;

import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.UUID;
import org.vdmount.vd.Bytes;
import org.vdmount.vd.CorruptImageException;
import org.vdmount.vd.NotThisFormatException;

/**
 * The UDIF resource file ("koly" trailer): the last 512 bytes of the image, big-endian
 * (libmodi, "Mac OS disk image types" § UDIF resource file). Offsets are from the file's start.
 *
 * @param version             +4, 4 in every known image
 * @param flags               +12, kUDIFFlagsFlattened 1, kUDIFFlagsInternetEnabled 4
 * @param dataForkOffset      +24
 * @param dataForkLength      +32
 * @param rsrcForkOffset      +40, the classic resource fork (images made before the XML plist)
 * @param rsrcForkLength      +48
 * @param segmentNumber       +56
 * @param segmentCount        +60, 0 or 1 unless the image is split into .dmgpart files
 * @param segmentId           +64
 * @param dataChecksum        +80, over the data fork's bytes
 * @param xmlOffset           +216
 * @param xmlLength           +224
 * @param masterChecksum      +352
 * @param imageVariant        +488, 1 device image, 2 partition image
 * @param sectorCount         +492, 512-byte sectors of the media
 */
record KolyTrailer(long version, long flags, long dataForkOffset, long dataForkLength, long rsrcForkOffset,
                   long rsrcForkLength, long segmentNumber, long segmentCount, UUID segmentId,
                   UdifChecksum dataChecksum, long xmlOffset, long xmlLength, UdifChecksum masterChecksum,
                   long imageVariant, long sectorCount) {
    static final int SIZE = 512;
    static final byte[] SIGNATURE = "koly".getBytes(StandardCharsets.US_ASCII);

    static boolean hasSignature(Bytes b, int off) {
        return off >= 0 && off + SIGNATURE.length <= b.size()
                && java.util.Arrays.equals(b.bytes(off, SIGNATURE.length), SIGNATURE);
    }

    /** Parses and checks the trailer read from the end of {@code file} (of {@code fileSize} bytes). */
    static KolyTrailer parse(Bytes b, Path file, long fileSize) throws java.io.IOException {
        long at = fileSize - SIZE;
        if (!hasSignature(b, 0)) {
            throw new NotThisFormatException("dmg: " + file + ": no 'koly' trailer in the last 512 bytes");
        }
        long headerSize = b.u32be(8);
        if (headerSize != SIZE) {
            throw new CorruptImageException("dmg", file, "koly trailer", at, "header size " + headerSize + ", expected 512");
        }
        KolyTrailer k = new KolyTrailer(b.u32be(4), b.u32be(12), b.u64be(24), b.u64be(32), b.u64be(40), b.u64be(48),
                b.u32be(56), b.u32be(60), b.uuidBe(64), UdifChecksum.parse(b, 80), b.u64be(216), b.u64be(224),
                UdifChecksum.parse(b, 352), b.u32be(488), b.u64be(492));
        k.check(file, at);
        return k;
    }

    /** Ranges inside the file before the trailer; counts that fit a long. */
    private void check(Path file, long at) throws CorruptImageException {
        range(file, at, "data fork", dataForkOffset, dataForkLength);
        range(file, at, "XML property list", xmlOffset, xmlLength);
        range(file, at, "resource fork", rsrcForkOffset, rsrcForkLength);
        if (sectorCount < 0 || sectorCount > Long.MAX_VALUE / 512) {
            throw new CorruptImageException("dmg", file, "koly trailer", at, "sector count " + Long.toUnsignedString(
                    sectorCount) + " does not fit a 64-bit byte size");
        }
    }

    private static void range(Path file, long at, String what, long offset, long length) throws CorruptImageException {
        if (offset < 0 || length < 0 || offset > at || length > at - offset) {
            throw new CorruptImageException("dmg", file, "koly trailer", at, what + " at 0x" + Long.toHexString(offset)
                    + " of " + Long.toUnsignedString(length) + " bytes runs past the trailer at 0x" + Long.toHexString(at));
        }
    }

    long virtualBytes() {
        return sectorCount * 512;
    }

    String variantName() {
        return imageVariant == 1 ? "device" : imageVariant == 2 ? "partition" : "type " + imageVariant;
    }
}
