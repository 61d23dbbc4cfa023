package org.vdmount.vd.format.vhdx;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.Random;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.vdmount.vd.ChainException;
import org.vdmount.vd.CreateOptions;
import org.vdmount.vd.Disk;
import org.vdmount.vd.Image;
import org.vdmount.vd.OpenOptions;
import org.vdmount.vd.UnsupportedFeatureException;

/** Differencing chains made by VhdxFormat.create, checked against a byte[] model and libvhdi. */
class VhdxChainTest {
    static final int SIZE = 24 * 1024 * 1024;
    static final VhdxFormat FORMAT = new VhdxFormat();

    @TempDir
    Path dir;

    /** Creates a child of {@code parent} (opened read-only as a chain). */
    static Image createChild(Path child, Path parent, CreateOptions o) throws IOException {
        try (Disk p = Disk.open(parent, OpenOptions.defaultReadOnly())) {
            return FORMAT.create(child, o.withParent(p, parent));
        }
    }

    /** Random writes of every shape through a Disk, mirrored in the model. */
    static void scribble(Image img, byte[] model, long seed) throws IOException {
        Random r = new Random(seed);
        try (Disk d = Disk.fromTop(img, OpenOptions.defaultReadWrite())) {
            for (int i = 0; i < 30; i++) {
                int off;
                int len;
                if (i % 3 == 0) { // sector-aligned, inside a block
                    off = r.nextInt(SIZE / 512 - 64) * 512;
                    len = (1 + r.nextInt(63)) * 512;
                } else {
                    len = 1 + r.nextInt(1 << 20);
                    off = r.nextInt(SIZE - len);
                }
                byte[] data = Tools.random(len, seed * 1000 + i);
                d.write(off, ByteBuffer.wrap(data));
                System.arraycopy(data, 0, model, off, len);
            }
        }
    }

    private byte[][] threeLayers() throws IOException {
        byte[] model = new byte[SIZE];
        Image base = FORMAT.create(dir.resolve("base.vhdx"), CreateOptions.of(SIZE).with("block_size", "1M"));
        scribble(base, model, 1);
        byte[] baseModel = model.clone();
        Image mid = createChild(dir.resolve("mid.avhdx"), dir.resolve("base.vhdx"), CreateOptions.of(0));
        scribble(mid, model, 2);
        byte[] midModel = model.clone();
        Image top = createChild(dir.resolve("top.avhdx"), dir.resolve("mid.avhdx"),
                CreateOptions.of(0).with("block_size", "4M"));
        scribble(top, model, 3);
        return new byte[][] {baseModel, midModel, model};
    }

    /**
     * 4 KiB writes into 300 fresh 1 MiB blocks of a child: their bitmaps (256 bytes each) fill 19
     * log pages, and the BAT changes 2 (the payload entries' page and the sector bitmap entry's),
     * so 21 pages wait for the flush. Counting blocks instead made 301 pending "pages" and
     * committed (three forces each) whenever the 1 MiB log's ~250 were reached.
     */
    @Test
    void pendingCountsTheBitmapPagesACommitWritesNotTheBlocks() throws IOException {
        long size = 512L << 20;
        FORMAT.create(dir.resolve("base.vhdx"), CreateOptions.of(size).with("block_size", "1M")).close();
        VhdxImage child = (VhdxImage) createChild(dir.resolve("child.avhdx"), dir.resolve("base.vhdx"),
                CreateOptions.of(0).with("block_size", "1M"));
        byte[] data = Tools.random(4096, 7);
        try (Disk d = Disk.fromTop(child, OpenOptions.defaultReadWrite())) {
            for (int b = 0; b < 300; b++) {
                d.write((long) b << 20, ByteBuffer.wrap(data));
            }
            assertTrue(child.journal.maxPagesPerEntry() < 300, "the log holds fewer pages than blocks written");
            assertEquals(19 + 2, child.journal.pending());
            d.flush();
            assertEquals(0, child.journal.pending());
        }
        try (Disk d = Disk.open(dir.resolve("child.avhdx"), OpenOptions.defaultReadOnly())) {
            for (int b = 0; b < 300; b += 37) {
                ByteBuffer got = ByteBuffer.allocate(8192);
                d.read((long) b << 20, got);
                assertArrayEquals(data, Arrays.copyOf(got.array(), 4096), "block " + b);
                assertTrue(Arrays.equals(new byte[4096], Arrays.copyOfRange(got.array(), 4096, 8192)));
            }
        }
    }

    @Test
    void threeLayerChainReadsBackThroughDiskOpen() throws IOException {
        byte[][] models = threeLayers();
        try (Disk d = Disk.open(dir.resolve("top.avhdx"), OpenOptions.defaultReadOnly())) {
            assertEquals(3, d.layers().size());
            assertEquals("differencing", d.top().variant());
            assertEquals("dynamic", d.layers().get(0).variant());
            assertArrayEquals(models[2], Tools.readAll(d));
            Image mid = d.layers().get(1);
            assertEquals(mid.linkUuid(), d.top().parent().uuid(), "parent_linkage = parent's DataWriteGuid");
            assertEquals(".\\mid.avhdx", d.top().parent().locators().get(0));
            Map<String, Object> details = d.top().details();
            assertEquals(4L * 1024 * 1024, details.get("block-size"));
            assertEquals("clean", details.get("log"));
            assertTrue(details.get("parent-locator").toString().contains("relative_path"), details.toString());
        }
        try (Disk d = Disk.open(dir.resolve("mid.avhdx"), OpenOptions.defaultReadOnly())) {
            assertArrayEquals(models[1], Tools.readAll(d));
        }
    }

    @Test
    void chainFoundAfterMovingViaParentDirAndRelativePath() throws IOException {
        byte[][] models = threeLayers();
        Path moved = Files.createDirectories(dir.resolve("elsewhere/sub"));
        Files.move(dir.resolve("top.avhdx"), moved.resolve("top.avhdx"));
        assertThrows(ChainException.class, () -> Disk.open(moved.resolve("top.avhdx"),
                OpenOptions.defaultReadOnly()).close());
        try (Disk d = Disk.open(moved.resolve("top.avhdx"), OpenOptions.defaultReadOnly()
                .withParentDirs(List.of(dir)))) {
            assertArrayEquals(models[2], Tools.readAll(d));
        }
    }

    @Test
    void writingToAParentBreaksTheLinkAndIsDetected() throws IOException {
        threeLayers();
        try (Disk d = Disk.open(dir.resolve("mid.avhdx"), OpenOptions.defaultReadWrite())) {
            d.write(0, ByteBuffer.wrap(new byte[] {1}));
        }
        ChainException e = assertThrows(ChainException.class,
                () -> Disk.open(dir.resolve("top.avhdx"), OpenOptions.defaultReadOnly()).close());
        assertTrue(e.getMessage().contains("UUID mismatch"), e.getMessage());
        try (Disk d = Disk.open(dir.resolve("top.avhdx"), OpenOptions.defaultReadOnly().withIgnoreParentUuid(true))) {
            assertEquals(3, d.layers().size());
        }
    }

    @Test
    void discardInAChildReadsZerosNeverParentData() throws IOException {
        byte[][] models = threeLayers();
        byte[] model = models[2];
        try (Disk d = Disk.open(dir.resolve("top.avhdx"), OpenOptions.defaultReadWrite())) {
            long bs = d.top().blockSize();
            d.discard(bs, 2 * bs);
            Arrays.fill(model, (int) bs, (int) (3 * bs), (byte) 0);
            d.discard(100, 5000);
            Arrays.fill(model, 100, 5100, (byte) 0);
            assertArrayEquals(model, Tools.readAll(d));
        }
        try (Disk d = Disk.open(dir.resolve("top.avhdx"), OpenOptions.defaultReadOnly())) {
            assertArrayEquals(model, Tools.readAll(d));
            assertEquals(org.vdmount.vd.Allocation.ZERO,
                    org.vdmount.vd.Run.kind(d.top().map(d.top().blockSize(), 4096)));
        }
    }

    @Test
    void createRefusesBadOptions() throws IOException {
        Path p = dir.resolve("x.vhdx");
        assertThrows(UnsupportedFeatureException.class, () -> FORMAT.create(p, CreateOptions.of(SIZE).with("foo", "1")));
        assertThrows(UnsupportedFeatureException.class,
                () -> FORMAT.create(p, CreateOptions.of(SIZE).with("block_size", "3M")));
        assertThrows(UnsupportedFeatureException.class,
                () -> FORMAT.create(p, CreateOptions.of(SIZE).with("logical_sector_size", "1024")));
        assertThrows(UnsupportedFeatureException.class,
                () -> FORMAT.create(p, CreateOptions.of(SIZE).with("subformat", "sparse")));
        assertTrue(Files.notExists(p));
        FORMAT.create(dir.resolve("b.vhdx"), CreateOptions.of(SIZE)).close();
        assertThrows(UnsupportedFeatureException.class, () -> createChild(dir.resolve("c.avhdx"),
                dir.resolve("b.vhdx"), CreateOptions.of(SIZE * 2L)));
        assertThrows(UnsupportedFeatureException.class, () -> createChild(dir.resolve("c.avhdx"),
                dir.resolve("b.vhdx"), CreateOptions.of(0).with("subformat", "fixed")));
    }

    @Test
    void libvhdiReadsOurChain() throws Exception {
        Tools.assume("vhdimount", "fusermount");
        org.junit.jupiter.api.Assumptions.assumeTrue(Files.exists(Path.of("/dev/fuse")), "no /dev/fuse");
        byte[][] models = threeLayers();
        assertArrayEquals(models[2], vhdimountRead(dir.resolve("top.avhdx"), 3), "vhdimount sees the same bytes");
        assertArrayEquals(models[1], vhdimountRead(dir.resolve("mid.avhdx"), 2));
    }

    /** vhdimount shows one file per layer, base first: vhdi{@code layers} is the image itself. */
    private byte[] vhdimountRead(Path image, int layers) throws Exception {
        Path mnt = Files.createDirectories(dir.resolve("mnt"));
        Process p = new ProcessBuilder("vhdimount", "-v", image.toString(), mnt.toString())
                .redirectErrorStream(true).redirectOutput(dir.resolve("vhdimount.log").toFile()).start();
        try {
            Path disk = mnt.resolve("vhdi" + layers);
            for (int i = 0; i < 100 && !Files.exists(disk); i++) {
                Thread.sleep(100);
            }
            assertTrue(Files.exists(disk), "vhdimount did not come up: "
                    + Files.readString(dir.resolve("vhdimount.log")));
            return Files.readAllBytes(disk);
        } finally {
            Tools.exec("fusermount", "-u", mnt.toString());
            if (!p.waitFor(10, java.util.concurrent.TimeUnit.SECONDS)) {
                p.destroyForcibly();
            }
        }
    }
}
