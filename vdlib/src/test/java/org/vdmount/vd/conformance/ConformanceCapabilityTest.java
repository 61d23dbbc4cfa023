package org.vdmount.vd.conformance;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.DynamicContainer.dynamicContainer;
import static org.junit.jupiter.api.DynamicTest.dynamicTest;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.stream.Stream;
import org.junit.jupiter.api.DynamicNode;
import org.junit.jupiter.api.TestFactory;
import org.junit.jupiter.api.io.TempDir;
import org.vdmount.vd.Allocation;
import org.vdmount.vd.Capability;
import org.vdmount.vd.Disk;
import org.vdmount.vd.Image;
import org.vdmount.vd.ImageFormat;
import org.vdmount.vd.OpenOptions;
import org.vdmount.vd.ReadOnlyException;
import org.vdmount.vd.Run;
import org.vdmount.vd.UnsupportedFeatureException;
import org.vdmount.vd.VdException;

/**
 * What every registered format declares in {@link ImageFormat#capabilities()} is checked against
 * what its images do, in both directions: a capability it has works, one it lacks is refused in
 * one line (or emulated by the Disk, for discard).
 */
class ConformanceCapabilityTest {
    private static final long SIZE = Kit.MUTATION_SIZE;
    /** For the tests that need several whole blocks of every variant (VDI's and VHDX's are 1-2 MiB). */
    private static final long BIG = Kit.MODEL_SIZE;

    @TempDir
    Path dir;

    @TestFactory
    Stream<DynamicNode> declarationsHoldUp() {
        return Fixtures.all().stream().map(f -> dynamicContainer(f.format().name(), Stream.of(
                dynamicTest("fresh images", () -> fresh(f)),
                dynamicTest("write", () -> write(f)),
                dynamicTest("differencing", () -> differencing(f)),
                dynamicTest("discard", () -> discard(f)),
                dynamicTest("zero blocks", () -> zeroBlocks(f)),
                dynamicTest("create fixed", () -> createFixed(f)),
                dynamicTest("multi-file", () -> multiFile(f)),
                dynamicTest("internal snapshots", () -> snapshots(f)))));
    }

    private Path base(FormatFixture f, Variant v, String test) throws IOException {
        return Layers.base(f, v, dir, f.format().name() + "-" + v.name() + "-" + test, SIZE);
    }

    /**
     * Every variant creates an image of the size asked for that reads as zeros; closing an image
     * twice (a Disk closing its layers, then their owner) is harmless (Closeable's contract).
     */
    private void fresh(FormatFixture f) throws IOException {
        if (!f.format().can(Capability.CREATE)) {
            return; // nothing to check: the capability test asserts the refusal
        }
        for (Variant v : f.variants()) {
            Path p = base(f, v, "fresh");
            for (boolean writable : new boolean[] {false, f.format().can(Capability.WRITE)}) {
                Image img = f.format().open(p, MutationCampaign.options(p, writable));
                Disk.of(List.of(img)).close();
                img.close();
            }
            try (Disk d = Disk.open(p, Kit.readOnly())) {
                assertEquals(SIZE, d.size(), v + ": virtual size");
                assertEquals(f.format().name(), d.top().format().name(), v + ": probed format");
                DiskBytes.assertSame(new byte[(int) SIZE], DiskBytes.readAll(d), v + ": fresh image");
                DiskBytes.assertMapConsistent(new byte[(int) SIZE], d, v.name());
            }
        }
    }

    /**
     * WRITE: a writable open takes writes that read back after a reopen; read-only opens refuse
     * writes and discards (Disk and Image) with ReadOnlyException and leave every file untouched.
     * Without WRITE: a writable open or its first write is refused.
     */
    private void write(FormatFixture f) throws IOException {
        for (Variant v : f.variants()) {
            Path p = base(f, v, "write");
            byte[] data = DiskBytes.random(70_000, Kit.seed(v.name()));
            if (!f.format().can(Capability.WRITE)) {
                VdException e = assertThrows(VdException.class, () -> {
                    try (Disk d = Disk.open(p, Kit.readWrite())) {
                        d.write(1000, ByteBuffer.wrap(data));
                    }
                }, v + ": a format without WRITE took a write");
                assertTrue(e instanceof ReadOnlyException || e instanceof UnsupportedFeatureException, v + ": " + e);
                DiskBytes.assertOneLine(e);
                continue;
            }
            try (Disk d = Disk.open(p, Kit.readWrite())) {
                assertFalse(d.readOnly());
                d.write(1000, ByteBuffer.wrap(data));
                d.write(SIZE - 777, ByteBuffer.wrap(data, 0, 777));
                d.flush();
            }
            Map<Path, FileState> before = FileState.ofImage(p);
            try (Disk d = Disk.open(p, Kit.readOnly())) {
                byte[] got = new byte[data.length];
                d.read(1000, ByteBuffer.wrap(got));
                DiskBytes.assertRange(data, 0, got, data.length, v + ": reopened");
                assertTrue(d.readOnly());
                DiskBytes.assertOneLine(assertThrows(ReadOnlyException.class,
                        () -> d.write(0, ByteBuffer.allocate(512))), f.format().name());
                DiskBytes.assertOneLine(assertThrows(ReadOnlyException.class, () -> d.discard(0, SIZE)));
                VdException e = assertThrows(VdException.class, () -> d.top().write(0, ByteBuffer.allocate(512)),
                        v + ": a read-only image took a write");
                assertTrue(e instanceof ReadOnlyException, v + ": " + e);
            }
            FileState.assertUnchanged(before);
        }
    }

    /**
     * DIFFERENCING: a fresh child over a parent full of data holds nothing (UNALLOCATED
     * everywhere), reads the parent's bytes, and takes writes without touching the parent.
     * Without it: a create with a parent is refused and creates nothing.
     */
    private void differencing(FormatFixture f) throws IOException {
        Variant v = f.variants().get(0);
        String name = f.format().name() + "-differencing";
        byte[] parentData = DiskBytes.random((int) SIZE, Kit.seed(name));
        List<Path> chain = Layers.chain(f, v, dir, name, SIZE, 1, (top, i) -> {
            if (f.format().can(Capability.WRITE)) {
                try (Disk d = Disk.open(top, Kit.readWrite())) {
                    d.write(0, ByteBuffer.wrap(parentData));
                }
            }
        });
        Path parent = chain.get(0);
        if (!f.format().can(Capability.DIFFERENCING)) {
            Path child = parent.resolveSibling("child." + f.extension());
            try (Disk pd = Disk.open(parent, Kit.readOnly())) {
                UnsupportedFeatureException e = assertThrows(UnsupportedFeatureException.class,
                        () -> f.format().create(child, v.childCreateOptions().withParent(pd, parent)).close());
                DiskBytes.assertOneLine(e, f.format().name());
            }
            assertFalse(Files.exists(child), "a refused create left " + child);
            return;
        }
        byte[] expect = f.format().can(Capability.WRITE) ? parentData : new byte[(int) SIZE];
        Map<Path, FileState> parentFiles = FileState.ofLowerLayer(parent, f);
        Path child = f.createChild(parent.getParent(), "child", parent, v);
        try (Disk d = Disk.open(child, Kit.readWrite())) {
            assertEquals(2, d.layers().size(), "the child finds its parent");
            Image top = d.top();
            assertNotNull(top.parent(), "a child records its parent");
            for (long off = 0; off < top.virtualSize(); ) {
                long run = top.map(off, top.virtualSize() - off);
                assertEquals(Allocation.UNALLOCATED, Run.kind(run), "a fresh child holds " + Run.kind(run) + " at " + off);
                off += Run.length(run);
            }
            DiskBytes.assertSame(expect, DiskBytes.readAll(d), "a fresh child reads its parent");
            if (f.format().can(Capability.WRITE)) {
                d.write(5000, ByteBuffer.wrap(new byte[] {1, 2, 3}));
                System.arraycopy(new byte[] {1, 2, 3}, 0, expect, 5000, 3);
                d.flush();
                DiskBytes.assertSame(expect, DiskBytes.readAll(d), "the child after a write");
            }
        }
        FileState.assertUnchanged(parentFiles);
    }

    /**
     * Whole-block discards read as zeros. DISCARD: a sparse image gives space back (its
     * allocated bytes or its host blocks shrink). Without DISCARD the Disk writes zeros.
     */
    private void discard(FormatFixture f) throws IOException {
        if (!f.format().can(Capability.WRITE)) {
            return; // nothing to check: the capability test asserts the refusal
        }
        int checked = 0;
        for (Variant v : f.variants()) {
            Path p = Layers.base(f, v, dir, f.format().name() + "-" + v.name() + "-discard", BIG);
            long bs;
            long start;
            long length;
            try (Disk d = Disk.open(p, Kit.readWrite())) {
                bs = d.top().blockSize();
                if (bs * 2 > BIG) {
                    continue; // one block spans the disk (a fixed image's): no whole block to discard
                }
                start = bs;
                length = Math.min(3 * bs, BIG / bs * bs - bs);
                d.write(start, ByteBuffer.wrap(DiskBytes.random((int) length, 7)));
                d.flush();
            }
            long[] before = allocation(p);
            try (Disk d = Disk.open(p, Kit.readWrite())) {
                d.discard(start, length);
                d.flush();
                DiskBytes.assertSame(new byte[(int) length], read(d, start, (int) length), v + ": discarded blocks");
            }
            long[] after = allocation(p);
            try (Disk d = Disk.open(p, Kit.readOnly())) {
                DiskBytes.assertSame(new byte[(int) length], read(d, start, (int) length), v + ": reopened");
            }
            if (f.format().can(Capability.DISCARD) && !v.fixed()) {
                assertTrue(after[0] < before[0] || after[1] < before[1], v + ": discarding " + length / bs
                        + " whole blocks gave nothing back: allocated " + before[0] + " -> " + after[0] + ", host "
                        + before[1] + " -> " + after[1]);
            }
            checked++;
        }
        assertTrue(checked > 0, f.format().name() + ": no variant has blocks small enough to discard");
    }

    /** {allocatedBytes, hostAllocatedBytes} of the image at {@code p}. */
    private static long[] allocation(Path p) throws IOException {
        try (Disk d = Disk.open(p, Kit.readOnly())) {
            return new long[] {d.top().allocatedBytes(), d.top().hostAllocatedBytes()};
        }
    }

    private static byte[] read(Disk d, long off, int len) throws IOException {
        byte[] b = new byte[len];
        d.read(off, ByteBuffer.wrap(b));
        return b;
    }

    /**
     * In a fresh child over a parent full of data, a discarded whole block (one never written in
     * the child, one written first) reads as zeros and never maps as UNALLOCATED, which would show
     * the parent's bytes again: it maps as ZERO, or as DATA where zeros were written. ZERO_BLOCKS
     * exactly when the fresh block maps as ZERO in the child of some variant (a variant's children
     * may lack zero blocks: qcow2 v2, VMDK without zeroed grains).
     */
    private void zeroBlocks(FormatFixture f) throws IOException {
        ImageFormat fmt = f.format();
        if (!fmt.can(Capability.WRITE) || !fmt.can(Capability.DIFFERENCING)) {
            return; // no child to hide a parent with: zero blocks cannot be observed that way
        }
        List<String> zeroIn = new java.util.ArrayList<>();
        for (Variant v : f.variants()) {
            String name = fmt.name() + "-" + v.name() + "-zero";
            byte[] parentData = DiskBytes.random((int) BIG, Kit.seed(name));
            List<Path> chain = Layers.chain(f, v, dir, name, BIG, 2, (top, i) -> {
                if (i == 0) {
                    try (Disk d = Disk.open(top, Kit.readWrite())) {
                        d.write(0, ByteBuffer.wrap(parentData));
                    }
                }
            });
            Path child = chain.get(1);
            long bs;
            Allocation fresh;
            try (Disk d = Disk.open(child, Kit.readWrite())) {
                bs = d.top().blockSize();
                assertTrue(bs * 3 <= BIG, v + ": child blocks of " + bs + " bytes: the kit needs three in "
                        + BIG + " bytes");
                d.write(2 * bs + 100, ByteBuffer.wrap(new byte[] {9, 9, 9}));
                d.discard(bs, bs);
                d.discard(2 * bs, bs);
                d.flush();
                fresh = discardedBlocks(d, bs, v + " (open)");
            }
            try (Disk d = Disk.open(child, Kit.readOnly())) {
                assertEquals(fresh, discardedBlocks(d, bs, v + " (reopened)"), v + ": the fresh block after a reopen");
            }
            if (fresh == Allocation.ZERO) {
                zeroIn.add(v.name());
            }
        }
        assertEquals(fmt.can(Capability.ZERO_BLOCKS), !zeroIn.isEmpty(), fmt.name() + ": ZERO_BLOCKS is "
                + fmt.can(Capability.ZERO_BLOCKS) + " but a discarded fresh block of a child maps as ZERO in "
                + (zeroIn.isEmpty() ? "no variant" : zeroIn));
    }

    /** Checks both discarded blocks; returns how the fresh one (at {@code bs}) maps, DATA or ZERO. */
    private static Allocation discardedBlocks(Disk d, long bs, String what) throws IOException {
        Allocation fresh = null;
        for (long start : new long[] {bs, 2 * bs}) {
            DiskBytes.assertSame(new byte[(int) bs], read(d, start, (int) bs), what + ": discarded block at " + start);
            Image top = d.top();
            for (long off = start; off < start + bs; ) {
                long run = top.map(off, start + bs - off);
                Allocation kind = Run.kind(run);
                assertNotEquals(Allocation.UNALLOCATED, kind, what + ": discarded block at " + start
                        + " maps as UNALLOCATED in the child, so the parent's bytes show through");
                if (start == bs) {
                    assertTrue(fresh == null || fresh == kind, what + ": the fresh block maps as " + fresh + " and " + kind);
                    fresh = kind;
                }
                off += Run.length(run);
            }
        }
        return fresh;
    }

    /**
     * CREATE_FIXED exactly when the fixture has a fixed variant. A fixed image maps its whole
     * virtual size as data from the start and its files span at least that much (the host may keep
     * them sparse, as qemu-img does for fixed VHD and flat VMDK); a sparse one holds less. (A format
     * that cannot create, such as E01, has its bases made by another tool and holds all it was given.)
     */
    private void createFixed(FormatFixture f) throws IOException {
        boolean fixed = f.variants().stream().anyMatch(Variant::fixed);
        assertEquals(f.format().can(Capability.CREATE_FIXED), fixed, f.format().name() + ": CREATE_FIXED is "
                + f.format().can(Capability.CREATE_FIXED) + " but the fixture has " + (fixed ? "a" : "no") + " fixed variant");
        for (Variant v : f.variants()) {
            Path p = base(f, v, "alloc");
            try (Disk d = Disk.open(p, Kit.readOnly())) {
                long allocated = d.top().allocatedBytes();
                if (v.fixed()) {
                    for (long off = 0; off < d.size(); ) {
                        long run = d.top().map(off, d.size() - off);
                        assertEquals(Allocation.DATA, Run.kind(run), v + ": a fixed image maps data at " + off);
                        off += Run.length(run);
                    }
                    long spanned = 0;
                    for (Path file : d.top().files()) {
                        spanned += Files.size(file);
                    }
                    assertTrue(spanned >= d.size(), v + ": files span " + spanned + " < " + d.size());
                } else if (f.format().can(Capability.CREATE)) { // an image the format made itself (not an acquisition)
                    assertTrue(allocated < d.size(), v + ": a fresh sparse image holds " + allocated + " of " + d.size());
                }
            }
        }
    }

    /**
     * files() names existing, distinct files, the opened one among them; MULTI_FILE exactly when
     * some variant spans several.
     */
    private void multiFile(FormatFixture f) throws IOException {
        boolean several = false;
        for (Variant v : f.variants()) {
            Path p = base(f, v, "files");
            try (Disk d = Disk.open(p, Kit.readOnly())) {
                List<Path> files = d.top().files();
                assertFalse(files.isEmpty(), v + ": no files");
                assertEquals(files.size(), new HashSet<>(files).size(), v + ": files listed twice: " + files);
                assertTrue(files.stream().anyMatch(x -> sameFile(x, p)), v + ": " + p + " not among " + files);
                for (Path x : files) {
                    assertTrue(Files.isRegularFile(x), v + ": " + x + " does not exist");
                }
                several |= files.size() > 1;
            }
        }
        assertEquals(f.format().can(Capability.MULTI_FILE), several, f.format().name() + ": MULTI_FILE is "
                + f.format().can(Capability.MULTI_FILE) + " but " + (several ? "a" : "no") + " variant spans several files");
    }

    private static boolean sameFile(Path a, Path b) {
        try {
            return Files.isSameFile(a, b);
        } catch (IOException e) {
            return false;
        }
    }

    /**
     * INTERNAL_SNAPSHOTS: a snapshot the fixture takes is listed and opens (read-only) with the
     * bytes of its time while the image moves on. Without: opening one is refused in one line.
     */
    private void snapshots(FormatFixture f) throws IOException {
        Variant v = f.variants().get(0);
        Path p = base(f, v, "snapshots");
        if (!f.format().can(Capability.INTERNAL_SNAPSHOTS)) {
            DiskBytes.assertOneLine(assertThrows(UnsupportedFeatureException.class,
                    () -> f.format().openSnapshot(p, "1", Kit.readOnly()).close()));
            DiskBytes.assertOneLine(assertThrows(UnsupportedFeatureException.class,
                    () -> Disk.openSnapshot(p, "1", Kit.readOnly()).close()));
            return;
        }
        if (!f.format().can(Capability.WRITE)) {
            return; // nothing to check: the capability test asserts the refusal
        }
        Random rnd = new Random(Kit.seed(f.format().name(), "snapshots"));
        byte[] then = DiskBytes.random((int) SIZE, rnd.nextLong());
        try (Disk d = Disk.open(p, Kit.readWrite())) {
            d.write(0, ByteBuffer.wrap(then));
        }
        f.takeSnapshot(p, "kit-1");
        byte[] now = then.clone();
        byte[] later = DiskBytes.random(300_000, rnd.nextLong());
        System.arraycopy(later, 0, now, 100_000, later.length);
        try (Disk d = Disk.open(p, Kit.readWrite())) {
            d.write(100_000, ByteBuffer.wrap(later));
            d.discard(0, 65536);
            java.util.Arrays.fill(now, 0, 65536, (byte) 0);
        }
        try (Disk d = Disk.open(p, Kit.readOnly())) {
            assertTrue(f.snapshotNames(d.top()).contains("kit-1"), "snapshots listed: " + f.snapshotNames(d.top()));
            DiskBytes.assertSame(now, DiskBytes.readAll(d), "the image after the snapshot");
        }
        try (Disk s = Disk.openSnapshot(p, "kit-1", Kit.readOnly())) {
            assertTrue(s.readOnly(), "a snapshot opens read-only");
            DiskBytes.assertSame(then, DiskBytes.readAll(s), "snapshot kit-1");
        }
        VdException e = assertThrows(VdException.class,
                () -> Disk.openSnapshot(p, "no-such-snapshot", Kit.readOnly()).close());
        DiskBytes.assertOneLine(e);
    }
}
