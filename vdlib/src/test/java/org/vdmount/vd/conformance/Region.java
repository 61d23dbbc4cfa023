package org.vdmount.vd.conformance;

/**
 * A byte range of one host file worth corrupting: a header, a table, a descriptor. Mutations
 * stay inside it, and multi-byte values are placed at offsets aligned to the region's start
 * (so a table of 8-byte entries gets whole entries replaced).
 *
 * @param name   shown when a case fails ("L1 table", "footer")
 * @param start  file offset
 * @param length bytes (clipped to the file)
 */
public record Region(String name, long start, long length) {

    public Region {
        if (start < 0 || length <= 0) {
            throw new IllegalArgumentException("region " + name + " at " + start + " of " + length + " bytes");
        }
    }

    /** The whole file: what a fixture answers when any byte matters (raw) or a text descriptor. */
    public static Region whole(String name, long fileLength) {
        return new Region(name, 0, Math.max(1, fileLength));
    }

    public long end() {
        return start + length;
    }
}
