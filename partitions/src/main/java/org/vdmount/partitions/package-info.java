/**
 * Partition tables over a tiny read interface ({@link org.vdmount.partitions.BlockSource}); JDK only.
 * {@link org.vdmount.partitions.PartitionTable#read} is the entry point; each scheme has its own reader
 * ({@code MbrReader}, {@code GptReader}, {@code ApmReader}) and one record per on-disk structure
 * ({@code Mbr}, {@code MbrEntry}, {@code GptHeader}, {@code GptEntry}, {@code ApmDriverDescriptor},
 * {@code ApmEntry}).
 *
 * <h2>Choices (and the oracle each follows)</h2>
 * <ul>
 *   <li><b>Numbering</b> is Linux's: MBR primaries keep slots 1-4, logical partitions count from 5 in
 *       EBR-chain order; GPT entries and APM map entries keep their 1-based index. Entries dropped as
 *       invalid still consume their number, so the rest keep the numbers Linux gives them.</li>
 *   <li><b>MBR extended container</b> (0x05, 0x0F, 0x85): listed under its slot number with its full
 *       extent, as {@code sfdisk -J} lists it (mmls shows that extent as "DOS Extended" meta);
 *       {@link org.vdmount.partitions.Partition#isExtendedContainer()} marks it so a consumer can skip it.
 *       Linux's 1 KiB stub device is not imitated.</li>
 *   <li><b>APM</b>: listed are the entries {@code mmls -a} lists: the map's own entry
 *       ("Apple_partition_map", number 1, as Linux also lists it) is included; free space
 *       ("Apple_Free", which Linux lists but mmls calls unallocated) is not.</li>
 *   <li><b>Probe order</b> is Linux's: GPT, APM, MBR. A protective (0xEE) or hybrid MBR means GPT
 *       (backup header used when the primary or its entries are corrupt; no GPT at all gives no
 *       partitions). Without 0xEE a valid primary GPT is used only if the MBR has no partitions.</li>
 *   <li><b>Sector size</b>: the disk's logical sector size when given (a GPT found only at the other of
 *       512/4096 is still used, with a warning); when probing, GPT at 512 then 4096, MBR in 512.</li>
 *   <li><b>Garbage is no table</b>: boot indicators other than 0x00/0x80 (Linux's rule), FAT/NTFS/exFAT
 *       boot sectors whose "entries" make no sense, entries past the disk or over their own table
 *       (dropped with a warning; a table left with nothing is no table). All sizes read from the disk are
 *       bounded before use: GPT array at most 1 MiB, 128 EBRs, 1024 APM entries.</li>
 * </ul>
 * Problems go to the caller's warning consumer, each prefixed with the scheme ("mbr: ", "gpt: ", "apm: ").
 */
package org.vdmount.partitions;
