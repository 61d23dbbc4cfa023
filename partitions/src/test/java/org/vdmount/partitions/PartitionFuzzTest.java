package org.vdmount.partitions;

import com.code_intelligence.jazzer.api.FuzzedDataProvider;
import com.code_intelligence.jazzer.junit.FuzzTest;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.util.zip.CRC32;

/**
 * Coverage-guided fuzzing of the partition parsers (Jazzer). The disk is the fuzzer's bytes at its
 * start and at its end (a GPT's backup lives there), zeros between, of a fuzzed size. Each target
 * forces its scheme's signatures so the fuzzer starts inside that parser. Oracle:
 * {@link PartitionTable#read} never throws for bad tables (only the source's I/O errors may), every
 * partition it returns has a positive number and a non-negative extent, and the bytes it reads stay
 * bounded. {@code mvn test} replays {@code PartitionFuzzTestInputs/<target>}; {@code campaigns/fuzz.sh} fuzzes.
 */
class PartitionFuzzTest {
    private static final long MAX_BYTES_READ = 256L << 20;

    private static void read(byte[] head, byte[] tail, long size, int sectorSize) {
        MemorySource disk = new MemorySource(head, tail, Math.max(size, head.length + (long) tail.length));
        PartitionTable t;
        try {
            t = PartitionTable.read(disk, sectorSize, w -> { });
        } catch (IOException e) {
            throw new AssertionError("a bad table must not throw: " + e, e);
        }
        for (Partition p : t.partitions()) {
            if (p.number() <= 0 || p.startByte() < 0 || p.lengthBytes() < 0) {
                throw new AssertionError("impossible partition " + p);
            }
        }
        if (disk.bytesRead > MAX_BYTES_READ) {
            throw new AssertionError("read " + disk.bytesRead + " bytes for one table");
        }
    }

    private static int sectorSize(FuzzedDataProvider in) {
        return in.pickValue(new int[] {0, 512, 4096, 1024, 3});
    }

    /** MBR with its signature, primaries and an EBR chain anywhere in the head. */
    @FuzzTest(maxDuration = "10s")
    void mbr(FuzzedDataProvider in) {
        int ss = sectorSize(in);
        long size = in.consumeLong(0, 1L << 42);
        byte[] head = in.consumeRemainingAsBytes();
        if (head.length >= 512) {
            head[510] = 0x55;
            head[511] = (byte) 0xAA;
        }
        read(head, new byte[0], size, ss);
    }

    /** Protective MBR, GPT header at LBA 1 (512 or 4096), entries after it, optional backup at the end. */
    @FuzzTest(maxDuration = "10s")
    void gpt(FuzzedDataProvider in) {
        int ss = sectorSize(in);
        int lba = in.consumeBoolean() ? 512 : 4096;
        boolean fixCrc = in.consumeBoolean();
        long size = in.consumeLong(0, 1L << 42);
        byte[] tail = in.consumeBytes(in.consumeInt(0, 16896));
        byte[] head = in.consumeRemainingAsBytes();
        if (head.length >= lba + 92) {
            head[510] = 0x55;
            head[511] = (byte) 0xAA;
            head[450] = (byte) 0xEE;
            System.arraycopy("EFI PART".getBytes(java.nio.charset.StandardCharsets.US_ASCII), 0, head, lba, 8);
            if (fixCrc) {
                fixGpt(head, lba);
            }
        }
        if (fixCrc && tail.length >= lba) {
            fixGpt(tail, tail.length - lba);
        }
        read(head, tail, size, ss);
    }

    /** The header CRC and, where the entry array lies inside the buffer, the array CRC. */
    private static void fixGpt(byte[] b, int at) {
        if (at < 0 || at + 92 > b.length) {
            return;
        }
        ByteBuffer h = ByteBuffer.wrap(b).order(ByteOrder.LITTLE_ENDIAN);
        long entriesLba = h.getLong(at + 72);
        long count = Integer.toUnsignedLong(h.getInt(at + 80));
        long entrySize = Integer.toUnsignedLong(h.getInt(at + 84));
        int sector = at >= 4096 ? 4096 : Math.max(512, at);
        long arrayAt = entriesLba * sector;
        long arrayLen = count * entrySize;
        boolean small = entriesLba >= 0 && entriesLba < b.length && count <= b.length && entrySize <= b.length;
        if (small && arrayLen > 0 && arrayAt + arrayLen <= b.length) { // no overflow: each factor < 2^31
            CRC32 c = new CRC32();
            c.update(b, (int) arrayAt, (int) arrayLen);
            h.putInt(at + 88, (int) c.getValue());
        }
        int hsize = h.getInt(at + 12);
        if (hsize >= 92 && (long) at + hsize <= b.length) {
            h.putInt(at + 16, 0);
            CRC32 c = new CRC32();
            c.update(b, at, hsize);
            h.putInt(at + 16, (int) c.getValue());
        }
    }

    /** Apple Partition Map: driver descriptor "ER" in block 0, map entries "PM" from block 1. */
    @FuzzTest(maxDuration = "10s")
    void apm(FuzzedDataProvider in) {
        int ss = sectorSize(in);
        long size = in.consumeLong(0, 1L << 42);
        byte[] head = in.consumeRemainingAsBytes();
        if (head.length >= 1024) {
            head[0] = 'E';
            head[1] = 'R';
            head[512] = 'P';
            head[513] = 'M';
        }
        read(head, new byte[0], size, ss);
    }
}
