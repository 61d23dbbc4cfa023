package org.vdmount.vd.format.vhdx;

import static org.junit.jupiter.api.Assertions.assertTimeoutPreemptively;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
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
import org.vdmount.vd.OpenOptions;
import org.vdmount.vd.Run;
import org.vdmount.vd.VdException;

/**
 * Seeded corruption of headers, region tables, metadata, parent locator, BAT and log (checksums
 * recomputed half the time so the deeper checks run) and truncation: every open either works and
 * reads the whole disk or fails with a VdException; never another exception, a hang or OOM.
 */
class VhdxMutationTest {
    static final int SIZE = 4 * 1024 * 1024;
    static final VhdxFormat FORMAT = new VhdxFormat();
    static final long[] NASTY = {0, 1, 2, 3, 4, 5, 6, 7, 0x7F, 0xFF, 0x1000, 0xFFFF, 0x10_0000, 0x7FFF_FFFFL,
        0x8000_0000L, 0xFFFF_FFFFL, 0x1_0000_0000L, Long.MAX_VALUE, -1L, Long.MIN_VALUE, 0x10_0006L, 0x30_0006L};

    @TempDir
    Path dir;

    /** A structure of a fixture: [start, start+length), and a checksum over [crcStart, crcStart+crcLen). */
    record Area(String name, long start, int length, long crcStart, int crcLength) {
    }

    record Fixture(Path file, List<Area> areas, OpenOptions options) {
    }

    private Fixture base() throws IOException {
        Path img = dir.resolve("m-base.vhdx");
        try (Disk d = Disk.of(List.of(FORMAT.create(img, CreateOptions.of(SIZE).with("block_size", "1M"))))) {
            d.write(4096, ByteBuffer.wrap(Tools.random(2 << 20, 1)));
        }
        return new Fixture(img, structures(img, false), OpenOptions.defaultReadOnly());
    }

    private Fixture child() throws IOException {
        Path img = dir.resolve("m-child.avhdx");
        VhdxChainTest.createChild(img, dir.resolve("m-base.vhdx"), CreateOptions.of(0).with("block_size", "1M")).close();
        try (Disk d = Disk.open(img, OpenOptions.defaultReadWrite())) {
            d.write(3 * 512, ByteBuffer.wrap(Tools.random(5000, 2)));
            d.write(3 << 20, ByteBuffer.wrap(Tools.random(1 << 20, 3)));
        }
        return new Fixture(img, structures(img, false), OpenOptions.defaultReadOnly().withParentDirs(List.of(dir)));
    }

    private Fixture dirty() throws IOException {
        Path img = dir.resolve("m-dirty.vhdx");
        VhdxLogTest.dirtyBase(img);
        return new Fixture(img, structures(img, true), OpenOptions.defaultReadOnly());
    }

    private Fixture qemu() throws IOException {
        Path img = dir.resolve("m-qemu.vhdx");
        Path raw = dir.resolve("m-qemu.raw");
        Files.write(raw, Tools.sparseContent(SIZE, 4));
        Tools.run("qemu-img", "convert", "-f", "raw", "-O", "vhdx", "-o", "block_size=1M", raw.toString(),
                img.toString());
        return new Fixture(img, structures(img, false), OpenOptions.defaultReadOnly());
    }

    /** Where the structures of {@code img} lie, read with the code under test before any mutation. */
    private static List<Area> structures(Path img, boolean withLog) throws IOException {
        List<Area> a = new ArrayList<>();
        a.add(new Area("file id", 0, 16, -1, 0));
        a.add(new Area("header 1", Vhdx.HEADER1_OFFSET, 80, Vhdx.HEADER1_OFFSET, VhdxHeader.SIZE));
        a.add(new Area("header 2", Vhdx.HEADER2_OFFSET, 80, Vhdx.HEADER2_OFFSET, VhdxHeader.SIZE));
        a.add(new Area("region 1", Vhdx.REGION1_OFFSET, 80, Vhdx.REGION1_OFFSET, RegionTable.SIZE));
        a.add(new Area("region 2", Vhdx.REGION2_OFFSET, 80, Vhdx.REGION2_OFFSET, RegionTable.SIZE));
        byte[] all = Files.readAllBytes(img);
        RegionTable rt = RegionTable.parse(java.util.Arrays.copyOfRange(all, (int) Vhdx.REGION1_OFFSET,
                (int) Vhdx.REGION1_OFFSET + RegionTable.SIZE), img, Vhdx.REGION1_OFFSET);
        long meta = rt.find(Vhdx.METADATA_REGION).fileOffsetBytes();
        long bat = rt.find(Vhdx.BAT_REGION).fileOffsetBytes();
        a.add(new Area("metadata table", meta, 32 + 6 * 32, -1, 0));
        a.add(new Area("metadata items", meta + VhdxMetadata.TABLE_SIZE, 300, -1, 0));
        a.add(new Area("BAT", bat, 64, -1, 0));
        a.add(new Area("BAT bitmap entries", bat + 8 * 4096, 16, -1, 0));
        if (withLog) {
            VhdxHeader h = VhdxHeader.parse(java.util.Arrays.copyOfRange(all, (int) Vhdx.HEADER1_OFFSET,
                    (int) Vhdx.HEADER1_OFFSET + VhdxHeader.SIZE));
            long log = h.logOffsetBytes();
            int len = (int) Bytes.of(all).u32le((int) log + 8); // the entry our writer left at the start
            a.add(new Area("log entry header", log, 64, log, len));
            a.add(new Area("log descriptors", log + 64, 128, log, len));
            a.add(new Area("log data sector", log + 4096, 16, log, len));
        }
        return a;
    }

    @Test
    void corruptedStructuresFailCleanlyOrReadSanely() throws Exception {
        List<Fixture> fixtures = new ArrayList<>(List.of(base(), child(), dirty()));
        if (Tools.have("qemu-img")) {
            fixtures.add(qemu());
        }
        int[] stats = new int[2]; // opened, refused
        assertTimeoutPreemptively(Duration.ofSeconds(180), () -> {
            Random r = new Random(20240501);
            for (int c = 0; c < 3000; c++) {
                Fixture f = fixtures.get(c % fixtures.size());
                Area area = f.areas().get(r.nextInt(f.areas().size()));
                mutateAndOpen(f, area, r, c, stats);
            }
        });
        assertTrue(stats[0] > 100 && stats[1] > 500, "opened " + stats[0] + ", refused " + stats[1]);
    }

    private void mutateAndOpen(Fixture f, Area area, Random r, int c, int[] stats) throws IOException {
        long pos;
        byte[] value;
        if (r.nextBoolean()) {
            pos = area.start() + r.nextInt(area.length());
            value = new byte[1 + r.nextInt(4)];
            r.nextBytes(value);
        } else {
            int width = new int[] {2, 4, 8}[r.nextInt(3)];
            pos = area.start() + (r.nextInt(area.length()) & -width);
            value = new byte[width];
            long v = NASTY[r.nextInt(NASTY.length)];
            for (int i = 0; i < width; i++) {
                value[i] = (byte) (v >>> (8 * i));
            }
        }
        Path file = f.file();
        try (FileChannel ch = FileChannel.open(file, StandardOpenOption.READ, StandardOpenOption.WRITE)) {
            ByteBuffer saved = ByteBuffer.allocate(Math.max(value.length, area.crcLength()));
            long savedAt = area.crcLength() > 0 ? area.crcStart() : pos;
            ch.read(saved, savedAt);
            ch.write(ByteBuffer.wrap(value), pos);
            if (area.crcLength() > 0 && r.nextBoolean()) {
                fixCrc(ch, area);
            }
            String what = "case " + c + ": " + value.length + " bytes at 0x" + Long.toHexString(pos) + " in "
                    + area.name() + " of " + file.getFileName();
            try {
                openAndRead(file, f.options(), c % 3 == 0, c % 50 == 0);
                stats[0]++;
            } catch (VdException expected) {
                stats[1]++;
                assertTrue(expected.getMessage() != null && !expected.getMessage().contains("\n"), what);
            } catch (Throwable t) {
                fail(what + ": " + t, t);
            } finally {
                saved.flip();
                ch.write(saved, savedAt);
            }
        }
    }

    private static void fixCrc(FileChannel ch, Area area) throws IOException {
        if (area.crcLength() <= 0 || area.crcLength() > 1 << 20) {
            return;
        }
        ByteBuffer b = ByteBuffer.allocate(area.crcLength());
        ch.read(b, area.crcStart());
        byte[] a = b.array();
        Bytes.of(a).put32le(4, Vhdx.crc32c(a, 0, a.length, 4));
        ch.write(ByteBuffer.wrap(a, 4, 4), area.crcStart() + 4);
    }

    private void openAndRead(Path file, OpenOptions o, boolean everything, boolean alsoWrite) throws IOException {
        try (Disk d = Disk.open(file, o)) {
            if (everything) {
                d.read(0, ByteBuffer.allocate((int) Math.min(d.size(), 64 << 20)));
            } else {
                ByteBuffer b = ByteBuffer.allocate(65536);
                for (long i = 0; i < 8; i++) {
                    long off = (d.size() - b.capacity()) / 7 * i;
                    d.read(Math.max(0, off), b.clear().limit((int) Math.min(b.capacity(), d.size())));
                }
            }
            for (long off = 0; off < d.size(); ) {
                off += Run.length(d.map(off, d.size() - off));
            }
            d.top().details();
            d.top().allocatedBytes();
        }
        if (alsoWrite) { // a writable open of a copy must refuse or keep working too
            Path copy = dir.resolve("rw-" + file.getFileName());
            Files.copy(file, copy, StandardCopyOption.REPLACE_EXISTING);
            try (Disk d = Disk.open(copy, o.withReadOnly(false))) {
                long n = Math.min(d.size(), 3 << 20);
                d.write(0, ByteBuffer.wrap(Tools.random((int) n, 6)));
                d.discard(0, Math.min(d.size(), d.top().blockSize()));
                d.flush();
            }
        }
    }

    @Test
    void truncatedFilesFailCleanlyOrReadSanely() throws Exception {
        Fixture f = base();
        Fixture d = dirty();
        byte[][] originals = {Files.readAllBytes(f.file()), Files.readAllBytes(d.file())};
        Fixture[] both = {f, d};
        assertTimeoutPreemptively(Duration.ofSeconds(60), () -> {
            Random r = new Random(7);
            for (int c = 0; c < 120; c++) {
                int which = c % 2;
                byte[] orig = originals[which];
                int cut = c < 20 ? c * 4096 * 17 % orig.length : r.nextInt(orig.length);
                Path p = dir.resolve("t" + which + ".vhdx");
                Files.write(p, java.util.Arrays.copyOf(orig, cut));
                try {
                    openAndRead(p, both[which].options(), true, false);
                } catch (VdException expected) {
                    // refused with a message
                } catch (Throwable t) {
                    fail("truncated at " + cut + ": " + t, t);
                }
            }
        });
    }
}
