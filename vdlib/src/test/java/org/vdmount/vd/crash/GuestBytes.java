package org.vdmount.vd.crash;

import static org.junit.jupiter.api.Assertions.assertEquals;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.file.Path;
import java.util.Arrays;
import org.vdmount.vd.Disk;
import org.vdmount.vd.OpenOptions;

/** What the guest sees of a (small) image, and the comparison the crash tests make of it. */
final class GuestBytes {
    private GuestBytes() {
    }

    /** Every byte of the disk {@code p} opens to with {@code options}. */
    static byte[] of(Path p, OpenOptions options) throws IOException {
        try (Disk d = Disk.open(p, options)) {
            ByteBuffer b = ByteBuffer.allocate((int) d.size());
            d.read(0, b);
            return b.array();
        }
    }

    /** Equal bytes, or a failure naming {@code where} and the first differing offset. */
    static void assertSame(byte[] expected, byte[] actual, String where) {
        int at = Arrays.mismatch(expected, actual);
        assertEquals(-1, at, where + "differs at byte " + at);
    }
}
