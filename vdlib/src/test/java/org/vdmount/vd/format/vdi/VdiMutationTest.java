package org.vdmount.vd.format.vdi;

import static org.junit.jupiter.api.Assertions.assertTimeoutPreemptively;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.time.Duration;
import java.util.List;
import java.util.Random;
import java.util.UUID;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.vdmount.vd.Allocation;
import org.vdmount.vd.Bytes;
import org.vdmount.vd.Disk;
import org.vdmount.vd.Image;
import org.vdmount.vd.OpenOptions;
import org.vdmount.vd.Run;
import org.vdmount.vd.VdException;

/**
 * Seeded random corruption of the header and the block map, and truncation: every open either
 * works and reads sanely, or throws a {@link VdException}; nothing else, no OOM, no hang.
 */
class VdiMutationTest {
    private static final long[] INTERESTING = {0, 1, 2, 3, 4, 5, 7, 0x1FF, 0x200, 0x1000, 0x10000, 1 << 20, 1 << 27,
        1 << 28, 0x7FFF_FFFFL, 0x8000_0000L, 0xFFFF_FFFEL, 0xFFFF_FFFFL, 0x3FFF_FFFFL};

    @TempDir
    Path dir;

    private int opened;
    private int refused;

    /** A compact dynamic image: 4 KiB blocks, free, zero and allocated blocks in scrambled slots. */
    private static byte[] compactSeed(int type) {
        Random rnd = new Random(99);
        int blocks = 48;
        int[] map = new int[blocks];
        int allocated = 0;
        for (int i = 0; i < blocks; i++) {
            map[i] = i % 5 == 1 ? VdiBlockMap.FREE : i % 7 == 3 ? VdiBlockMap.ZERO : allocated++;
        }
        for (int i = blocks - 1; i > 0; i--) { // scramble slot order among allocated blocks
            int j = rnd.nextInt(i + 1);
            if (VdiBlockMap.isAllocated(map[i]) && VdiBlockMap.isAllocated(map[j])) {
                int t = map[i];
                map[i] = map[j];
                map[j] = t;
            }
        }
        byte[] data = VdiTestSupport.random(rnd, blocks * 4096);
        return VdiTestSupport.handMade(4096, 0, map, allocated, data, blocks * 4096L - 1000, type,
                type == VdiHeader.TYPE_DIFF ? UUID.randomUUID() : VdiHeader.nullUuid());
    }

    @Test
    void corruptCompactDynamicImages() {
        assertTimeoutPreemptively(Duration.ofSeconds(90), () -> mutate(compactSeed(VdiHeader.TYPE_NORMAL), 2000, 1));
        assertTrue(opened > 100 && refused > 100, "both outcomes occur: opened " + opened + ", refused " + refused);
        System.out.println("vdi mutation: opened " + opened + ", refused " + refused);
    }

    @Test
    void corruptCompactDifferencingImages() {
        assertTimeoutPreemptively(Duration.ofSeconds(60), () -> mutate(compactSeed(VdiHeader.TYPE_DIFF), 1000, 2));
    }

    @Test
    void corruptQemuMadeImage() throws Exception {
        VdiTestSupport.assumeQemu();
        Path raw = dir.resolve("src.raw");
        Files.write(raw, VdiTestSupport.patternedDisk(8, 3 << 20, 1 << 20));
        Path vdi = dir.resolve("q.vdi");
        VdiTestSupport.ok("qemu-img", "convert", "-O", "vdi", raw.toString(), vdi.toString());
        byte[] seed = Files.readAllBytes(vdi);
        assertTimeoutPreemptively(Duration.ofSeconds(60), () -> mutate(seed, 800, 3));
    }

    private void mutate(byte[] pristine, int rounds, long seed) throws Exception {
        Path file = dir.resolve("m" + seed + ".vdi");
        Files.write(file, pristine);
        Random rnd = new Random(seed);
        int headerEnd = (int) Math.min(pristine.length, Bytes.of(pristine).u32le(0x158));
        for (int round = 0; round < rounds; round++) {
            byte[] bytes = pristine.clone();
            String what = corrupt(bytes, headerEnd, rnd);
            for (int extra = rnd.nextInt(3); extra > 0; extra--) { // compound corruptions pass single checks
                what += "; " + corrupt(bytes, headerEnd, rnd);
            }
            int length = bytes.length;
            if (rnd.nextInt(8) == 0) {
                length = rnd.nextInt(bytes.length);
                what += ", truncated to " + length;
            }
            boolean rw = rnd.nextInt(5) == 0;
            writeFile(file, bytes, length);
            try {
                exercise(file, rw, rnd);
                opened++;
            } catch (VdException e) {
                refused++;
                if (e.getMessage() == null || e.getMessage().isBlank() || e.getMessage().contains("\n")) {
                    fail("round " + round + " (" + what + "): message not one line: " + e.getMessage());
                }
            } catch (Throwable t) {
                throw new AssertionError("round " + round + " of seed " + seed + " (" + what + ", rw=" + rw + ") threw "
                        + t, t);
            }
        }
    }

    private static void writeFile(Path file, byte[] bytes, int length) throws IOException {
        try (FileChannel ch = FileChannel.open(file, StandardOpenOption.WRITE, StandardOpenOption.TRUNCATE_EXISTING)) {
            ch.write(ByteBuffer.wrap(bytes, 0, length), 0);
        }
    }

    /** Applies one seeded corruption to the header or block map; returns what it did. */
    private static String corrupt(byte[] b, int headerEnd, Random rnd) {
        Bytes v = Bytes.of(b);
        int kind = rnd.nextInt(5);
        switch (kind) {
            case 0 -> { // a header field gets an interesting or random value
                int off = 0x40 + 4 * rnd.nextInt((VdiHeader.SIZE - 0x40) / 4);
                long val = pick(rnd, v.u32le(off));
                v.put32le(off, val);
                return "u32 at 0x" + Integer.toHexString(off) + " = 0x" + Long.toHexString(val);
            }
            case 1 -> { // disk size (u64)
                long val = rnd.nextBoolean() ? rnd.nextLong() : v.u64le(0x170) + rnd.nextInt(1 << 20) - (1 << 19);
                v.put64le(0x170, val);
                return "disk size = " + val;
            }
            case 2 -> { // block map entries
                long mapOff = v.u32le(0x154);
                long blocks = v.u32le(0x180);
                int n = 1 + rnd.nextInt(4);
                for (int i = 0; i < n && blocks > 0; i++) {
                    long off = mapOff + 4L * rnd.nextInt((int) Math.min(blocks, 1 << 20));
                    if (off + 4 <= b.length) {
                        v.put32le((int) off, pick(rnd, v.u32le((int) off)));
                    }
                }
                return n + " block map entries";
            }
            case 3 -> { // byte flips anywhere in header and map
                int n = 1 + rnd.nextInt(8);
                for (int i = 0; i < n; i++) {
                    int off = rnd.nextInt(headerEnd);
                    b[off] ^= (byte) (1 << rnd.nextInt(8));
                }
                return n + " bit flips";
            }
            default -> { // the version / header size / offsets, the fields that shape the layout
                int[] fields = {0x44, 0x48, 0x4C, 0x154, 0x158, 0x178, 0x17C, 0x180, 0x184};
                int off = fields[rnd.nextInt(fields.length)];
                long val = pick(rnd, v.u32le(off));
                v.put32le(off, val);
                return "layout field 0x" + Integer.toHexString(off) + " = 0x" + Long.toHexString(val);
            }
        }
    }

    private static long pick(Random rnd, long old) {
        return switch (rnd.nextInt(4)) {
            case 0 -> INTERESTING[rnd.nextInt(INTERESTING.length)];
            case 1 -> rnd.nextInt() & 0xFFFF_FFFFL;
            case 2 -> (old + rnd.nextInt(9) - 4) & 0xFFFF_FFFFL;
            default -> (rnd.nextBoolean() ? old * 2 : old / 2) & 0xFFFF_FFFFL;
        };
    }

    /** Opens and reads DATA runs (bounded), optionally writes and discards on a writable open. */
    private static void exercise(Path file, boolean rw, Random rnd) throws IOException {
        OpenOptions o = rw ? OpenOptions.defaultReadWrite() : OpenOptions.defaultReadOnly();
        Image img = new VdiFormat().open(file, o);
        try (Disk d = Disk.of(List.of(img))) {
            img.details();
            img.allocatedBytes();
            img.parent();
            long size = img.virtualSize();
            long bs = img.blockSize();
            ByteBuffer buf = ByteBuffer.allocate(4096);
            long off = 0;
            for (int runs = 0; runs < 600 && off < size; runs++) {
                long run = img.map(off, size - off);
                long len = Run.length(run);
                if (Run.kind(run) == Allocation.DATA) {
                    buf.clear().limit((int) Math.min(buf.capacity(), len));
                    d.read(off, buf);
                    buf.clear().limit((int) Math.min(buf.capacity(), len));
                    d.read(off + len - buf.limit(), buf);
                }
                off += len;
            }
            buf.clear().limit((int) Math.min(4096, size));
            d.read(size - buf.limit(), buf);
            if (rw && bs <= 1 << 20) { // (a write into a 128 MiB block would copy 128 MiB: legal, just slow)
                long at = Math.floorMod(rnd.nextLong(), size);
                ByteBuffer data = ByteBuffer.wrap(VdiTestSupport.random(rnd, (int) Math.min(3000, size - at)));
                d.write(at, data);
                long block = Math.floorMod(rnd.nextLong(), Math.max(1, Math.min(64, size / bs)));
                d.discard(block * bs, Math.min(bs, size - block * bs));
                d.flush();
            }
        }
    }
}
