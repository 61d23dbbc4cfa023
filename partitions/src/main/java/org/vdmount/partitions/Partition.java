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
}
