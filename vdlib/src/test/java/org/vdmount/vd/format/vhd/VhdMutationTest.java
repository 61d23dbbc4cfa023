package org.vdmount.vd.format.vhd;

import static org.junit.jupiter.api.Assertions.assertTimeoutPreemptively;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.time.Duration;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.Random;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.vdmount.vd.Bytes;
import org.vdmount.vd.CreateOptions;
import org.vdmount.vd.Disk;
import org.vdmount.vd.Image;
import org.vdmount.vd.OpenOptions;
import org.vdmount.vd.Run;
import org.vdmount.vd.VdException;

/**
 * Seeded random corruption of footer, footer copy, dynamic header, BAT, bitmaps and locators:
 * every open either fails with a {@link VdException} or yields an image that reads (and, opened
 * writable, writes) without any other exception, hang or out-of-memory.
 */
class VhdMutationTest {
    @TempDir
    Path dir;

    /** An image to mutate and where its structures lie. */
    record Sample(String name, byte[] bytes, long[][] regions) {
    }

    @Test
    void randomCorruptionsFailCleanlyOrReadSanely() {
        assertTimeoutPreemptively(Duration.ofSeconds(90), () -> {
            List<Sample> samples = samples();
            Path file = dir.resolve("mutant.vhd");
            int opened = 0;
            int refused = 0;
            for (Sample s : samples) {
                for (int i = 0; i < 1500; i++) {
                    long seed = s.name().hashCode() * 1_000_003L + i;
                    overwrite(file, mutate(s, new Random(seed)));
                    try {
                        exercise(file, new Random(seed), i % 4 == 0);
                        opened++;
                    } catch (VdException e) {
                        refused++;
                        assertTrue(e.getMessage() != null && !e.getMessage().isBlank() && !e.getMessage().contains("\n"),
                                "one-line message for seed " + seed + ": " + e.getMessage());
                    } catch (Throwable t) {
                        throw new AssertionError(s.name() + " seed " + seed + ": " + t, t);
                    }
                }
            }
            System.out.println("vhd mutations: opened " + opened + ", refused " + refused);
            assertTrue(opened > 100 && refused > 100, "opened " + opened + ", refused " + refused);
        });
    }

    /** Rewrites in place: truncating to zero first makes ext4 flush on every close (auto_da_alloc). */
    private static void overwrite(Path file, byte[] content) throws IOException {
        try (FileChannel ch = FileChannel.open(file, StandardOpenOption.CREATE, StandardOpenOption.WRITE)) {
            ByteBuffer b = ByteBuffer.wrap(content);
            while (b.hasRemaining()) {
                ch.write(b, b.position());
            }
            ch.truncate(content.length);
        }
    }

    private static void exercise(Path file, Random r, boolean writable) throws IOException {
        OpenOptions o = writable ? OpenOptions.defaultReadWrite() : OpenOptions.defaultReadOnly();
        Image img = new VhdFormat().open(file, o.withWarnings(w -> { }));
        try (Disk d = Disk.of(List.of(img))) {
            long size = d.size();
            if (size == 0) {
                return;
            }
            long steps = 0;
            for (long off = 0; off < size && steps < 2000; steps++) { // walk the map
                long run = img.map(off, Math.min(size - off, 1L << 30));
                if (Run.length(run) <= 0) {
                    throw new AssertionError("empty run at " + off);
                }
                off += Run.length(run);
            }
            for (int k = 0; k < 20; k++) {
                long off = (long) (r.nextDouble() * size);
                int len = (int) Math.min(size - off, 1 + r.nextInt(200_000));
                d.read(off, ByteBuffer.allocate(len));
            }
            if (writable) {
                for (int k = 0; k < 4; k++) {
                    long off = (long) (r.nextDouble() * size);
                    int len = (int) Math.min(size - off, 1 + r.nextInt(100_000));
                    d.write(off, ByteBuffer.allocate(len));
                }
                d.discard(0, Math.min(size, 70_000));
                d.flush();
            }
        }
    }

    private static byte[] mutate(Sample s, Random r) {
        byte[] b = s.bytes().clone();
        int n = 1 + r.nextInt(4);
        for (int k = 0; k < n; k++) {
            long[] region = s.regions()[r.nextInt(s.regions().length)];
            int from = (int) region[0];
            int to = (int) Math.min(region[1], b.length);
            if (to <= from) {
                continue;
            }
            int at = from + r.nextInt(to - from);
            switch (r.nextInt(12)) {
                case 0, 1, 2 -> b[at] ^= (byte) (1 << r.nextInt(8));
                case 3, 4 -> b[at] = (byte) r.nextInt();
                case 5, 6, 7 -> {
                    at &= ~3;
                    if (at + 4 <= b.length) {
                        long[] v = {0, 0xFFFF_FFFFL, 0x7FFF_FFFFL, 1, r.nextInt(1 << 16), b.length / 512 - r.nextInt(8)};
                        Bytes.of(b).put32be(at, v[r.nextInt(v.length)]);
                    }
                }
                case 8, 9 -> Arrays.fill(b, at, Math.min(to, at + 1 + r.nextInt(64)), (byte) (r.nextBoolean() ? 0 : 0xFF));
                case 10 -> b = Arrays.copyOf(b, Math.max(0, b.length - 1 - r.nextInt(Math.max(1, b.length / 4))));
                default -> fixChecksums(b, s);
            }
        }
        if (r.nextInt(3) == 0) {
            fixChecksums(b, s); // let mutations get past the checksums into the tables
        }
        return b;
    }

    /** Recomputes the footer (end and copy at 0) and header checksums where they are. */
    private static void fixChecksums(byte[] b, Sample s) {
        if (b.length >= 512 && VhdFooter.hasCookie(Bytes.of(b), b.length - 512)) {
            Bytes f = Bytes.of(b).at(b.length - 512);
            f.put32be(VhdFooter.CHECKSUM_OFFSET, VhdFooter.checksum(f, 512, VhdFooter.CHECKSUM_OFFSET));
        }
        if (!s.name().startsWith("fixed") && b.length >= 1536) {
            Bytes f = Bytes.of(b);
            f.put32be(VhdFooter.CHECKSUM_OFFSET, VhdFooter.checksum(f, 512, VhdFooter.CHECKSUM_OFFSET));
            Bytes h = Bytes.of(b).at(512);
            h.put32be(VhdDynamicHeader.CHECKSUM_OFFSET, VhdFooter.checksum(h, 1024, VhdDynamicHeader.CHECKSUM_OFFSET));
        }
    }

    private List<Sample> samples() throws Exception {
        VhdFormat f = new VhdFormat();
        int size = 1024 * 1024 + 1536;
        Random r = new Random(1);
        Path base = dir.resolve("base.vhd");
        try (Disk d = Disk.of(List.of(f.create(base, CreateOptions.of(size).with("block_size", "64K"))))) {
            for (int i = 0; i < 12; i++) {
                byte[] data = new byte[1 + r.nextInt(40_000)];
                r.nextBytes(data);
                d.write(r.nextInt(size - data.length), ByteBuffer.wrap(data));
            }
        }
        Path child = dir.resolve("child.vhd");
        try (Disk parent = Disk.open(base, OpenOptions.defaultReadOnly())) {
            f.create(child, new CreateOptions(0, Map.of("block_size", "64K"), parent, base)).close();
        }
        try (Disk d = Disk.open(child, OpenOptions.defaultReadWrite())) {
            for (int i = 0; i < 12; i++) {
                byte[] data = new byte[1 + r.nextInt(9_000)];
                r.nextBytes(data);
                d.write(r.nextInt(size - data.length), ByteBuffer.wrap(data));
            }
        }
        Path fixed = dir.resolve("fixed.vhd");
        f.create(fixed, CreateOptions.of(256 * 1024).with("subformat", "fixed")).close();
        return List.of(dynamicSample("dynamic", base), dynamicSample("differencing", child), fixedSample(fixed));
    }

    private static Sample dynamicSample(String name, Path p) throws IOException {
        byte[] b = Files.readAllBytes(p);
        VhdDynamicHeader h = VhdDynamicHeader.parse(Bytes.of(b).at(512));
        long bat = h.tableOffsetBytes();
        long batEnd = bat + h.maxTableEntries() * 4;
        long locators = (batEnd + 511) & ~511L;
        // bitmaps: the first sector of a few allocated blocks
        long[][] regions = new long[8][];
        regions[0] = new long[] {b.length - 512, b.length};
        regions[1] = new long[] {0, 512};
        regions[2] = new long[] {512, 1536};
        regions[3] = new long[] {bat, batEnd};
        regions[4] = new long[] {locators, locators + 2048};
        regions[5] = new long[] {0, b.length};
        int k = 6;
        for (int i = 0; i < h.maxTableEntries() && k < 8; i++) {
            long e = Bytes.of(b).u32be((int) (bat + 4L * i));
            if (e != 0xFFFF_FFFFL) {
                regions[k++] = new long[] {e * 512, e * 512 + 512};
            }
        }
        while (k < 8) {
            regions[k++] = regions[3];
        }
        return new Sample(name, b, regions);
    }

    private static Sample fixedSample(Path p) throws IOException {
        byte[] b = Files.readAllBytes(p);
        return new Sample("fixed", b, new long[][] {{b.length - 512, b.length}, {b.length - 512, b.length - 420}});
    }
}
