package org.vdmount.vd.crypto;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.file.Path;
import java.util.List;
import org.vdmount.vd.Bytes;
import org.vdmount.vd.NotThisFormatException;
import org.vdmount.vd.storage.Storage;

/**
 * A LUKS header of either version, reduced to what unlocking needs: the key slots, the master-key
 * digest(s), the payload segment and the master key's length.
 *
 * @param version    1 or 2
 * @param uuid       the volume UUID as text
 * @param headerSize bytes of metadata at the start of the file (LUKS2: both headers, no key slots)
 */
public record LuksHeader(int version, String uuid, int keyBytes, List<LuksKeyslot> keyslots, List<LuksDigest> digests,
                         LuksSegment segment, long headerSize) {

    /** "LUKS" 0xba 0xbe: both versions (LUKS1 section 2.4, LUKS2 section 2). */
    public static final byte[] MAGIC = {'L', 'U', 'K', 'S', (byte) 0xba, (byte) 0xbe};

    /** Whether {@code head} starts with the LUKS magic. */
    public static boolean hasMagic(Bytes head) {
        if (head.size() < 8) {
            return false;
        }
        return java.util.Arrays.equals(head.bytes(0, 6), MAGIC);
    }

    /** Reads and checks the header of {@code storage} ({@code format} names the caller in messages). */
    public static LuksHeader read(Storage storage, String format, Path file) throws IOException {
        ByteBuffer b = ByteBuffer.allocate(Luks1Header.SIZE);
        int n = storage.read(b, 0);
        Bytes head = Bytes.of(b.array());
        if (n < 8 || !hasMagic(head)) {
            throw new NotThisFormatException(format + ": " + file + " has no LUKS header (magic \"LUKS\\xba\\xbe\")");
        }
        int version = head.u16be(6);
        return switch (version) {
            case 1 -> Luks1Header.parse(storage, format, file);
            case 2 -> Luks2Header.parse(storage, format, file);
            default -> throw new org.vdmount.vd.UnsupportedFeatureException(format + ": " + file
                    + ": LUKS version " + version + " is not supported (1 and 2 are)");
        };
    }
}
