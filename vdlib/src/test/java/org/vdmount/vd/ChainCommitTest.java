package org.vdmount.vd;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.vdmount.vd.ChainTesting.MIB;
import static org.vdmount.vd.ChainTesting.patternCommands;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Random;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;
import org.vdmount.vd.conformance.DiskBytes;
import org.vdmount.vd.format.qcow2.QemuTools;
import org.vdmount.vd.storage.WriteFault;

/**
 * {@link ChainCommit}: against {@code qemu-img commit} on qcow2 chains, against the byte model on
 * chains only this library builds (VDI/VHD/VHDX differencing, mixed formats), and under crashes at
 * every stage (writes dropped after the Nth, as kill -9 leaves the files).
 */
class ChainCommitTest {
    private static final int SIZE = 6 * MIB + 4096;

    @TempDir
    Path dir;

    private static final OpenOptions RO = OpenOptions.defaultReadOnly();
    private static final OpenOptions RW = OpenOptions.defaultReadWrite();

    // ---- against qemu-img commit ----------------------------------------------------------------

    /** A qcow2 chain of three layers, qemu-built; commit into the middle and (-b) into the base. */
    @ParameterizedTest
    @CsvSource({"false", "true"})
    void qcow2ChainMatchesQemuImgCommit(boolean toBase) throws IOException {
        QemuTools.assumeQemu();
        Random rnd = new Random(toBase ? 7 : 8);
        for (String side : List.of("ours", "qemu")) {
            Path d = Files.createDirectories(dir.resolve(side));
            QemuTools.img(d, "create", "-q", "-f", "qcow2", "base.qcow2", String.valueOf(SIZE));
            QemuTools.img(d, "create", "-q", "-f", "qcow2", "-b", "base.qcow2", "-F", "qcow2", "mid.qcow2");
            QemuTools.img(d, "create", "-q", "-f", "qcow2", "-b", "mid.qcow2", "-F", "qcow2", "top.qcow2");
        }
        String[] names = {"base.qcow2", "mid.qcow2", "top.qcow2"};
        for (int layer = 0; layer < 3; layer++) {
            String[] cmds = patternCommands(rnd, SIZE, layer, layer > 0);
            for (String side : List.of("ours", "qemu")) {
                QemuTools.io(dir.resolve(side), "qcow2", names[layer], cmds);
            }
        }
        Path ours = dir.resolve("ours");
        Path qemu = dir.resolve("qemu");
        byte[] before = ChainTesting.qemuRaw(ours.resolve("top.qcow2"), "qcow2");

        ChainCommit.Result r = ChainCommit.commit(ours.resolve("top.qcow2"),
                toBase ? ours.resolve("base.qcow2") : null, RW, p -> { });
        assertEquals(toBase ? 2 : 1, r.layersMerged());
        if (toBase) {
            QemuTools.img(qemu, "commit", "-q", "-b", "base.qcow2", "top.qcow2");
        } else {
            QemuTools.img(qemu, "commit", "-q", "-d", "top.qcow2");
        }
        String target = toBase ? "base.qcow2" : "mid.qcow2";
        assertEquals(0, QemuTools.run(dir, true, "qemu-img", "compare", "-q", ours.resolve(target).toString(),
                qemu.resolve(target).toString()).exit(), "committed " + target + " same as qemu-img's");
        assertTrue(QemuTools.img(ours, "check", target).contains("No errors"), "qemu-img check clean");
        DiskBytes.assertSame(before, ChainTesting.qemuRaw(ours.resolve("top.qcow2"), "qcow2"), "chain from top");
        try (Disk d = Disk.open(ours.resolve("top.qcow2"), RO)) {
            DiskBytes.assertDisk(before, d, "chain from top, our reader");
        }
    }

    // ---- against the byte model ------------------------------------------------------------------

    /** Chains qemu cannot write (VDI/VHD/VHDX differencing) and mixed formats: base then child. */
    @ParameterizedTest
    @CsvSource({"vdi,vdi", "vhd,vhd", "vhdx,vhdx", "vdi,qcow2", "vhdx,qcow2", "raw,qcow2", "vhd,qcow2"})
    void differencingChainAgainstModel(String baseFmt, String childFmt) throws IOException {
        Path base = dir.resolve("base." + baseFmt);
        Path child = dir.resolve("child." + childFmt);
        byte[] model = chain(base, baseFmt, child, childFmt, 11);

        ChainCommit.Result r = ChainCommit.commit(child, null, RW, p -> { });

        // a VHDX's DataWriteGuid changes with its data (VHDX 1.0 2.2.2.1): its child must be relinked
        assertEquals(baseFmt.equals("vhdx") && childFmt.equals("vhdx") ? child : null, r.staleLink(),
                "stale link reported (a qcow2 child records no identity)");
        try (Disk d = Disk.open(child, RO.withIgnoreParentUuid(baseFmt.equals("vhdx")))) {
            DiskBytes.assertDisk(model, d, baseFmt + "<-" + childFmt + " chain after commit");
        }
        try (Disk d = Disk.open(base, RO)) {
            DiskBytes.assertDisk(model, d, baseFmt + " base after commit");
        }
        if (QemuTools.available() && !baseFmt.equals("raw")) {
            String q = ChainTesting.qemuName(baseFmt);
            DiskBytes.assertSame(model, ChainTesting.qemuRaw(base, baseFmt), "qemu reads the committed base");
            if (!q.equals("vpc")) {
                assertTrue(QemuTools.img(dir, "check", "-f", q, base.toString()).contains("No errors"),
                        "qemu-img check clean on " + base);
            }
        }
    }

    /** Makes base (random data) and a child over it (data, zeroed ranges); returns the chain's bytes. */
    private static byte[] chain(Path base, String baseFmt, Path child, String childFmt, long seed) throws IOException {
        Random rnd = new Random(seed);
        FormatRegistry.require(baseFmt).create(base, CreateOptions.of(SIZE)).close();
        try (Disk d = Disk.open(base, RW)) {
            scribble(d, rnd, false);
        }
        try (Disk pd = Disk.open(base, RO)) {
            FormatRegistry.require(childFmt).create(child, CreateOptions.of(0).withParent(pd, base.getFileName())).close();
        }
        try (Disk d = Disk.open(child, RW)) {
            scribble(d, rnd, true);
            return DiskBytes.readAll(d);
        }
    }

    /** Unaligned random writes, a few zeroed ranges (whole blocks and partial ones). */
    private static void scribble(Disk d, Random rnd, boolean zeros) throws IOException {
        for (int i = 0; i < 12; i++) {
            int len = 1 + rnd.nextInt(400_000);
            long off = (long) (rnd.nextDouble() * (d.size() - len));
            byte[] b = new byte[len];
            rnd.nextBytes(b);
            d.write(off, ByteBuffer.wrap(b));
        }
        if (zeros) {
            d.zero(2 * MIB, 2 * MIB);
            d.zero(123_456, 70_000);
        }
    }

    // ---- refusals --------------------------------------------------------------------------------

    @Test
    void refusesBaseImageAndForeignBase() throws IOException {
        Path base = dir.resolve("b.vdi");
        Path child = dir.resolve("c.vdi");
        chain(base, "vdi", child, "vdi", 3);
        VdException e = assertThrows(VdException.class, () -> ChainCommit.commit(base, null, RW, p -> { }));
        assertTrue(e.getMessage().contains("no backing file"), e.getMessage());
        Path other = dir.resolve("o.raw");
        Files.write(other, new byte[512]);
        ChainException c = assertThrows(ChainException.class, () -> ChainCommit.commit(child, other, RW, p -> { }));
        assertTrue(c.getMessage().contains("not in the backing chain"), c.getMessage());
        e = assertThrows(VdException.class, () -> ChainCommit.commit(child, child, RW, p -> { }));
        assertTrue(e.getMessage().contains("image itself"), e.getMessage());
    }

    /** The base is in use (another open of it, as a mount would hold it): nothing is written. */
    @Test
    void refusesWhileTheBaseIsInUse() throws IOException {
        Path base = dir.resolve("b.vdi");
        Path child = dir.resolve("c.vdi");
        chain(base, "vdi", child, "vdi", 4);
        byte[] bytes = Files.readAllBytes(base);
        try (Disk reader = Disk.open(base, RO)) {
            ImageInUseException e = assertThrows(ImageInUseException.class,
                    () -> ChainCommit.commit(child, null, RW, p -> { }));
            assertTrue(e.getMessage().contains("b.vdi"), e.getMessage());
        }
        assertEquals(-1, java.util.Arrays.mismatch(bytes, Files.readAllBytes(base)), "base untouched");
    }

    /** A child larger than its base with data past the base's end: refused, naming the offset. */
    @Test
    void refusesDataPastTheTargetsEnd() throws IOException {
        Path base = dir.resolve("b.qcow2");
        FormatRegistry.require("qcow2").create(base, CreateOptions.of(MIB)).close();
        Path child = dir.resolve("c.qcow2");
        try (Disk pd = Disk.open(base, RO)) {
            FormatRegistry.require("qcow2").create(child, CreateOptions.of(2 * MIB).withParent(pd, base.getFileName()))
                    .close();
        }
        try (Disk d = Disk.open(child, RW)) {
            d.write(MIB + 65536, ByteBuffer.wrap(new byte[] {1, 2, 3}));
        }
        VdException e = assertThrows(VdException.class, () -> ChainCommit.commit(child, null, RW, p -> { }));
        assertTrue(e.getMessage().contains("0x110000") && e.getMessage().contains("vd resize"), e.getMessage());
    }

    // ---- crashes ---------------------------------------------------------------------------------

    /**
     * The process dies after N writes (every later write lost, as kill -9 leaves the files): the
     * chain from the top reads the same, and the base reopens writable and reads as before the
     * commit wherever the child does not hide it.
     */
    @ParameterizedTest
    @CsvSource({"vdi,vdi", "qcow2,qcow2", "vhdx,vhd"})
    void crashAnywhereKeepsTheChain(String baseFmt, String childFmt) throws IOException {
        Path proto = Files.createDirectories(dir.resolve("proto"));
        byte[] model = chain(proto.resolve("base." + baseFmt), baseFmt, proto.resolve("child." + childFmt), childFmt, 21);
        long total = countWrites(proto, baseFmt, childFmt);
        assertTrue(total > 3, "the commit writes (" + total + ")");
        int points = 12;
        for (int k = 0; k <= points; k++) {
            long n = total * k / points;
            Path d = copy(proto, dir.resolve("crash" + k), baseFmt, childFmt);
            WriteFault.arm(n, WriteFault.Mode.DROP, k % 2 == 1, k);
            try {
                ChainCommit.commit(d.resolve("child." + childFmt), null, RW, p -> { });
            } catch (IOException e) {
                // a dropped write may make the commit fail: the chain must still read the same
            } finally {
                WriteFault.disarm();
            }
            try (Disk reopened = Disk.open(d.resolve("child." + childFmt), RW.withIgnoreParentUuid(true))) {
                DiskBytes.assertDisk(model, reopened, "chain after a crash at write " + n + " of " + total);
            }
        }
    }

    private long countWrites(Path proto, String baseFmt, String childFmt) throws IOException {
        Path d = copy(proto, dir.resolve("count"), baseFmt, childFmt);
        WriteFault.arm(Long.MAX_VALUE, WriteFault.Mode.DROP, false, 0);
        try {
            ChainCommit.commit(d.resolve("child." + childFmt), null, RW, p -> { });
            return WriteFault.writesSeen();
        } finally {
            WriteFault.disarm();
        }
    }

    private static Path copy(Path from, Path to, String baseFmt, String childFmt) throws IOException {
        Files.createDirectories(to);
        Files.copy(from.resolve("base." + baseFmt), to.resolve("base." + baseFmt));
        Files.copy(from.resolve("child." + childFmt), to.resolve("child." + childFmt));
        return to;
    }
}
