package org.vdmount.vd.conformance;

import static org.junit.jupiter.api.Assertions.assertTimeoutPreemptively;

import java.io.IOException;
import java.io.PrintWriter;
import java.io.StringWriter;
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
import org.vdmount.vd.Capability;
import org.vdmount.vd.Disk;
import org.vdmount.vd.Image;
import org.vdmount.vd.OpenOptions;
import org.vdmount.vd.Run;
import org.vdmount.vd.VdException;

/**
 * The mutation test's engine: seeded corruption of one file of an image at a time (inside the
 * fixture's regions, checksums fixed half of the time), then an open that must either read
 * sanely within the disk's size (and, opened writable, take writes and discards) or fail with one
 * {@link VdException} of one line. Any other exception, a hang or an out-of-memory fails.
 */
public final class MutationCampaign {
    /** Read in one piece at the start of a mutated disk, whatever its size says. */
    private static final int READ_SPAN = 512 * 1024;
    /** Writes only where a fill copies at most this much (a 128 MiB block would be legal, just slow). */
    private static final long MAX_WRITE_BLOCK = 8L << 20;

    private MutationCampaign() {
    }

    /**
     * One file of an image to corrupt.
     *
     * @param name    for messages
     * @param open    the path the image opens by (a descriptor, a split set's first part)
     * @param file    the file corrupted: {@code open} or one of its other files
     * @param files   every file of the image, copied for writable opens
     * @param regions where in {@code file} to corrupt
     */
    public record Sample(String name, Path open, Path file, List<Path> files, List<Region> regions) {
    }

    /** How a campaign went. */
    public record Outcome(int opened, int refused) {
        public int cases() {
            return opened + refused;
        }
    }

    /** One sample per file of the image at {@code open} (opened read-only to list its files). */
    public static List<Sample> samples(FormatFixture fixture, String name, Path open) throws IOException {
        List<Path> files;
        try (Disk d = Disk.open(open, options(open, false))) {
            files = d.top().files();
        }
        List<Sample> out = new ArrayList<>();
        for (Path f : files) {
            byte[] content = Files.readAllBytes(f);
            List<Region> regions = fixture.regions(f, content);
            if (regions.isEmpty()) {
                throw new AssertionError(fixture.format().name() + " fixture: no regions for " + f);
            }
            out.add(new Sample(name + (files.size() > 1 ? ":" + f.getFileName() : ""), open, f, files, regions));
        }
        return out;
    }

    /** How the kit opens a sample: its own directory searched for parents, warnings dropped. */
    public static OpenOptions options(Path open, boolean writable) {
        return Kit.readOnly().withReadOnly(!writable).withParentDirs(List.of(open.getParent()))
                .withWarnings(w -> { });
    }

    /**
     * Runs {@code cases} cases spread round-robin over {@code samples}; a writable open (one case
     * in ten, formats that can write) works on copies in {@code scratch}. Fails on the first case
     * that throws anything but a one-line VdException, or after {@code timeout}.
     */
    public static Outcome run(FormatFixture fixture, List<Sample> samples, int cases, long seed, Path scratch,
                              Duration timeout) throws IOException {
        Mutator mutator = new Mutator(fixture.byteOrder());
        boolean canWrite = fixture.format().can(Capability.WRITE);
        byte[][] pristine = new byte[samples.size()][];
        byte[][] works = new byte[samples.size()][];
        for (int i = 0; i < samples.size(); i++) {
            pristine[i] = Files.readAllBytes(samples.get(i).file());
            works[i] = pristine[i].clone();
        }
        int[] outcome = new int[2];
        String[] current = {""};
        assertTimeoutPreemptively(timeout, () -> {
            for (int c = 0; c < cases; c++) {
                int s = c % samples.size();
                Sample sample = samples.get(s);
                Random rnd = new Random(seed + c);
                byte[] work = works[s];
                Mutator.Mutation m = mutator.mutate(work, work.length, sample.regions(), rnd);
                if (rnd.nextBoolean()) {
                    fixture.fixChecksums(work, m.length());
                }
                boolean writable = canWrite && rnd.nextInt(10) == 0;
                current[0] = "case " + c + " (seed " + (seed + c) + ") on " + sample.name() + ": " + m.description()
                        + (writable ? ", opened writable" : "");
                List<long[]> changed = store(sample.file(), pristine[s], work, m.length());
                try {
                    outcome[attempt(sample, writable, scratch, rnd, current[0])]++;
                } finally {
                    restore(sample.file(), pristine[s], changed, m.length());
                    for (long[] r : changed) {
                        System.arraycopy(pristine[s], (int) r[0], work, (int) r[0], (int) (r[1] - r[0]));
                    }
                    if (m.length() < work.length) { // edits past the cut were never compared
                        System.arraycopy(pristine[s], m.length(), work, m.length(), work.length - m.length());
                    }
                }
            }
        }, () -> "hang in " + current[0]);
        return new Outcome(outcome[0], outcome[1]);
    }

    /** 0: opened and exercised; 1: refused with a one-line VdException. */
    private static int attempt(Sample sample, boolean writable, Path scratch, Random rnd, String what)
            throws IOException {
        Path open = sample.open();
        Path copies = null;
        if (writable) {
            copies = Files.createDirectories(scratch.resolve("rw"));
            for (Path f : sample.files()) {
                Files.copy(f, copies.resolve(f.getFileName().toString()), StandardCopyOption.REPLACE_EXISTING);
            }
            open = copies.resolve(open.getFileName().toString());
        }
        try {
            exercise(open, options(sample.open(), writable), rnd);
            return 0;
        } catch (VdException e) {
            try {
                DiskBytes.assertOneLine(e);
            } catch (AssertionError a) {
                throw new AssertionError(what + ": " + a.getMessage(), e);
            }
            return 1;
        } catch (Throwable t) {
            StringWriter trace = new StringWriter();
            t.printStackTrace(new PrintWriter(trace));
            throw new AssertionError(what + ": " + t + "\n" + trace, t);
        } finally {
            if (copies != null) {
                Scratch.delete(copies);
            }
        }
    }

    /**
     * Opens and uses a possibly corrupt image: its facts, a walk of its map, reads at the start,
     * at random places and at the end; opened writable also writes, discards and flushes.
     */
    public static void exercise(Path open, OpenOptions options, Random rnd) throws IOException {
        try (Disk d = Disk.open(open, options)) {
            Image top = d.top();
            top.details();
            top.allocatedBytes();
            top.files();
            top.variant();
            d.logicalSectorSize();
            long size = d.size();
            long off = 0;
            for (int runs = 0; off < size && runs < 2000; runs++) {
                long run = d.map(off, size - off);
                long len = Run.length(run);
                if (len <= 0 || len > size - off) {
                    throw new AssertionError("map at " + off + " gave a run of " + len + " bytes in a disk of " + size);
                }
                off += len;
            }
            if (size == 0) {
                return;
            }
            ByteBuffer buf = ByteBuffer.allocate(READ_SPAN);
            d.read(0, buf.limit((int) Math.min(size, READ_SPAN)));
            for (int i = 0; i < 12; i++) {
                long at = Math.floorMod(rnd.nextLong(), size);
                d.read(at, buf.clear().limit((int) Math.min(size - at, 1 + rnd.nextInt(64 * 1024))));
            }
            d.read(size - Math.min(size, 4096), buf.clear().limit((int) Math.min(size, 4096)));
            if (!options.readOnly() && top.blockSize() <= MAX_WRITE_BLOCK) {
                byte[] data = new byte[64 * 1024];
                for (int i = 0; i < 6; i++) {
                    long at = Math.floorMod(rnd.nextLong(), size);
                    rnd.nextBytes(data);
                    d.write(at, ByteBuffer.wrap(data, 0, (int) Math.min(size - at, 1 + rnd.nextInt(data.length))));
                }
                long at = Math.floorMod(rnd.nextLong(), size);
                d.discard(at, Math.min(size - at, 1 + rnd.nextInt(70_000)));
                long bs = top.blockSize();
                long block = Math.floorMod(rnd.nextLong(), Math.max(1, size / bs)) * bs;
                d.discard(block, Math.min(bs, size - block));
                d.flush();
            }
        }
    }

    /** Writes what differs from the pristine file (and cuts it); returns the ranges written. */
    private static List<long[]> store(Path file, byte[] pristine, byte[] work, int length) throws IOException {
        List<long[]> changed = new ArrayList<>();
        int n = Math.min(length, pristine.length);
        try (FileChannel ch = FileChannel.open(file, StandardOpenOption.WRITE)) {
            int i = 0;
            while (i < n) {
                int m = java.util.Arrays.mismatch(pristine, i, n, work, i, n);
                if (m < 0) {
                    break;
                }
                int start = i + m;
                int end = start + 1;
                while (end < n && (pristine[end] != work[end] || end + 1 < n && pristine[end + 1] != work[end + 1])) {
                    end++;
                }
                writeFully(ch, ByteBuffer.wrap(work, start, end - start), start);
                changed.add(new long[] {start, end});
                i = end;
            }
            if (length < pristine.length) {
                ch.truncate(length);
            }
        }
        return changed;
    }

    private static void restore(Path file, byte[] pristine, List<long[]> changed, int length) throws IOException {
        try (FileChannel ch = FileChannel.open(file, StandardOpenOption.WRITE)) {
            for (long[] r : changed) {
                writeFully(ch, ByteBuffer.wrap(pristine, (int) r[0], (int) (r[1] - r[0])), r[0]);
            }
            if (length < pristine.length) {
                writeFully(ch, ByteBuffer.wrap(pristine, length, pristine.length - length), length);
            }
            if (ch.size() != pristine.length) {
                ch.truncate(pristine.length);
            }
        }
    }

    private static void writeFully(FileChannel ch, ByteBuffer b, long pos) throws IOException {
        while (b.hasRemaining()) {
            pos += ch.write(b, pos);
        }
    }
}
