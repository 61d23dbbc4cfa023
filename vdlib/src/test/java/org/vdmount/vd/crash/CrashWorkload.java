package org.vdmount.vd.crash;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Set;
import java.util.SplittableRandom;
import org.vdmount.vd.Disk;
import org.vdmount.vd.OpenOptions;

/**
 * A deterministic, seeded sequence of disk operations (writes, discards, flushes) and the model of
 * what a crash may leave behind. Each written sector carries a self-describing pattern: its first
 * eight bytes are a tag (which operation wrote it, for which sector), the rest derive from the tag,
 * so a read-back sector is either all zeros (tag 0), a whole known pattern, or garbage.
 *
 * <p>Run once undisturbed while counting host writes ({@link #run} records where each operation
 * ends), the same seed then replays identically up to any kill point N: operations that ended by
 * write N completed, the one holding write N+1 is partial, later ones never happened.
 */
final class CrashWorkload {
    static final int SECTOR = 512;

    /** What each operation does. */
    enum Kind { WRITE, DISCARD, FLUSH, CLOSE }

    /** One operation: a kind, a sector range (empty for FLUSH/CLOSE), and its tag base. */
    record Op(Kind kind, int firstSector, int sectors, long tagBase) {
    }

    /** Tag of every sector of the parent a differencing workload runs over (never an op's tag). */
    static final long PARENT_TAG = 0x7ff0_0000_0000L;

    final long virtualSize;
    final List<Op> ops;
    /** Whether the image runs over a parent whose every sector holds {@link #PARENT_TAG} | sector. */
    final boolean overParent;

    CrashWorkload(long seed, long virtualSize, int count) {
        this(seed, virtualSize, count, false);
    }

    CrashWorkload(long seed, long virtualSize, int count, boolean overParent) {
        this.virtualSize = virtualSize;
        this.ops = generate(seed, virtualSize, count);
        this.overParent = overParent;
    }

    /** What sector {@code s} reads before any op: zeros, or the parent's pattern. */
    long initialTag(int s) {
        return overParent ? PARENT_TAG | s : 0;
    }

    private static List<Op> generate(long seed, long virtualSize, int count) {
        SplittableRandom r = new SplittableRandom(seed);
        int total = (int) (virtualSize / SECTOR);
        List<Op> out = new ArrayList<>();
        for (int i = 0; i < count; i++) {
            int roll = r.nextInt(100);
            long tagBase = (long) (i + 1) << 32;
            if (roll < 62) {
                int len;
                int start;
                if (r.nextInt(4) == 0) { // whole, aligned 64 KiB pieces: whole blocks and grains
                    len = 128;
                    start = r.nextInt(total / 128) * 128;
                } else {
                    len = 1 + r.nextInt(24);
                    start = r.nextInt(total - len + 1);
                }
                out.add(new Op(Kind.WRITE, start, len, tagBase));
            } else if (roll < 74) {
                int len = 1 + r.nextInt(r.nextBoolean() ? 16 : 2048);
                len = Math.min(len, total);
                int start = r.nextInt(total - len + 1);
                if (r.nextBoolean()) { // aligned to 64 KiB so whole blocks are handed to the image
                    start = start / 128 * 128;
                }
                out.add(new Op(Kind.DISCARD, start, len, 0));
            } else {
                out.add(new Op(Kind.FLUSH, 0, 0, 0));
            }
        }
        out.add(new Op(Kind.CLOSE, 0, 0, 0));
        return out;
    }

    /** The pattern of one sector written by an op (tag != 0). */
    static void fill(ByteBuffer sector, long tag) {
        ByteBuffer b = sector.duplicate().order(ByteOrder.LITTLE_ENDIAN);
        b.putLong(tag);
        long x = tag * 0x9E3779B97F4A7C15L;
        while (b.remaining() >= 8) {
            x ^= x >>> 29;
            x *= 0xBF58476D1CE4E5B9L;
            x ^= x >>> 32;
            b.putLong(x);
        }
    }

    /** The tag of a read-back sector: 0 for all zeros, -1 for garbage (not a whole pattern). */
    static long decode(ByteBuffer sector) {
        ByteBuffer b = sector.duplicate().order(ByteOrder.LITTLE_ENDIAN);
        long tag = b.getLong(b.position());
        if (tag == 0) {
            for (int i = 0; i < SECTOR; i++) {
                if (b.get(b.position() + i) != 0) {
                    return -1;
                }
            }
            return 0;
        }
        ByteBuffer expect = ByteBuffer.allocate(SECTOR);
        fill(expect, tag);
        ByteBuffer got = b.slice(b.position(), SECTOR);
        return got.equals(expect) ? tag : -1;
    }

    /**
     * Opens {@code image} read-write and runs the ops; returns the host-write count at the end of
     * each op (as {@link org.vdmount.vd.storage.WriteFault#writesSeen} reports it; the caller arms
     * it). Stops early, without error, once {@code stop} says the fault has happened.
     */
    long[] run(Path image, WriteCounter counter) throws IOException {
        long[] ends = new long[ops.size()];
        Disk disk = Disk.open(image, OpenOptions.defaultReadWrite());
        boolean closed = false;
        try {
            for (int i = 0; i < ops.size(); i++) {
                Op op = ops.get(i);
                switch (op.kind()) {
                    case WRITE -> {
                        ByteBuffer data = ByteBuffer.allocate(op.sectors() * SECTOR);
                        for (int s = 0; s < op.sectors(); s++) {
                            fill(data.slice(s * SECTOR, SECTOR), op.tagBase() | (op.firstSector() + s));
                        }
                        disk.write((long) op.firstSector() * SECTOR, data);
                    }
                    case DISCARD -> disk.discard((long) op.firstSector() * SECTOR, (long) op.sectors() * SECTOR);
                    case FLUSH -> disk.flush();
                    case CLOSE -> {
                        closed = true;
                        disk.close();
                    }
                }
                ends[i] = counter.writes();
                if (counter.stop()) {
                    break;
                }
            }
        } finally {
            if (!closed) {
                disk.close();
            }
        }
        return ends;
    }

    /** How the driver learns the write count and whether to stop. */
    interface WriteCounter {
        long writes();

        boolean stop();
    }

    /**
     * What each sector may read back after a crash that let exactly {@code allowed} host writes
     * through: its value at the last completed flush, or any value written after that flush (up
     * to and including the op cut short by the crash).
     */
    Set<Long>[] allowedTags(long[] ends, long allowed) {
        int total = (int) (virtualSize / SECTOR);
        long[] current = new long[total];
        for (int s = 0; s < total; s++) {
            current[s] = initialTag(s);
        }
        long[] durable = current.clone();
        @SuppressWarnings("unchecked")
        Set<Long>[] pending = new Set[total];
        for (int i = 0; i < ops.size(); i++) {
            Op op = ops.get(i);
            boolean complete = ends[i] <= allowed;
            switch (op.kind()) {
                case WRITE, DISCARD -> {
                    for (int s = op.firstSector(); s < op.firstSector() + op.sectors(); s++) {
                        long tag = op.kind() == Kind.WRITE ? op.tagBase() | s : 0;
                        current[s] = tag;
                        if (pending[s] == null) {
                            pending[s] = new HashSet<>();
                        }
                        pending[s].add(tag);
                    }
                }
                case FLUSH, CLOSE -> {
                    if (complete) {
                        System.arraycopy(current, 0, durable, 0, total);
                        java.util.Arrays.fill(pending, null);
                    }
                }
            }
            if (!complete) {
                break;
            }
        }
        @SuppressWarnings("unchecked")
        Set<Long>[] allowedTags = new Set[total];
        for (int s = 0; s < total; s++) {
            Set<Long> a = pending[s] == null ? new HashSet<>() : pending[s];
            a.add(durable[s]);
            allowedTags[s] = a;
        }
        return allowedTags;
    }
}
