package org.vdmount.vd.format.vdi;

import static org.junit.jupiter.api.Assertions.assertEquals;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.Random;
import java.util.UUID;
import org.vdmount.vd.Bytes;
import org.vdmount.vd.Disk;
import org.vdmount.vd.conformance.DiskBytes;
import org.vdmount.vd.conformance.ExternalTools;

/** Shared helpers for the VDI tests: qemu-img as the oracle, fixture builders, disk comparisons. */
final class VdiTestSupport {
    private VdiTestSupport() {
    }

    static void assumeQemu() {
        ExternalTools.assume("qemu-img");
    }

    /** Runs a command that must succeed; returns its stdout. */
    static String ok(String... cmd) throws IOException {
        return ExternalTools.run(null, cmd);
    }

    static void qemuCheckClean(Path image) throws IOException {
        ok("qemu-img", "check", "-f", "vdi", image.toString());
    }

    /** qemu-img's view of the image as raw bytes. */
    static byte[] qemuRaw(Path image, Path dir) throws IOException {
        Path raw = dir.resolve("qemu-view-" + UUID.randomUUID() + ".raw");
        ok("qemu-img", "convert", "-f", "vdi", "-O", "raw", image.toString(), raw.toString());
        byte[] bytes = Files.readAllBytes(raw);
        Files.delete(raw);
        return bytes;
    }

    /**
     * A raw disk with data, zero runs and an unaligned end: random data in most 64 KiB pieces,
     * whole zero blocks, a data piece straddling a block boundary, and data up to the last byte.
     */
    static byte[] patternedDisk(long seed, int size, int blockSize) {
        Random rnd = new Random(seed);
        byte[] d = new byte[size];
        for (int off = 0; off < size; off += 64 << 10) {
            int block = off / blockSize;
            if (block % 3 == 1) {
                continue; // whole zero blocks
            }
            if (rnd.nextInt(4) == 0) {
                continue; // zero runs inside data blocks
            }
            byte[] piece = new byte[Math.min(64 << 10, size - off)];
            rnd.nextBytes(piece);
            System.arraycopy(piece, 0, d, off, piece.length);
        }
        for (int i = blockSize - 700; i < blockSize + 900 && i < size; i++) {
            d[i] = (byte) (i * 7 + 1); // straddles the first block boundary
        }
        for (int i = size - 1000; i < size; i++) {
            d[i] = (byte) (i ^ 0x5A); // the unaligned tail
        }
        return d;
    }

    static void assertDiskEquals(byte[] expected, Disk disk) throws IOException {
        DiskBytes.assertDisk(expected, disk, "disk");
    }

    static void write(Disk disk, byte[] model, long off, byte[] data) throws IOException {
        disk.write(off, ByteBuffer.wrap(data));
        System.arraycopy(data, 0, model, (int) off, data.length);
    }

    static byte[] random(Random rnd, int n) {
        byte[] b = new byte[n];
        rnd.nextBytes(b);
        return b;
    }

    /**
     * Builds a compact v1.1 VDI by hand: header right after the pre-header, block map at 0x200,
     * data after it. {@code map[i]} is written as given; slots get the bytes of {@code data} for the
     * block that names them (extra bytes filled with 0xEE to prove they are skipped).
     */
    static byte[] handMade(int blockSize, int extra, int[] map, int allocated, byte[] virtualData, long diskSize,
                           int type, UUID linkage) {
        int blocks = map.length;
        long mapOffset = 0x200;
        long dataOffset = (mapOffset + 4L * blocks + 511) / 512 * 512;
        int stride = extra + blockSize;
        byte[] file = new byte[(int) (dataOffset + (long) allocated * stride)];
        Bytes b = Bytes.of(file);
        byte[] info = new byte[64];
        byte[] text = "<<< test >>>\n".getBytes(StandardCharsets.US_ASCII);
        System.arraycopy(text, 0, info, 0, text.length);
        VdiHeader h = new VdiHeader(info, VdiHeader.SIGNATURE, VdiHeader.VERSION_1_1, VdiHeader.V1_PLUS_SIZE, type, 0,
                new byte[256], mapOffset, dataOffset, VdiHeader.Geometry.unset(), 0, diskSize, blockSize, extra,
                blocks, allocated, UUID.randomUUID(), UUID.randomUUID(), linkage, VdiHeader.nullUuid(),
                VdiHeader.Geometry.unset());
        h.write(b);
        for (int i = 0; i < blocks; i++) {
            b.put32le((int) mapOffset + 4 * i, Integer.toUnsignedLong(map[i]));
            if (VdiBlockMap.isAllocated(map[i])) {
                int slotPos = (int) (dataOffset + (long) map[i] * stride);
                Arrays.fill(file, slotPos, slotPos + extra, (byte) 0xEE);
                int from = i * blockSize;
                int n = Math.max(0, Math.min(blockSize, virtualData.length - from));
                System.arraycopy(virtualData, from, file, slotPos + extra, n);
            }
        }
        return file;
    }
}
