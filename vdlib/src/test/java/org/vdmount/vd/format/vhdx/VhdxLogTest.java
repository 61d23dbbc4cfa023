package org.vdmount.vd.format.vhdx;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.FileTime;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.UUID;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.vdmount.vd.Bytes;
import org.vdmount.vd.CreateOptions;
import org.vdmount.vd.Disk;
import org.vdmount.vd.OpenOptions;

/** Images whose log holds unapplied entries: replayed in memory read-only, into the file read-write. */
class VhdxLogTest {
    static final int SIZE = 16 * 1024 * 1024;
    static final VhdxFormat FORMAT = new VhdxFormat();

    @TempDir
    Path dir;

    /** Stops our writer between log flush and apply (the hook throws at the first in-place write). */
    static final VhdxFile.Hook STOP_BEFORE_APPLY = what -> {
        if (what.equals("apply-write")) {
            throw new IOException("simulated crash before " + what);
        }
    };

    /** A base image with data, then more writes whose BAT changes stay in the log only. */
    static byte[] dirtyBase(Path img) throws IOException {
        byte[] model = new byte[SIZE];
        try (Disk d = Disk.of(List.of(FORMAT.create(img, CreateOptions.of(SIZE).with("block_size", "1M"))))) {
            write(d, model, 100, Tools.random(3 << 20, 1));
        }
        VhdxImage im = (VhdxImage) FORMAT.open(img, OpenOptions.defaultReadWrite());
        Disk d = Disk.of(List.of(im));
        write(d, model, 5 << 20, Tools.random(2 << 20, 2)); // new blocks
        write(d, model, 1000, Tools.random(5000, 3)); // in place
        d.discard(1 << 20, 1 << 20);
        Arrays.fill(model, 1 << 20, 2 << 20, (byte) 0);
        im.hook(STOP_BEFORE_APPLY);
        assertThrows(IOException.class, d::flush);
        im.abandon();
        return model;
    }

    static void write(Disk d, byte[] model, int off, byte[] data) throws IOException {
        d.write(off, ByteBuffer.wrap(data));
        System.arraycopy(data, 0, model, off, data.length);
    }

    private static byte[] read(Path img, OpenOptions o) throws IOException {
        try (Disk d = Disk.open(img, o)) {
            return Tools.readAll(d);
        }
    }

    /** The same file with the LogGuid cleared in both headers: what a reader ignoring the log sees. */
    private Path withoutLog(Path img) throws IOException {
        Path copy = dir.resolve("nolog-" + img.getFileName());
        Files.copy(img, copy, java.nio.file.StandardCopyOption.REPLACE_EXISTING);
        clearLogGuid(copy);
        return copy;
    }

    static void setLogGuid(Path img, UUID guid) throws IOException {
        byte[] all = Files.readAllBytes(img);
        for (long at : new long[] {Vhdx.HEADER1_OFFSET, Vhdx.HEADER2_OFFSET}) {
            VhdxHeader h = VhdxHeader.parse(Arrays.copyOfRange(all, (int) at, (int) at + VhdxHeader.SIZE));
            if (h != null) {
                byte[] b = new VhdxHeader(h.sequence(), h.fileWriteGuid(), h.dataWriteGuid(), guid, h.logVersion(),
                        h.version(), h.logLengthBytes(), h.logOffsetBytes()).write();
                System.arraycopy(b, 0, all, (int) at, b.length);
            }
        }
        Files.write(img, all);
    }

    static void clearLogGuid(Path img) throws IOException {
        setLogGuid(img, Vhdx.ZERO_GUID);
    }

    @Test
    void readOnlyOpenShowsReplayedDataAndLeavesTheFileByteIdentical() throws IOException {
        Path img = dir.resolve("dirty.vhdx");
        byte[] model = dirtyBase(img);
        Files.setLastModifiedTime(img, FileTime.fromMillis(1_600_000_000_000L));
        String sha = Tools.sha256(img);
        FileTime mtime = Files.getLastModifiedTime(img);
        if (Tools.have("qemu-img")) { // the peer refuses exactly this: proof that the log is dirty
            Tools.Result q = Tools.exec("qemu-img", "info", "-f", "vhdx", img.toString());
            assertNotEquals(0, q.exit());
            assertTrue(q.out().contains("log"), q.out());
        }
        assertFalse(Arrays.equals(model, read(withoutLog(img), OpenOptions.defaultReadOnly())),
                "without replay the data would differ");
        List<String> warnings = new ArrayList<>();
        try (Disk d = Disk.open(img, OpenOptions.defaultReadOnly().withWarnings(warnings::add))) {
            assertArrayEquals(model, Tools.readAll(d));
            assertTrue(d.top().details().get("log").toString().startsWith("replayed in memory"));
        }
        assertEquals(1, warnings.size(), warnings.toString());
        assertEquals(sha, Tools.sha256(img));
        assertEquals(mtime, Files.getLastModifiedTime(img));
    }

    @Test
    void readWriteOpenReplaysIntoTheFileAndQemuIsHappyAfterwards() throws IOException {
        Path img = dir.resolve("dirty.vhdx");
        byte[] model = dirtyBase(img);
        try (Disk d = Disk.open(img, OpenOptions.defaultReadWrite())) {
            assertArrayEquals(model, Tools.readAll(d));
            assertTrue(d.top().details().get("log").toString().startsWith("replayed ("));
        }
        try (Disk d = Disk.open(img, OpenOptions.defaultReadOnly())) {
            assertEquals("clean", d.top().details().get("log"));
            assertEquals(Vhdx.ZERO_GUID, d.top().details().get("log-guid"));
        }
        assertArrayEquals(model, read(withoutLog(img), OpenOptions.defaultReadOnly()), "applied in place");
        if (Tools.have("qemu-img")) {
            Tools.run("qemu-img", "check", "-f", "vhdx", img.toString());
            Path raw = dir.resolve("out.raw");
            Tools.run("qemu-img", "convert", "-f", "vhdx", "-O", "raw", img.toString(), raw.toString());
            assertArrayEquals(model, Files.readAllBytes(raw));
        }
    }

    @Test
    void dirtyDifferencingImageWithBitmapPagesInTheLog() throws IOException {
        byte[] model = new byte[SIZE];
        Path base = dir.resolve("b.vhdx");
        try (Disk d = Disk.of(List.of(FORMAT.create(base, CreateOptions.of(SIZE).with("block_size", "1M"))))) {
            write(d, model, 0, Tools.random(SIZE, 9));
        }
        Path child = dir.resolve("c.avhdx");
        VhdxChainTest.createChild(child, base, CreateOptions.of(0).with("block_size", "1M")).close();
        VhdxImage im = (VhdxImage) FORMAT.open(child, OpenOptions.defaultReadWrite());
        Disk d = Disk.fromTop(im, OpenOptions.defaultReadWrite());
        write(d, model, 3 * 4096, Tools.random(8192, 4)); // partially present block
        write(d, model, (4 << 20) + 17, Tools.random(100, 5)); // sub-sector: filled from the parent
        d.discard(8 << 20, 1 << 20);
        Arrays.fill(model, 8 << 20, 9 << 20, (byte) 0);
        im.hook(STOP_BEFORE_APPLY);
        assertThrows(IOException.class, d::flush);
        im.abandon();
        d.layers().get(0).close();
        String sha = Tools.sha256(child);
        assertArrayEquals(model, read(child, OpenOptions.defaultReadOnly()));
        assertEquals(sha, Tools.sha256(child));
        assertFalse(Arrays.equals(model, read(withoutLog(child), OpenOptions.defaultReadOnly()
                .withParentDirs(List.of(dir)))));
        assertArrayEquals(model, read(child, OpenOptions.defaultReadWrite()));
        assertArrayEquals(model, read(withoutLog(child), OpenOptions.defaultReadOnly().withParentDirs(List.of(dir))));
    }

    // ---- a hand-made log: a wrapping 3-entry sequence, a torn entry, stale and inactive entries ---

    @Test
    void activeSequenceIsFoundAmongStaleTornAndInactiveEntries() throws IOException {
        Path img = dir.resolve("crafted.vhdx");
        FORMAT.create(img, CreateOptions.of(SIZE).with("block_size", "1M")).close();
        VhdxImage probe = (VhdxImage) FORMAT.open(img, OpenOptions.defaultReadOnly());
        long batPage0 = probe.bat.pageFileOffset(0);
        probe.close();
        long logOffset = Vhdx.MIB;
        long logLength = Vhdx.MIB;
        long x = Files.size(img); // payload for block 5, placed past the end by hand
        byte[] payload = Tools.random((int) Vhdx.MIB, 11);
        byte[] all = Arrays.copyOf(Files.readAllBytes(img), (int) (x + Vhdx.MIB));
        System.arraycopy(payload, 0, all, (int) x, payload.length);
        Files.write(img, all);

        UUID guid = UUID.randomUUID();
        byte[] bat = new byte[4096];
        Bytes.of(bat).put64le(8 * 5, Bat.entry(Bat.FULLY_PRESENT, x));
        byte[] page = Tools.random(4096, 12);
        byte[] bad = Tools.random(4096, 13);
        LogBuilder log = new LogBuilder(img, logOffset, logLength);
        long e1 = logLength - 2 * 4096; // 3 sectors: wraps past the end of the ring
        log.entry(e1, 10, e1, guid, List.of(LogBuilder.data(batPage0, bat), LogBuilder.zero(x + 8192, 8192),
                LogBuilder.data(x + 65536, bad)), false);
        long e2 = 4096; // e1 ends at 4096 after wrapping
        log.entry(e2, 11, e1, guid, List.of(LogBuilder.data(x + 65536, page)), false);
        long e3 = e2 + 2 * 4096;
        log.entry(e3, 12, e1, guid, List.of(LogBuilder.zero(x + 12288, 4096)), false);
        long torn = e3 + 4096;
        log.entry(torn, 13, e1, guid, List.of(LogBuilder.zero(x, Vhdx.MIB)), true);
        // a complete older sequence (lower number) and a newer one of another log: neither applies
        log.entry(100 * 4096, 9, 100 * 4096, guid, List.of(LogBuilder.zero(x, 4096)), false);
        log.entry(120 * 4096, 99, 120 * 4096, UUID.randomUUID(), List.of(LogBuilder.zero(x, 4096)), false);
        setLogGuid(img, guid);

        byte[] expected = new byte[SIZE];
        byte[] block = payload.clone();
        Arrays.fill(block, 8192, 16384, (byte) 0);
        System.arraycopy(page, 0, block, 65536, 4096);
        System.arraycopy(block, 0, expected, 5 << 20, block.length);

        String sha = Tools.sha256(img);
        try (Disk d = Disk.open(img, OpenOptions.defaultReadOnly())) {
            assertArrayEquals(expected, Tools.readAll(d));
            assertEquals("replayed in memory (3 entries, 5 writes)", d.top().details().get("log"));
        }
        assertEquals(sha, Tools.sha256(img));
        try (Disk d = Disk.open(img, OpenOptions.defaultReadWrite())) {
            assertArrayEquals(expected, Tools.readAll(d));
        }
        assertArrayEquals(expected, read(img, OpenOptions.defaultReadOnly()));
        if (Tools.have("qemu-img")) {
            Tools.run("qemu-img", "check", "-f", "vhdx", img.toString());
        }
    }

    @Test
    void aLogExpectingALargerFileIsRefusedAsTruncated() throws IOException {
        Path img = dir.resolve("trunc.vhdx");
        dirtyBase(img);
        try (var ch = java.nio.channels.FileChannel.open(img, java.nio.file.StandardOpenOption.WRITE)) {
            ch.truncate(ch.size() - Vhdx.MIB);
        }
        org.vdmount.vd.CorruptImageException e = assertThrows(org.vdmount.vd.CorruptImageException.class,
                () -> read(img, OpenOptions.defaultReadOnly()));
        assertTrue(e.getMessage().contains("truncated"), e.getMessage());
    }
}
