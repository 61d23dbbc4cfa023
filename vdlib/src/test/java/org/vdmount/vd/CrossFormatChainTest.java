package org.vdmount.vd;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.vdmount.vd.ChainTesting.MIB;
import static org.vdmount.vd.ChainTesting.extension;
import static org.vdmount.vd.ChainTesting.patternCommands;
import static org.vdmount.vd.ChainTesting.qemuIo;
import static org.vdmount.vd.ChainTesting.qemuName;
import static org.vdmount.vd.ChainTesting.qemuRaw;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.Set;
import java.util.concurrent.CyclicBarrier;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.stream.Stream;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.CsvSource;
import org.junit.jupiter.params.provider.MethodSource;
import org.junit.jupiter.params.provider.ValueSource;
import org.vdmount.vd.conformance.FileState;
import org.vdmount.vd.format.qcow2.QemuTools;
import org.vdmount.vd.conformance.DiskBytes;
import org.vdmount.vd.conformance.ModelRun;

/**
 * Chains whose layers are of different formats. Oracle: {@code qemu-img convert -O raw} of the
 * top (qemu follows backing files itself) for chains qemu builds and reads; an in-memory model
 * for chains only this library can build (VDI/VHD/VHDX differencing layers).
 */
class CrossFormatChainTest {
    /** Not a multiple of 64 KiB clusters nor of the VDI/VHD blocks. */
    private static final int SIZE = 3 * MIB + 1536;

    @TempDir
    Path dir;

    @BeforeAll
    static void tools() {
        QemuTools.assumeQemu();
    }

    // ---- chains built by qemu-img / qemu-io -----------------------------------------------------

    /**
     * One layer of a qemu-built chain: {@code fmt[:create options][+c]}; {@code +c} builds the base
     * by converting a patterned raw file (streamOptimized and compressed images cannot be written
     * in place), with {@code -c} for qcow/qcow2.
     */
    private record Layer(String fmt, String opts, boolean viaConvert) {
        static Layer parse(String s) {
            boolean conv = s.endsWith("+c");
            String t = conv ? s.substring(0, s.length() - 2) : s;
            int colon = t.indexOf(':');
            return colon < 0 ? new Layer(t, null, conv) : new Layer(t.substring(0, colon), t.substring(colon + 1), conv);
        }
    }

    /** Builds the chain described by {@code spec} (base first, " > " between layers); returns the layers. */
    private List<Path> qemuChain(String spec, long seed) throws IOException {
        Random rnd = new Random(seed);
        List<Path> paths = new ArrayList<>();
        String[] parts = spec.split(" > ");
        for (int i = 0; i < parts.length; i++) {
            Layer l = Layer.parse(parts[i]);
            Path p = dir.resolve("l" + i + "." + extension(l.fmt));
            List<String> cmd = new ArrayList<>(List.of("create", "-f", qemuName(l.fmt)));
            if (l.opts != null) {
                cmd.addAll(List.of("-o", l.opts));
            }
            if (i == 0 && l.viaConvert) {
                Path raw = dir.resolve("l0-source.img");
                QemuTools.img(dir, "create", "-f", "raw", raw.toString(), String.valueOf(SIZE));
                qemuIo(dir, "raw", raw, patternCommands(rnd, SIZE, 0, true));
                List<String> conv = new ArrayList<>(List.of("convert", "-O", qemuName(l.fmt)));
                if (l.fmt.startsWith("qcow")) {
                    conv.add("-c");
                }
                if (l.opts != null) {
                    conv.addAll(List.of("-o", l.opts));
                }
                conv.addAll(List.of(raw.toString(), p.toString()));
                QemuTools.img(dir, conv.toArray(new String[0]));
                Files.delete(raw);
            } else {
                if (i > 0) {
                    Path parent = paths.get(i - 1);
                    cmd.addAll(List.of("-b", parent.getFileName().toString(), "-F",
                            qemuName(Layer.parse(parts[i - 1]).fmt)));
                }
                cmd.add(p.toString());
                if (i == 0) {
                    cmd.add(String.valueOf(SIZE));
                }
                QemuTools.img(dir, cmd.toArray(new String[0]));
                List<String> io = new ArrayList<>(List.of(patternCommands(rnd, SIZE, i, true)));
                if (i > 0 && l.fmt.equals("qcow2")) { // discarding over a backing file leaves zero clusters
                    io.add("discard " + (rnd.nextInt(SIZE / (64 << 10) - 1) << 16) + " 65536");
                }
                qemuIo(dir, l.fmt, p, io.toArray(new String[0]));
            }
            paths.add(p);
        }
        return paths;
    }

    @ParameterizedTest(name = "{0}")
    @ValueSource(strings = {
        "vmdk > qcow2 > qcow2",
        "vmdk:subformat=streamOptimized+c > qcow2 > qed",
        "vmdk:subformat=twoGbMaxExtentSparse > vmdk > vmdk",
        "vmdk:subformat=monolithicFlat > vmdk > qcow2",
        "vdi > qcow2 > qcow2",
        "vdi:static=on > qed > qcow2",
        "vhd > qcow2 > qcow2",
        "vhd:subformat=fixed > qcow2 > qed",
        "raw > qcow2 > qed",
        "vhdx > qcow2 > qcow2",
        "vhdx:subformat=fixed > qed > qcow",
        "qed > qcow > qcow2",
        "qcow2+c > qcow2:cluster_size=4096 > qed",
        "qcow > qed > qcow",
    })
    void qemuBuiltChainReadsLikeQemuAndTakesWrites(String spec) throws IOException {
        List<Path> layers = qemuChain(spec, spec.hashCode());
        Path top = layers.get(layers.size() - 1);
        String[] fmts = Arrays.stream(spec.split(" > ")).map(s -> Layer.parse(s).fmt).toArray(String[]::new);
        String topFmt = fmts[fmts.length - 1];
        byte[] expect = qemuRaw(top, topFmt);
        List<FileState> parents = new ArrayList<>();
        for (Path p : layers) {
            parents.add(FileState.of(p));
        }
        try (Disk d = Disk.open(top, OpenOptions.defaultReadOnly())) {
            assertEquals(fmts.length, d.layers().size(), spec + ": layers");
            for (int i = 0; i < fmts.length; i++) {
                assertEquals(fmts[i], d.layers().get(i).format().name(), spec + ": layer " + i);
            }
            DiskBytes.assertDisk(expect, d, spec);
            DiskBytes.assertMapConsistent(expect, d, spec);
        }
        for (int i = 0; i < layers.size(); i++) {
            parents.get(i).assertUnchanged(layers.get(i)); // read-only: not even the top is touched
        }
        // writes through the library into the top, then qemu reads the chain again
        byte[] model = expect.clone();
        try (Disk d = Disk.open(top, OpenOptions.defaultReadWrite())) {
            ModelRun.scribble(d, model, new Random(spec.hashCode() * 31L), 30);
            DiskBytes.assertDisk(model, d, spec + " after writes");
            DiskBytes.assertMapConsistent(model, d, spec + " after writes");
        }
        DiskBytes.assertSame(model, qemuRaw(top, topFmt), spec + ": qemu after our writes");
        if (topFmt.equals("qcow2") || topFmt.equals("qed")) {
            QemuTools.assertClean(dir, topFmt, top.toString());
        }
        for (int i = 0; i < layers.size() - 1; i++) {
            parents.get(i).assertUnchanged(layers.get(i));
        }
    }

    /**
     * Layers of different sizes: bytes past a lower layer's end read as zeros, also when a
     * copy-on-write fill straddles it (qemu-img create with an explicit size larger or smaller
     * than the backing file).
     */
    @ParameterizedTest(name = "{0}")
    @ValueSource(strings = {"vdi 3M > qcow2 5M > qed 4M", "vhd 3M > qcow2 2M > qcow2 6M", "raw 1M > qed 3M > qcow 2M",
        "vmdk 2M > vmdk 2M > qcow2 4M"})
    void layersOfDifferentSizes(String spec) throws IOException {
        String[] parts = spec.split(" > ");
        Random rnd = new Random(spec.hashCode());
        Path prev = null;
        String prevFmt = null;
        for (int i = 0; i < parts.length; i++) {
            String fmt = parts[i].split(" ")[0];
            long size = Sizes.parse(parts[i].split(" ")[1]) + (i == 0 ? 1536 : 0);
            Path p = dir.resolve("s" + i + "." + extension(fmt));
            List<String> cmd = new ArrayList<>(List.of("create", "-f", qemuName(fmt)));
            if (prev != null) {
                cmd.addAll(List.of("-b", prev.getFileName().toString(), "-F", qemuName(prevFmt)));
            }
            cmd.addAll(List.of(p.toString(), String.valueOf(size)));
            QemuTools.img(dir, cmd.toArray(new String[0]));
            long actual;
            try (Image img = FormatRegistry.open(p, OpenOptions.defaultReadOnly())) {
                actual = img.virtualSize();
            }
            qemuIo(dir, fmt, p, patternCommands(rnd, actual, i, true));
            prev = p;
            prevFmt = fmt;
        }
        byte[] model = qemuRaw(prev, prevFmt);
        try (Disk d = Disk.open(prev, OpenOptions.defaultReadWrite())) {
            DiskBytes.assertDisk(model, d, spec);
            // writes across every lower layer's end
            for (Image lower : d.layers()) {
                long end = lower.virtualSize();
                if (end < d.size()) {
                    byte[] data = new byte[30_000];
                    rnd.nextBytes(data);
                    int off = (int) Math.max(0, Math.min(end - 10_007, d.size() - data.length));
                    d.write(off, ByteBuffer.wrap(data));
                    System.arraycopy(data, 0, model, off, data.length);
                }
            }
            ModelRun.scribble(d, model, rnd, 15);
            DiskBytes.assertDisk(model, d, spec + " after writes");
        }
        DiskBytes.assertSame(model, qemuRaw(prev, prevFmt), spec + ": qemu after our writes");
    }

    // ---- chains built by this library over qemu-made parents --------------------------------------

    private static final List<String> PARENTS = List.of("raw", "vdi", "vhd", "vhdx", "vmdk", "qcow2", "qed", "qcow");
    private static final List<String> CHILDREN = List.of("vdi", "vhd", "vhdx", "qcow2", "qed", "qcow", "vmdk");
    /** Children qemu reads correctly (it refuses VDI/VHDX differencing and reads VHD ones as dynamic). */
    private static final Set<String> QEMU_READS = Set.of("qcow2", "qed", "qcow", "vmdk");

    @TempDir
    static Path shared;
    private static final Map<String, Path> BASES = new HashMap<>();

    /** A qemu-made base of format {@code fmt} with patterns, shared by the tests of this class. */
    private static Path base(String fmt) throws IOException {
        return base(fmt, null);
    }

    /** A variant of a base: qemu create options, or (streamOptimized) converted from patterned raw. */
    private static Path base(String fmt, String opts) throws IOException {
        String key = opts == null ? fmt : fmt + ":" + opts;
        Path existing = BASES.get(key);
        if (existing != null) {
            return existing;
        }
        Path p = shared.resolve("base-" + key.replaceAll("[^a-zA-Z0-9]", "-") + "." + extension(fmt));
        Random rnd = new Random(key.hashCode());
        List<String> o = opts == null ? List.of() : List.of("-o", opts);
        if (opts != null && opts.contains("streamOptimized")) {
            Path raw = shared.resolve("stream-source.img");
            QemuTools.img(shared, "create", "-f", "raw", raw.toString(), String.valueOf(SIZE));
            qemuIo(shared, "raw", raw, patternCommands(rnd, SIZE, 0, true));
            List<String> cmd = new ArrayList<>(List.of("convert", "-O", qemuName(fmt)));
            cmd.addAll(o);
            cmd.addAll(List.of(raw.toString(), p.toString()));
            QemuTools.img(shared, cmd.toArray(new String[0]));
            Files.delete(raw);
        } else {
            List<String> cmd = new ArrayList<>(List.of("create", "-f", qemuName(fmt)));
            cmd.addAll(o);
            cmd.addAll(List.of(p.toString(), String.valueOf(SIZE)));
            QemuTools.img(shared, cmd.toArray(new String[0]));
            qemuIo(shared, fmt, p, patternCommands(rnd, SIZE, 0, true));
        }
        BASES.put(key, p);
        return p;
    }

    static Stream<Arguments> pairs() {
        List<Arguments> out = new ArrayList<>();
        for (String c : CHILDREN) {
            for (String p : PARENTS) {
                out.add(Arguments.of(c, p));
            }
        }
        return out.stream();
    }

    /** Why {@code child} cannot be created over {@code parent}, or null if it can. */
    private static String refusal(String child, String parent) {
        if (child.equals("vhdx") && !parent.equals("vhdx")) {
            return "a differencing VHDX needs a VHDX parent";
        }
        if (child.equals("vmdk") && !parent.equals("vmdk")) {
            return "the parent of a VMDK must be a VMDK";
        }
        if (child.equals("vdi") && Set.of("raw", "qcow2", "qed", "qcow").contains(parent)) {
            return "has no UUID a VDI differencing image could link to";
        }
        return null;
    }

    private static CreateOptions childOptions(String child) {
        CreateOptions o = CreateOptions.of(0);
        return switch (child) {
            case "vdi" -> o.with("block_size", "256K");
            case "vhd" -> o.with("block_size", "512K");
            case "vhdx" -> o.with("block_size", "1M");
            default -> o;
        };
    }

    @ParameterizedTest(name = "{0} child over {1} parent")
    @MethodSource("pairs")
    void ownChildOverQemuParent(String child, String parentFmt) throws IOException {
        ownChildOver(child, parentFmt, base(parentFmt));
    }

    /** Parents of other variants: fixed VHD/VHDX, static VDI, streamOptimized and flat VMDK. */
    @ParameterizedTest(name = "{0} child over {1}:{2} parent")
    @CsvSource(delimiter = '|', value = {
        "vdi|vhd|subformat=fixed", "vhd|vdi|static=on", "qcow2|vhd|subformat=fixed", "vhdx|vhdx|subformat=fixed",
        "qcow2|vmdk|subformat=streamOptimized", "vmdk|vmdk|subformat=streamOptimized",
        "vmdk|vmdk|subformat=monolithicFlat", "vhd|vmdk|subformat=twoGbMaxExtentSparse", "qed|vdi|static=on"})
    void ownChildOverParentVariant(String child, String parentFmt, String opts) throws IOException {
        ownChildOver(child, parentFmt, base(parentFmt, opts));
    }

    private void ownChildOver(String child, String parentFmt, Path parent) throws IOException {
        FileState before = FileState.of(parent);
        String stem = parent.getFileName().toString().replace('.', '-');
        Path childPath = shared.resolve("child-" + child + "-over-" + stem + "." + extension(child));
        ImageFormat f = FormatRegistry.require(child);
        String why = refusal(child, parentFmt);
        try (Disk pd = Disk.open(parent, OpenOptions.defaultReadOnly())) {
            if (why != null) {
                VdException e = assertThrows(VdException.class,
                        () -> f.create(childPath, childOptions(child).withParent(pd, parent)).close());
                DiskBytes.assertOneLine(e, child + ":", why);
                assertEquals(false, Files.exists(childPath), "a refused create leaves no file");
                return;
            }
            f.create(childPath, childOptions(child).withParent(pd, parent)).close();
        }
        byte[] parentBytes = qemuRaw(parent, parentFmt);
        byte[] model;
        try (Disk d = Disk.open(childPath, OpenOptions.defaultReadWrite())) {
            assertEquals(2, d.layers().size());
            assertEquals(parentFmt, d.layers().get(0).format().name());
            assertEquals(child, d.top().format().name());
            assertEquals(true, d.size() >= parentBytes.length && d.size() - parentBytes.length < 512,
                    "child size " + d.size() + " vs parent " + parentBytes.length);
            model = Arrays.copyOf(parentBytes, (int) d.size());
            DiskBytes.assertDisk(model, d, child + " over " + parentFmt + " (fresh)");
            ModelRun.scribble(d, model, new Random(child.hashCode() * 17L + parentFmt.hashCode()), 30);
            DiskBytes.assertDisk(model, d, child + " over " + parentFmt);
            DiskBytes.assertMapConsistent(model, d, child + " over " + parentFmt);
        }
        try (Disk d = Disk.open(childPath, OpenOptions.defaultReadOnly())) {
            assertEquals(2, d.layers().size());
            DiskBytes.assertDisk(model, d, child + " over " + parentFmt + " reopened");
        }
        if (QEMU_READS.contains(child)) {
            DiskBytes.assertSame(model, qemuRaw(childPath, child), child + " over " + parentFmt + ": qemu");
        }
        if (child.equals("qcow2") || child.equals("qed")) {
            QemuTools.assertClean(shared, child, childPath.toString());
        }
        before.assertUnchanged(parent);
    }

    /**
     * Four threads write disjoint, unaligned pieces into the same fresh blocks of a child whose
     * parent is of another format: every copy-on-write fill must keep the others' bytes.
     */
    @ParameterizedTest(name = "{0} child over {1} parent")
    @CsvSource({"vdi,vhd", "vhd,vdi", "vhdx,vhdx", "qcow2,vdi", "qed,vhd", "vmdk,vmdk", "qcow,raw"})
    void concurrentWritersIntoFreshBlocks(String child, String parentFmt) throws Exception {
        Path parent = base(parentFmt);
        Path childPath = shared.resolve("conc-" + child + "-over-" + parentFmt + "." + extension(child));
        try (Disk pd = Disk.open(parent, OpenOptions.defaultReadOnly())) {
            FormatRegistry.require(child).create(childPath, childOptions(child).withParent(pd, parent)).close();
        }
        byte[] model = Arrays.copyOf(qemuRaw(parent, parentFmt), SIZE + 512);
        int threads = 4;
        int piece = 1031;
        int pieces = 600; // ~600 KiB from offset 1000: several blocks of every format here
        try (Disk d = Disk.open(childPath, OpenOptions.defaultReadWrite())) {
            model = Arrays.copyOf(model, (int) d.size());
            CyclicBarrier start = new CyclicBarrier(threads);
            ExecutorService pool = Executors.newFixedThreadPool(threads);
            try {
                List<Future<?>> done = new ArrayList<>();
                for (int t = 0; t < threads; t++) {
                    int id = t;
                    done.add(pool.submit(() -> {
                        start.await();
                        for (int j = id; j < pieces; j += threads) {
                            byte[] b = new byte[piece];
                            Arrays.fill(b, (byte) (j * 7 + 1));
                            d.write(1000 + (long) j * piece, ByteBuffer.wrap(b));
                        }
                        return null;
                    }));
                }
                for (Future<?> f : done) {
                    f.get();
                }
            } finally {
                pool.shutdown();
            }
            for (int j = 0; j < pieces; j++) {
                Arrays.fill(model, 1000 + j * piece, 1000 + (j + 1) * piece, (byte) (j * 7 + 1));
            }
            DiskBytes.assertDisk(model, d, child + " over " + parentFmt + " after concurrent writes");
        }
        try (Disk d = Disk.open(childPath, OpenOptions.defaultReadOnly())) {
            DiskBytes.assertDisk(model, d, child + " over " + parentFmt + " reopened");
        }
    }

    /**
     * A child of a 4 KiB-sector VHDX reads as a 4 KiB-sector disk even when its own format
     * records no sector size: partition tables inside count in 4 KiB LBAs.
     */
    @ParameterizedTest
    @ValueSource(strings = {"vhdx", "qcow2", "vhd", "vdi", "qed", "qcow"})
    void sectorSizeOfTheChainComesFromTheLayerThatRecordsIt(String child) throws IOException {
        Path base = dir.resolve("base4k.vhdx");
        FormatRegistry.require("vhdx").create(base, CreateOptions.of(SIZE - 1536).with("logical_sector_size", "4096"))
                .close();
        Path c = dir.resolve("child4k." + extension(child));
        try (Disk pd = Disk.open(base, OpenOptions.defaultReadOnly())) {
            assertEquals(4096, pd.logicalSectorSize());
            FormatRegistry.require(child).create(c, CreateOptions.of(0).withParent(pd, base)).close();
        }
        try (Disk d = Disk.open(c, OpenOptions.defaultReadOnly())) {
            assertEquals(4096, d.logicalSectorSize(), child + " over a 4K VHDX");
        }
    }

    // ---- longer chains mixing our differencing formats ----------------------------------------------

    /** raw ← vhd ← vdi ← vhd ← qcow2, each created by this library and written through the chain. */
    @Test
    void fiveLevelMixedChainOfOwnLayers() throws IOException {
        Path base = dir.resolve("base.img");
        QemuTools.img(dir, "create", "-f", "raw", base.toString(), String.valueOf(SIZE));
        qemuIo(dir, "raw", base, patternCommands(new Random(5), SIZE, 0, true));
        byte[] model = qemuRaw(base, "raw");
        String[] formats = {"vhd", "vdi", "vhd", "qcow2"};
        Path parent = base;
        Random rnd = new Random(55);
        List<byte[]> snapshots = new ArrayList<>();
        List<Path> layers = new ArrayList<>(List.of(base));
        for (int i = 0; i < formats.length; i++) {
            Path child = dir.resolve("layer" + (i + 1) + "." + extension(formats[i]));
            try (Disk pd = Disk.open(parent, OpenOptions.defaultReadOnly())) {
                FormatRegistry.require(formats[i]).create(child, childOptions(formats[i]).withParent(pd, parent)).close();
            }
            try (Disk d = Disk.open(child, OpenOptions.defaultReadWrite())) {
                assertEquals(i + 2, d.layers().size());
                ModelRun.scribble(d, model, rnd, 20);
            }
            snapshots.add(model.clone());
            layers.add(child);
            parent = child;
        }
        // every level still reads as it was when its child was created
        for (int i = 0; i < formats.length; i++) {
            try (Disk d = Disk.open(layers.get(i + 1), OpenOptions.defaultReadOnly())) {
                assertEquals(i + 2, d.layers().size());
                DiskBytes.assertDisk(snapshots.get(i), d, "level " + (i + 1));
            }
        }
        // with the chain copied elsewhere, the UUID-linked VDI layer is still found
        Path copy = Files.createDirectory(dir.resolve("copy"));
        for (Path p : layers) {
            Files.copy(p, copy.resolve(p.getFileName()));
        }
        try (Disk d = Disk.open(copy.resolve(layers.get(layers.size() - 1).getFileName()),
                OpenOptions.defaultReadOnly())) {
            for (Image img : d.layers()) {
                assertEquals(copy, img.storage().path().getParent(), "copied chain resolves inside the copy");
            }
            DiskBytes.assertDisk(model, d, "copied chain");
        }
    }

    /** Refusals that do not depend on the parent's format are one-line errors too. */
    @Test
    void refusedCreatesAreOneLine() throws IOException {
        Path parent = dir.resolve("p.vhd");
        QemuTools.img(dir, "create", "-f", "vpc", parent.toString(), String.valueOf(SIZE));
        try (Disk pd = Disk.open(parent, OpenOptions.defaultReadOnly())) {
            VdException e = assertThrows(VdException.class, () -> FormatRegistry.require("raw")
                    .create(dir.resolve("c.img"), CreateOptions.of(0).withParent(pd, parent)).close());
            DiskBytes.assertOneLine(e, "raw");
            e = assertThrows(VdException.class, () -> FormatRegistry.require("vhd")
                    .create(dir.resolve("c.vhd"), CreateOptions.of(0).with("subformat", "fixed").withParent(pd, parent))
                    .close());
            DiskBytes.assertOneLine(e, "vhd:");
            e = assertThrows(VdException.class, () -> FormatRegistry.require("vdi")
                    .create(dir.resolve("c.vdi"), CreateOptions.of(0).with("subformat", "fixed").withParent(pd, parent))
                    .close());
            DiskBytes.assertOneLine(e, "vdi:");
            e = assertThrows(VdException.class, () -> FormatRegistry.require("vmdk")
                    .create(dir.resolve("c.vmdk"), CreateOptions.of(0).withParent(pd, parent)).close());
            DiskBytes.assertOneLine(e, "vmdk:", "vhd");
        }
    }
}
