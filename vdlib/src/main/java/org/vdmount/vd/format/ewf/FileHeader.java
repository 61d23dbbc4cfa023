package org.vdmount.vd.format.ewf;

import java.nio.file.Path;
import java.util.Arrays;
import org.vdmount.vd.Bytes;
import org.vdmount.vd.CorruptImageException;

/**
 * The 13-byte file header that opens every segment file (spec: "Segment file", "File header", EWF-E01).
 *
 * @param segmentNumber the segment's number, 1 for {@code .E01}
 */
record FileHeader(int segmentNumber) {
    static final int SIZE = 13;
    /** "EVF" 0x09 0x0d 0x0a 0xff 0x00: the EWF-E01 / EWF-S01 signature. */
    static final byte[] SIGNATURE = {0x45, 0x56, 0x46, 0x09, 0x0d, 0x0a, (byte) 0xff, 0x00};

    static boolean hasSignature(Bytes head) {
        return head.size() >= SIGNATURE.length && Arrays.equals(head.bytes(0, SIGNATURE.length), SIGNATURE);
    }

    static FileHeader parse(Bytes b, Path file) throws CorruptImageException {
        if (!hasSignature(b)) {
            throw new CorruptImageException("ewf", file, "file header", 0, "no EWF signature (EVF 09 0d 0a ff 00)");
        }
        // 0: signature (8); 8: fields start, 0x01; 9: segment number (u16); 11: fields end, 0x0000
        if (b.u8(8) != 1) {
            throw new CorruptImageException("ewf", file, "file header", 8, "fields start 0x"
                    + Integer.toHexString(b.u8(8)) + ", expected 0x01");
        }
        return new FileHeader(b.u16le(9));
    }
}
