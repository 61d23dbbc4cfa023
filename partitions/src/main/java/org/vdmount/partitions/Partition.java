package org.vdmount.partitions;

/**
 * One partition as Linux numbers it (MBR primaries 1-4, logical from 5 in EBR-chain order; GPT by
 * entry index, 1-based; APM by map entry index).
 *
 * @param typeCode MBR type byte as two hex digits ("83"), GPT type GUID, APM type string
 * @param typeName readable type ("Linux filesystem", "EFI system", ...) or the code if unknown
 * @param name     GPT/APM name, "" for MBR
 * @param uuid     GPT unique partition GUID, "" otherwise
 */
public record Partition(int number, long startByte, long lengthBytes, Scheme scheme, String typeCode,
                        String typeName, String name, String uuid, boolean bootable) {

    /**
     * Whether this is an MBR extended partition (types 05, 0f, 85): listed with its full extent, as
     * {@code sfdisk -J} does, but its content is the logical partitions and their EBRs, each of which
     * is listed on its own. A mount may skip it or show it; Linux shows a 1 KiB stub.
     */
    public boolean isExtendedContainer() {
        return scheme == Scheme.MBR && (typeCode.equalsIgnoreCase("05") || typeCode.equalsIgnoreCase("0f")
                || typeCode.equalsIgnoreCase("85"));
    }

    /** The first byte after the partition. */
    public long endByte() {
        return startByte + lengthBytes;
    }
}
