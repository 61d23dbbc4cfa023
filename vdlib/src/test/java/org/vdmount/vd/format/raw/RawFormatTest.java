package org.vdmount.vd.format.raw;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.vdmount.vd.ContainmentException;
import org.vdmount.vd.Disk;
import org.vdmount.vd.FormatRegistry;
import org.vdmount.vd.OpenOptions;
import org.vdmount.vd.ReadOnlyException;
import org.vdmount.vd.conformance.DiskBytes;

class RawFormatTest {
    @TempDir
    Path dir;

    @Test
    void splitSetReadsAsOneDiskFromAnyMember() throws IOException {
        byte[] all = DiskBytes.random(3 * 100_000 + 777, 1);
        Files.write(dir.resolve("ev.001"), Arrays.copyOfRange(all, 0, 100_000));
        Files.write(dir.resolve("ev.002"), Arrays.copyOfRange(all, 100_000, 200_000));
        Files.write(dir.resolve("ev.003"), Arrays.copyOfRange(all, 200_000, 300_000));
        Files.write(dir.resolve("ev.004"), Arrays.copyOfRange(all, 300_000, all.length));
        for (String member : new String[] {"ev.001", "ev.003"}) {
            try (Disk d = Disk.open(dir.resolve(member), OpenOptions.defaultReadOnly())) {
                assertEquals(all.length, d.size());
                assertEquals("split", d.top().variant());
                ByteBuffer b = ByteBuffer.allocate(all.length);
                d.read(0, b);
                assertArrayEquals(all, b.array());
                ByteBuffer across = ByteBuffer.allocate(50);
                d.read(99_990, across);
                assertArrayEquals(Arrays.copyOfRange(all, 99_990, 100_040), across.array());
            }
        }
    }

    /** Members are found by name: one that is a link out of the directory is refused, one staying inside is read. */
    @Test
    void splitMemberLinkedOutOfTheDirectoryIsRefused() throws IOException {
        Path d = Files.createDirectory(dir.resolve("set"));
        Path outside = Files.createDirectory(dir.resolve("outside"));
        byte[] a = DiskBytes.random(1000, 5);
        byte[] b = DiskBytes.random(1000, 6);
        Files.write(d.resolve("ev.001"), a);
        Path secret = Files.write(outside.resolve("secret"), b);
        Files.createSymbolicLink(d.resolve("ev.002"), secret);
        ContainmentException e = assertThrows(ContainmentException.class,
                () -> Disk.open(d.resolve("ev.001"), OpenOptions.defaultReadOnly()).close());
        assertTrue(e.getMessage().contains("ev.002") && e.getMessage().contains(secret.toRealPath().toString()),
                e.getMessage());
        try (Disk disk = Disk.open(d.resolve("ev.001"), OpenOptions.defaultReadOnly().withAllowAbsoluteParents(true))) {
            assertEquals(2000, disk.size());
        }
        Files.delete(d.resolve("ev.002"));
        Files.move(secret, d.resolve("kept"));
        Files.createSymbolicLink(d.resolve("ev.002"), Path.of("kept"));
        try (Disk disk = Disk.open(d.resolve("ev.001"), OpenOptions.defaultReadOnly())) {
            ByteBuffer all = ByteBuffer.allocate(2000);
            disk.read(0, all);
            assertArrayEquals(b, Arrays.copyOfRange(all.array(), 1000, 2000));
        }
    }

    @Test
    void writesAcrossSplitBoundariesLandInBothFiles() throws IOException {
        Files.write(dir.resolve("s.000"), new byte[1000]);
        Files.write(dir.resolve("s.001"), new byte[1000]);
        byte[] p = DiskBytes.random(300, 2);
        try (Disk d = Disk.open(dir.resolve("s.000"), OpenOptions.defaultReadWrite())) {
            d.write(850, ByteBuffer.wrap(p));
            d.flush();
        }
        byte[] a = Files.readAllBytes(dir.resolve("s.000"));
        byte[] b = Files.readAllBytes(dir.resolve("s.001"));
        assertArrayEquals(Arrays.copyOfRange(p, 0, 150), Arrays.copyOfRange(a, 850, 1000));
        assertArrayEquals(Arrays.copyOfRange(p, 150, 300), Arrays.copyOfRange(b, 0, 150));
        assertEquals(1000, b.length, "split files never grow");
    }

    @Test
    void readOnlyOpenRefusesWritesAndLeavesTheFileAlone() throws IOException {
        Path f = dir.resolve("x.img");
        byte[] content = DiskBytes.random(5000, 3);
        Files.write(f, content);
        var mtime = Files.getLastModifiedTime(f);
        try (Disk d = Disk.open(f, OpenOptions.defaultReadOnly())) {
            assertThrows(ReadOnlyException.class, () -> d.write(0, ByteBuffer.allocate(10)));
            assertThrows(ReadOnlyException.class, () -> d.discard(0, 10));
            d.read(0, ByteBuffer.allocate(5000));
        }
        assertArrayEquals(content, Files.readAllBytes(f));
        assertEquals(mtime, Files.getLastModifiedTime(f));
    }

    @Test
    void discardPunchesAndReadsZeros() throws IOException {
        Path f = dir.resolve("p.img");
        Files.write(f, DiskBytes.random(4 << 20, 4));
        long before;
        try (Disk d = Disk.open(f, OpenOptions.defaultReadOnly())) {
            before = d.allocatedBytes();
        }
        try (Disk d = Disk.open(f, OpenOptions.defaultReadWrite())) {
            d.discard(1 << 20, 2 << 20);
            d.discard(100, 50); // partial: zeros written
            ByteBuffer b = ByteBuffer.allocate(2 << 20);
            d.read(1 << 20, b);
            assertArrayEquals(new byte[2 << 20], b.array());
            ByteBuffer s = ByteBuffer.allocate(50);
            d.read(100, s);
            assertArrayEquals(new byte[50], s.array());
        }
        long after;
        try (Disk d = Disk.open(f, OpenOptions.defaultReadOnly())) {
            after = d.allocatedBytes();
        }
        assertEquals(4 << 20, before, "a fully written file is fully allocated");
        assertTrue(after < before, "host space given back: " + before + " -> " + after);
    }

    @Test
    void createsSparseRawAndProbesRawLast() throws IOException {
        Path f = dir.resolve("new.raw");
        try (var img = new RawFormat().create(f, org.vdmount.vd.CreateOptions.of(10 << 20))) {
            assertEquals(10 << 20, img.virtualSize());
        }
        assertEquals(10 << 20, Files.size(f));
        assertEquals("raw", FormatRegistry.probe(f).name());
        assertThrows(org.vdmount.vd.UnsupportedFeatureException.class, () -> new RawFormat()
                .create(dir.resolve("y.raw"), org.vdmount.vd.CreateOptions.of(1 << 20).with("cluster_size", "64k")));
    }
}
