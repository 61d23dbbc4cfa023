package org.vdmount.vd.conformance;

import static org.junit.jupiter.api.Assertions.assertEquals;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.Random;
import org.vdmount.vd.Allocation;
import org.vdmount.vd.Disk;
import org.vdmount.vd.OpenOptions;
import org.vdmount.vd.Run;

/**
 * The randomised model test (VirtualBox's tstVDIo idea): seeded reads, writes, discards,
 * zeroings, flushes and map queries of random sizes and alignments against a byte[] model, with
 * reopens in the middle. Every read and every map answer is checked as it happens; every reopen
 * and the end check the whole disk.
 */
public final class ModelRun {
    /** The longest request: crosses several blocks of every format without making runs slow. */
    private static final int MAX_REQUEST = 600 * 1024;

    private final Path top;
    private final OpenOptions options;
    private final byte[] model;
    private final Random rnd;
    private final String what;
    private Disk disk;
    private int layers;
    private long blockSize;
    private int sector;
    private int reopens;

    private ModelRun(Path top, OpenOptions options, byte[] model, Random rnd, String what) {
        this.top = top;
        this.options = options;
        this.model = model;
        this.rnd = rnd;
        this.what = what;
    }

    /**
     * Opens {@code top} writable, runs {@code ops} operations mirrored in {@code model} (which must
     * hold what the disk reads now), checks the whole disk and closes it; then checks it again
     * opened read-only. Returns the number of reopens done.
     */
    public static int run(Path top, byte[] model, long seed, int ops, String what) throws IOException {
        ModelRun r = new ModelRun(top, Kit.readWrite(), model, new Random(seed), what);
        r.open();
        try {
            r.layers = r.disk.layers().size();
            assertEquals(model.length, r.disk.size(), what + ": virtual size");
            for (int op = 0; op < ops; op++) {
                r.step(op);
            }
            r.verifyWhole("end");
        } finally {
            r.disk.close();
        }
        try (Disk ro = Disk.open(top, Kit.readOnly())) {
            assertEquals(r.layers, ro.layers().size(), what + ": layers");
            DiskBytes.assertSame(model, DiskBytes.readAll(ro), what + ": reopened read-only");
        }
        return r.reopens;
    }

    /**
     * Random writes (of every shape {@link #run} uses), discards, zeroings and flushes through
     * {@code d}, mirrored in {@code model}; no reads, no reopens. For tests that check the result
     * their own way (an outside tool, another layer).
     */
    public static void scribble(Disk d, byte[] model, Random rnd, int ops) throws IOException {
        ModelRun r = new ModelRun(null, null, model, rnd, "scribble");
        r.disk = d;
        r.blockSize = d.top().blockSize();
        r.sector = d.logicalSectorSize();
        for (int op = 0; op < ops; op++) {
            int kind = rnd.nextInt(20);
            if (kind < 13) {
                int[] s = r.shape();
                byte[] data = r.data(s[1]);
                d.write(s[0], ByteBuffer.wrap(data));
                System.arraycopy(data, 0, model, s[0], s[1]);
            } else if (kind < 18) {
                int[] s = rnd.nextBoolean() ? r.wholeBlocks() : r.shape();
                if (kind == 17) {
                    d.zero(s[0], s[1]);
                } else {
                    d.discard(s[0], s[1]);
                }
                Arrays.fill(model, s[0], s[0] + s[1], (byte) 0);
            } else {
                d.flush();
            }
        }
    }

    private void open() throws IOException {
        disk = Disk.open(top, options);
        blockSize = disk.top().blockSize();
        sector = disk.logicalSectorSize();
    }

    private void step(int op) throws IOException {
        int kind = rnd.nextInt(100);
        if (kind < 34) {
            int[] s = shape();
            byte[] got = new byte[s[1]];
            disk.read(s[0], ByteBuffer.wrap(got));
            DiskBytes.assertRange(model, s[0], got, s[1], what + " op " + op);
        } else if (kind < 68) {
            int[] s = shape();
            byte[] data = data(s[1]);
            disk.write(s[0], ByteBuffer.wrap(data));
            System.arraycopy(data, 0, model, s[0], s[1]);
        } else if (kind < 80) {
            int[] s = rnd.nextBoolean() ? wholeBlocks() : shape();
            disk.discard(s[0], s[1]);
            Arrays.fill(model, s[0], s[0] + s[1], (byte) 0);
        } else if (kind < 84) {
            int[] s = shape();
            disk.zero(s[0], s[1]);
            Arrays.fill(model, s[0], s[0] + s[1], (byte) 0);
        } else if (kind < 86) {
            disk.flush();
        } else if (kind < 99) {
            int[] s = shape();
            long run = disk.map(s[0], s[1]);
            long len = Run.length(run);
            if (len <= 0 || len > s[1]) {
                throw new AssertionError(what + " op " + op + ": map(" + s[0] + ", " + s[1] + ") gave a run of " + len);
            }
            if (Run.kind(run) != Allocation.DATA) {
                DiskBytes.assertZeros(model, s[0], len, what + " op " + op + ": map says " + Run.kind(run) + " at "
                        + s[0] + "+" + len);
            }
        } else {
            disk.close();
            reopens++;
            open();
            assertEquals(layers, disk.layers().size(), what + ": layers after reopen at op " + op);
            verifyWhole("reopen at op " + op);
        }
    }

    private void verifyWhole(String when) throws IOException {
        DiskBytes.assertSame(model, DiskBytes.readAll(disk), what + ", " + when);
        DiskBytes.assertMapConsistent(model, disk, what + ", " + when);
    }

    /** {offset, length}: small, sector-aligned, straddling a block boundary, or large. */
    private int[] shape() {
        int size = model.length;
        int kind = rnd.nextInt(100);
        int len;
        int off;
        if (kind < 35) {
            len = 1 + rnd.nextInt(Math.min(size, 4096));
            off = rnd.nextInt(size - len + 1);
        } else if (kind < 60) {
            int sectors = size / sector;
            int n = 1 + rnd.nextInt(Math.min(sectors, 64));
            off = sector * rnd.nextInt(sectors - n + 1);
            len = n * sector;
        } else if (kind < 75) {
            long blocks = Math.max(1, size / blockSize);
            long boundary = blockSize * (1 + rnd.nextInt((int) Math.max(1, blocks - 1)));
            len = 1 + rnd.nextInt(Math.min(size, 8 * 1024));
            off = (int) Math.max(0, Math.min(size - len, boundary - rnd.nextInt(len)));
        } else if (kind < 90) {
            len = 1 + rnd.nextInt(Math.min(size, MAX_REQUEST));
            off = rnd.nextInt(size - len + 1);
        } else {
            return wholeBlocks();
        }
        return new int[] {off, len};
    }

    /** {offset, length} of 1 to 3 whole blocks (the last one possibly cut by the end of the disk). */
    private int[] wholeBlocks() {
        int size = model.length;
        long blocks = (size + blockSize - 1) / blockSize;
        long first = (long) (rnd.nextDouble() * blocks);
        long start = first * blockSize;
        long end = Math.min(size, start + blockSize * (1 + rnd.nextInt(3)));
        if (end - start > MAX_REQUEST * 4L) { // huge blocks (fixed images): a piece of one
            end = start + MAX_REQUEST;
        }
        return new int[] {(int) start, (int) (end - start)};
    }

    /** Random bytes mostly; sometimes zeros (zero-detecting paths) or one repeated byte. */
    private byte[] data(int len) {
        byte[] b = new byte[len];
        int kind = rnd.nextInt(8);
        if (kind == 0) {
            return b;
        } else if (kind == 1) {
            Arrays.fill(b, (byte) (1 + rnd.nextInt(255)));
        } else {
            rnd.nextBytes(b);
        }
        return b;
    }
}
