package org.vdmount.partitions;

/**
 * The APM driver descriptor in block 0 (libvsapm "The drive descriptor"), big-endian. Only the fields
 * partition parsing needs are kept.
 *
 * @param blockSizeBytes the device block size; partition map entries and their start/count are in
 *                       these blocks
 * @param blockCount     the number of blocks on the device
 */
record ApmDriverDescriptor(int blockSizeBytes, long blockCount) {
    static final int SIZE = 512;
    static final int SIGNATURE = 0x4552; // "ER"

    /** The descriptor in {@code block0}, or null when the "ER" signature is missing. */
    static ApmDriverDescriptor parse(byte[] block0) {
        Bytes b = Bytes.of(block0);
        if (b.u16be(0x00) != SIGNATURE) {      // 0x00 signature "ER"
            return null;
        }
        return new ApmDriverDescriptor(
                b.u16be(0x02),                 // 0x02 block size in bytes
                b.u32be(0x04));                // 0x04 number of blocks
                                               // 0x08 device type, 0x0A device id, 0x0C device data,
                                               // 0x10 driver count, 0x12 driver descriptors (unused here)
    }
}
