package org.vdmount.vd.format.vmdk;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.fail;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.Arrays;
import java.util.List;
import java.util.Random;
import org.vdmount.vd.Disk;
import org.vdmount.vd.conformance.DiskBytes;
import org.vdmount.vd.conformance.ExternalTools;

/** Test helpers: the real tools as oracles, fixture sources, whole-disk comparison. */
final class Tools {
    private Tools() {
    }

    static boolean has(String tool) {
        return ExternalTools.has(tool);
    }

    /** Skips the test when a tool is truly absent (CI installs them all). */
    static void need(String... tools) {
        ExternalTools.assume(tools);
    }

    /** Runs a command, fails the test on a non-zero exit; returns stdout. */
    static String run(Path dir, String... cmd) throws IOException {
        return ExternalTools.run(dir, cmd);
    }

    static ExternalTools.Result exec(Path dir, String... cmd) throws IOException {
        return ExternalTools.exec(dir, cmd);
    }

    /**
     * A raw source of {@code size} bytes with random data at unaligned places, long zero stretches,
     * a whole zero grain between data, and data in the last sector.
     */
    static byte[] source(int size, long seed) {
        Random r = new Random(seed);
        byte[] b = new byte[size];
        int off = 0;
        while (off < size) {
            int len = 1 + r.nextInt(Math.max(1, Math.min(size - off, 300_000)));
            if (r.nextInt(3) > 0) {
                byte[] chunk = new byte[len];
                r.nextBytes(chunk);
                if (r.nextBoolean()) {
                    Arrays.fill(chunk, len / 3, len / 2, (byte) 0); // zeros inside data
                }
                System.arraycopy(chunk, 0, b, off, len);
            }
            off += len + r.nextInt(200_000);
        }
        for (int i = Math.max(0, size - 700); i < size; i += 3) {
            b[i] = (byte) (i * 7 + 1);
        }
        return b;
    }

    static byte[] readAll(Disk d) throws IOException {
        return DiskBytes.readAll(d);
    }

    /** Asserts the disk reads exactly as {@code raw} (chunked, so multi-GiB disks work). */
    static void assertSameAsFile(Disk d, Path raw) throws IOException {
        try (FileChannel ch = FileChannel.open(raw, StandardOpenOption.READ)) {
            assertEquals(ch.size(), d.size(), "virtual size vs " + raw);
            ByteBuffer ours = ByteBuffer.allocate(1 << 20);
            ByteBuffer theirs = ByteBuffer.allocate(1 << 20);
            for (long off = 0; off < d.size(); off += ours.capacity()) {
                int n = (int) Math.min(ours.capacity(), d.size() - off);
                ours.clear().limit(n);
                theirs.clear().limit(n);
                d.read(off, ours);
                while (theirs.hasRemaining() && ch.read(theirs, off + theirs.position()) > 0) {
                    // keep reading
                }
                if (!Arrays.equals(ours.array(), 0, n, theirs.array(), 0, n)) {
                    int i = Arrays.mismatch(Arrays.copyOf(ours.array(), n), Arrays.copyOf(theirs.array(), n));
                    fail("content differs from " + raw.getFileName() + " at byte " + (off + i));
                }
            }
        }
    }

    /** Writes the disk's content to a sparse raw file: only DATA runs that are not all zeros. */
    static Path dumpSparse(Disk d, Path out) throws IOException {
        try (FileChannel ch = FileChannel.open(out, StandardOpenOption.CREATE_NEW, StandardOpenOption.WRITE)) {
            ByteBuffer buf = ByteBuffer.allocate(1 << 20);
            long off = 0;
            while (off < d.size()) {
                long run = d.map(off, buf.capacity());
                long len = org.vdmount.vd.Run.length(run);
                if (org.vdmount.vd.Run.kind(run) == org.vdmount.vd.Allocation.DATA) {
                    buf.clear().limit((int) len);
                    d.read(off, buf);
                    buf.flip();
                    while (buf.hasRemaining()) {
                        ch.write(buf, off + buf.position());
                    }
                }
                off += len;
            }
            ch.truncate(d.size());
            if (ch.size() < d.size()) {
                ch.write(ByteBuffer.allocate(1), d.size() - 1);
            }
        }
        return out;
    }

    /** qemu-img's view of an image as a raw file (the oracle). */
    static Path qemuRaw(Path image, String name) throws IOException {
        Path out = image.resolveSibling(name);
        run(image.getParent(), "qemu-img", "convert", "-O", "raw", image.toString(), out.toString());
        return out;
    }

    static void qemuCheck(Path image) throws IOException {
        run(image.getParent(), "qemu-img", "check", image.toString());
    }

    /** qemu-img compare against a raw model: exit 0 means identical contents. */
    static void qemuCompare(Path raw, Path image) throws IOException {
        run(image.getParent(), "qemu-img", "compare", "-f", "raw", "-F", "vmdk", raw.toString(), image.toString());
    }

    /**
     * The bytes of layer {@code layer} (1 = base ... N = top) as libvmdk's vmdkmount shows them, or
     * null when vmdkmount or FUSE is missing.
     */
    static byte[] vmdkmount(Path image, int layer) throws IOException {
        if (!has("vmdkmount") || !has("fusermount") || !Files.exists(Path.of("/dev/fuse"))) {
            return null;
        }
        Path mnt = Files.createTempDirectory(image.getParent(), "mnt");
        run(image.getParent(), "vmdkmount", image.toString(), mnt.toString());
        try {
            return Files.readAllBytes(mnt.resolve("vmdk" + layer));
        } finally {
            run(image.getParent(), "fusermount", "-u", mnt.toString());
            Files.delete(mnt);
        }
    }

    static List<String> lines(String s) {
        return List.of(s.split("\n"));
    }
}
