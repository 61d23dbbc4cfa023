package org.vdmount.vd.format.vmdk;

import static org.junit.jupiter.api.Assertions.assertTimeoutPreemptively;
import static org.junit.jupiter.api.Assertions.fail;

import java.io.IOException;
import java.io.PrintWriter;
import java.io.StringWriter;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.vdmount.vd.Bytes;
import org.vdmount.vd.CreateOptions;
import org.vdmount.vd.Disk;
import org.vdmount.vd.Image;
import org.vdmount.vd.OpenOptions;
import org.vdmount.vd.VdException;

/**
 * Seeded random corruption of headers, descriptors, grain directories and tables of real images:
 * every open either works and reads without surprises or throws a {@link VdException}; never
 * another exception, an out-of-memory or a hang.
 */
class VmdkMutationTest {
    private static final int CASES = 4000;
    private static final int SIZE = 1 << 20;

    @TempDir
    Path dir;

    /** A file to corrupt and the byte ranges worth hitting (structures first). */
    private record Target(Path open, Path file, List<long[]> regions) {
    }

    private final List<Target> targets = new ArrayList<>();
    private volatile String current = "";

    private static long u32(byte[] f, long off) {
        return Bytes.of(f).u32le((int) off);
    }

    /** Regions of a hosted sparse file: header, descriptor, both directories, first tables, a grain. */
    private void addSparse(Path open, Path file) throws IOException {
        byte[] f = Files.readAllBytes(file);
        SparseHeader h = SparseHeader.parse(Bytes.of(f));
        if (h.gdOffset() == SparseHeader.GD_AT_END) {
            long end = f.length & ~511L;
            h = SparseHeader.parse(Bytes.of(f).at((int) end - 1024));
            targets.add(new Target(open, file, List.of(new long[] {end - 1536, 1536})));
        }
        List<long[]> r = new ArrayList<>();
        r.add(new long[] {0, 80});
        if (h.descriptorOffset() > 0) {
            r.add(new long[] {h.descriptorOffset() * 512, 600});
        }
        for (long gd : new long[] {h.gdOffset(), h.rgdOffset()}) {
            if (gd > 0 && gd * 512 < f.length) {
                r.add(new long[] {gd * 512, 64});
                long gt = u32(f, gd * 512);
                if (gt > 0 && gt * 512 + 2048 <= f.length) {
                    r.add(new long[] {gt * 512, 2048});
                    long grain = 0;
                    for (int i = 0; i < 512 && grain == 0; i++) {
                        grain = u32(f, gt * 512 + i * 4);
                    }
                    if (grain > 1 && grain * 512 + 64 <= f.length) {
                        r.add(new long[] {grain * 512, 64}); // stream: the grain marker
                    }
                }
            }
        }
        targets.add(new Target(open, file, r));
    }

    private void corpus() throws IOException {
        Files.write(dir.resolve("src.raw"), Tools.source(SIZE, 42));
        if (Tools.has("qemu-img")) {
            for (String sub : new String[] {"monolithicSparse", "streamOptimized", "twoGbMaxExtentSparse",
                "twoGbMaxExtentFlat"}) {
                Path img = dir.resolve(sub + ".vmdk");
                Tools.run(dir, "qemu-img", "convert", "-O", "vmdk", "-o", "subformat=" + sub + (sub.equals("monolithicSparse")
                        ? ",zeroed_grain=on" : ""), "src.raw", img.toString());
                if (sub.startsWith("two")) {
                    targets.add(new Target(img, img, List.of(new long[] {0, Files.size(img)})));
                    Path ext = dir.resolve(sub + (sub.endsWith("Flat") ? "-f001.vmdk" : "-s001.vmdk"));
                    if (sub.endsWith("Sparse")) {
                        addSparse(img, ext);
                    }
                } else {
                    addSparse(img, img);
                }
            }
            // our own child of the qemu base, with data in it
            try (Disk p = Disk.open(dir.resolve("monolithicSparse.vmdk"), OpenOptions.defaultReadOnly());
                 Image c = new VmdkFormat().create(dir.resolve("child.vmdk"),
                         CreateOptions.of(0).withParent(p, Path.of("monolithicSparse.vmdk")))) {
                c.write(65536, ByteBuffer.wrap(Tools.source(65536, 1)));
                c.write(5 * 65536, ByteBuffer.wrap(Tools.source(65536, 2)));
            }
            addSparse(dir.resolve("child.vmdk"), dir.resolve("child.vmdk"));
        }
        Path cowd = dir.resolve("bare-cowd.vmdk");
        EsxFixtures.cowd(cowd, Tools.source(SIZE, 3), 8, EsxFixtures.kinds(SIZE / 4096, 4, false));
        targets.add(new Target(cowd, cowd, List.of(new long[] {0, 64}, new long[] {2048, 64}, new long[] {2560, 1024})));
        Path se = dir.resolve("bare-se.vmdk");
        EsxFixtures.seSparse(se, Tools.source(SIZE, 5), EsxFixtures.kinds(SIZE / 4096, 6, true));
        targets.add(new Target(se, se, List.of(new long[] {0, 0xD0}, new long[] {512, 32}, new long[] {1024, 16},
                new long[] {1536, 2048})));
        Path sedesc = dir.resolve("se.vmdk");
        Files.writeString(sedesc, EsxFixtures.descriptor("seSparse", 1, 0xFFFF_FFFFL, null,
                "RW " + SIZE / 512 + " SESPARSE \"bare-se.vmdk\""));
        targets.add(new Target(sedesc, sedesc, List.of(new long[] {0, Files.size(sedesc)})));
    }

    private static final long[] INTERESTING = {0, 1, 2, 0xFF, 0x7FFF_FFFFL, 0xFFFF_FFFFL, 0x8000_0000L, 512, 0xFFFF_FFFEL};
    private static final byte[] TEXT = "0123456789abcdefxyz\"=\n\r #./-\\".getBytes(java.nio.charset.StandardCharsets.US_ASCII);

    @Test
    void corruptedImagesFailCleanlyOrReadSanely() throws Exception {
        corpus();
        int[] outcomes = new int[2];
        assertTimeoutPreemptively(Duration.ofSeconds(240), () -> {
            for (int i = 0; i < CASES; i++) {
                runCase(i, outcomes);
            }
        }, () -> "hang in " + current);
        System.out.println("vmdk mutation: " + CASES + " cases, " + outcomes[0] + " opened and read, "
                + outcomes[1] + " refused with a VdException");
    }

    private void runCase(int seed, int[] outcomes) throws IOException {
        Random r = new Random(seed);
        Target t = targets.get(r.nextInt(targets.size()));
        byte[] original;
        try (FileChannel ch = FileChannel.open(t.file, StandardOpenOption.READ, StandardOpenOption.WRITE)) {
            long[] region = t.regions.get(r.nextInt(t.regions.size()));
            long len = Math.min(region[1], ch.size() - region[0]);
            original = new byte[(int) Math.max(len, 0)];
            ch.read(ByteBuffer.wrap(original), region[0]);
            byte[] mutated = original.clone();
            int edits = 1 + r.nextInt(4);
            for (int e = 0; e < edits && mutated.length > 0; e++) {
                int pos = r.nextInt(mutated.length);
                switch (r.nextInt(5)) {
                    case 0 -> mutated[pos] = (byte) r.nextInt(256);
                    case 1 -> mutated[pos] ^= (byte) (1 << r.nextInt(8));
                    case 2 -> {
                        int at = pos & ~3;
                        if (at + 4 <= mutated.length) {
                            Bytes.of(mutated).put32le(at, INTERESTING[r.nextInt(INTERESTING.length)]);
                        }
                    }
                    case 3 -> mutated[pos] = TEXT[r.nextInt(TEXT.length)];
                    default -> mutated[pos] = 0;
                }
            }
            current = "seed " + seed + " on " + t.file.getFileName() + " at 0x" + Long.toHexString(region[0]);
            ch.write(ByteBuffer.wrap(mutated), region[0]);
            try {
                exercise(t.open, r);
                outcomes[0]++;
            } catch (VdException expected) {
                outcomes[1]++;
            } catch (Throwable other) {
                StringWriter sw = new StringWriter();
                other.printStackTrace(new PrintWriter(sw));
                fail(current + ": " + other + "\n" + sw);
            } finally {
                ch.write(ByteBuffer.wrap(original), region[0]);
            }
        }
    }

    private static void exercise(Path image, Random r) throws IOException {
        try (Disk d = Disk.open(image, OpenOptions.defaultReadOnly())) {
            long size = d.size();
            ByteBuffer buf = ByteBuffer.allocate(64 * 1024);
            for (long off = 0; off < Math.min(size, 2L * SIZE); off += buf.capacity()) {
                buf.clear().limit((int) Math.min(buf.capacity(), size - off));
                d.read(off, buf);
            }
            for (int i = 0; i < 8 && size > 0; i++) {
                long off = Math.floorMod(r.nextLong(), size);
                buf.clear().limit((int) Math.min(4096, size - off));
                d.read(off, buf);
                d.map(off, 1 << 20);
            }
            d.top().details();
            d.allocatedBytes();
        }
    }
}
