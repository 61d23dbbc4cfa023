package org.vdmount.vd;

/**
 * A checksum an image stores over part of itself (a DMG's data-fork CRC-32, a block table's CRC-32
 * of its sectors), with the value recomputed from the file: {@link Image#storedChecksums} answers
 * these and {@code vd verify} compares them.
 *
 * @param what     what it covers, e.g. "data fork crc32" or "blkx 2 (Apple_HFS : 2) crc32"
 * @param stored   the value the image records, lower-case hex
 * @param computed the value recomputed, lower-case hex
 */
public record StoredChecksum(String what, String stored, String computed) {

    public boolean matches() {
        return stored.equalsIgnoreCase(computed);
    }
}
