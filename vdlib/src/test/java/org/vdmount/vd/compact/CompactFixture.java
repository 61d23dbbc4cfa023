package org.vdmount.vd.compact;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.file.Path;
import java.util.Map;
import java.util.Random;
import org.vdmount.vd.CreateOptions;
import org.vdmount.vd.Disk;
import org.vdmount.vd.FormatRegistry;
import org.vdmount.vd.Image;
import org.vdmount.vd.ImageFormat;
import org.vdmount.vd.OpenOptions;

/**
 * Images with blocks that compaction must free: written with data and then overwritten with zeros
 * in place (so they stay allocated), or, in a child, written with its parent's own bytes.
 */
public final class CompactFixture {
    /** Blocks of the virtual disk; the last eight are never written. */
    public static final int BLOCKS = 32;
    /** Blocks written in the base case: even ones keep data, odd ones end up all zeros. */
    public static final int WRITTEN = 24;

    private CompactFixture() {
    }

    /** The block size {@code format} uses with {@code options} (read from a throw-away image). */
    public static long blockSize(Path dir, String format, Map<String, String> options) throws IOException {
        Path p = dir.resolve("probe-block-size." + format);
        try (Image img = create(p, format, options, 1L << 20, null)) {
            return img.blockSize();
        } finally {
            java.nio.file.Files.deleteIfExists(p);
        }
    }

    /**
     * A base image of {@link #BLOCKS} blocks: blocks 0..{@link #WRITTEN}-1 written with random data,
     * the odd ones then overwritten with zeros; block 2 keeps zeros in its first half only.
     * Returns the number of blocks that are all zeros but allocated ({@code WRITTEN / 2}).
     */
    public static int base(Path path, String format, Map<String, String> options, long seed) throws IOException {
        Random rnd = new Random(seed);
        try (Image img = create(path, format, options, -1, null)) {
            img.flush();
        }
        try (Disk d = Disk.open(path, OpenOptions.defaultReadWrite())) {
            long bs = d.top().blockSize();
            for (int b = 0; b < WRITTEN; b++) {
                d.write(b * bs, ByteBuffer.wrap(random(rnd, (int) bs)));
            }
            d.flush();
            for (int b = 1; b < WRITTEN; b += 2) {
                d.write(b * bs, ByteBuffer.allocate((int) bs)); // in place: stays allocated
            }
            d.write(2 * bs, ByteBuffer.allocate((int) bs / 2));
            d.flush();
        }
        return WRITTEN / 2;
    }

    /**
     * A child of {@code parent} (itself a base written by {@link #base}): blocks 0..3 rewritten with
     * the parent's own bytes, 4..7 new data, 8 and 9 written with data and then zeros (over parent
     * data), 10 written with data and then the parent's bytes again.
     */
    public static void child(Path path, Path parent, String format, Map<String, String> options, long seed)
            throws IOException {
        Random rnd = new Random(seed);
        try (Image img = create(path, format, options, -1, parent)) {
            img.flush();
        }
        try (Disk d = Disk.open(path, OpenOptions.defaultReadWrite())) {
            int bs = (int) d.top().blockSize();
            for (int b : new int[] {0, 2, 4, 6}) { // data blocks of the parent
                ByteBuffer own = ByteBuffer.allocate(bs);
                d.read((long) b * bs, own);
                d.write((long) b * bs, own.flip());
            }
            for (int b = 8; b < 12; b++) {
                d.write((long) b * bs, ByteBuffer.wrap(random(rnd, bs)));
            }
            d.write(12L * bs, ByteBuffer.wrap(random(rnd, bs)));
            d.write(14L * bs, ByteBuffer.wrap(random(rnd, bs)));
            d.flush();
            d.write(12L * bs, ByteBuffer.allocate(bs)); // zeros over parent data: must hide it
            d.write(14L * bs, ByteBuffer.allocate(bs));
            d.flush();
        }
    }

    private static Image create(Path path, String format, Map<String, String> options, long size, Path parent)
            throws IOException {
        ImageFormat f = FormatRegistry.require(format);
        long bs = size > 0 ? 0 : blockSize(path.getParent(), format, options);
        CreateOptions co = CreateOptions.of(size > 0 ? size : BLOCKS * bs);
        for (Map.Entry<String, String> e : options.entrySet()) {
            co = co.with(e.getKey(), e.getValue());
        }
        if (parent == null) {
            return f.create(path, co);
        }
        try (Disk p = Disk.open(parent, OpenOptions.defaultReadOnly())) {
            return f.create(path, co.withParent(p, parent.getFileName()));
        }
    }

    static byte[] random(Random rnd, int n) {
        byte[] b = new byte[n];
        rnd.nextBytes(b);
        return b;
    }
}
