package org.vdmount.vd;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.vdmount.vd.ChainTesting.MIB;
import static org.vdmount.vd.ChainTesting.patternCommands;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.UUID;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;
import org.junit.jupiter.params.provider.ValueSource;
import org.vdmount.vd.conformance.DiskBytes;
import org.vdmount.vd.format.qcow2.QemuTools;

/**
 * {@link ChainRebase}: against {@code qemu-img rebase} on qcow2 and QED chains (safe, unsafe, standalone),
 * against the byte model on VDI and VHD chains (read back by our reader, by qemu where it follows
 * them, and by libvhdi's vhdiinfo for the VHD parent link), and the refusals.
 */
class ChainRebaseTest {
    static final int SIZE = 6 * MIB + 4096;
    private static final OpenOptions RO = OpenOptions.defaultReadOnly();
    private static final OpenOptions RW = OpenOptions.defaultReadWrite();

    @TempDir
    Path dir;

    // ---- against qemu-img rebase ----------------------------------------------------------------

    /** old &lt;- top, and new = old with changes (qcow2, QED): rebase top onto new (or none). */
    @ParameterizedTest
    @CsvSource({"qcow2,new,false", "qcow2,'',false", "qcow2,new,true", "qed,new,false", "qed,'',false",
        "qed,new,true"})
    void matchesQemuImgRebase(String fmt, String newName, boolean unsafe) throws IOException {
        String target = newName.isEmpty() ? "" : newName + "." + fmt;
        QemuTools.assumeQemu();
        Random rnd = new Random(target.length() + (unsafe ? 100 : 0));
        String[] oldCmds = patternCommands(rnd, SIZE, 0, false);
        String[] newCmds = patternCommands(rnd, SIZE, 1, true);
        String[] topCmds = patternCommands(rnd, SIZE, 2, true);
        for (String side : List.of("ours", "qemu")) {
            Path d = Files.createDirectories(dir.resolve(side));
            QemuTools.img(d, "create", "-q", "-f", fmt, "old." + fmt, String.valueOf(SIZE));
            QemuTools.io(d, fmt, "old." + fmt, oldCmds);
            QemuTools.img(d, "convert", "-f", fmt, "-O", fmt, "old." + fmt, "new." + fmt);
            QemuTools.io(d, fmt, "new." + fmt, newCmds);
            QemuTools.img(d, "create", "-q", "-f", fmt, "-b", "old." + fmt, "-F", fmt, "top." + fmt);
            QemuTools.io(d, fmt, "top." + fmt, topCmds);
        }
        Path ours = dir.resolve("ours");
        Path qemu = dir.resolve("qemu");
        byte[] before = ChainTesting.qemuRaw(ours.resolve("top." + fmt), fmt);

        ChainRebase.Result r = ChainRebase.rebase(ours.resolve("top." + fmt), null,
                new ChainRebase.Request(target, null, unsafe), RW, p -> { });
        assertEquals("old." + fmt, r.oldBacking());
        if (unsafe) {
            QemuTools.img(qemu, "rebase", "-u", "-b", target, "-F", fmt, "top." + fmt);
        } else if (target.isEmpty()) {
            QemuTools.img(qemu, "rebase", "-b", "", "top." + fmt);
        } else {
            QemuTools.img(qemu, "rebase", "-b", target, "-F", fmt, "top." + fmt);
        }
        assertEquals(0, QemuTools.run(dir, true, "qemu-img", "compare", "-q", ours.resolve("top." + fmt).toString(),
                qemu.resolve("top." + fmt).toString()).exit(), "the same guest contents as qemu-img rebase's");
        assertTrue(QemuTools.img(ours, "check", "top." + fmt).contains("No errors"), "qemu-img check clean");
        String info = QemuTools.img(ours, "info", "--backing-chain", "top." + fmt);
        if (target.isEmpty()) {
            assertFalse(info.contains("backing file"), info);
        } else {
            assertTrue(info.contains("backing file: new." + fmt), info);
            if (fmt.equals("qcow2")) {
                assertTrue(info.contains("backing file format: qcow2"), info);
            }
        }
        if (unsafe) {
            assertEquals(0, r.dataBytes() + r.zeroBytes(), "-u copies nothing");
        } else {
            DiskBytes.assertSame(before, ChainTesting.qemuRaw(ours.resolve("top." + fmt), fmt),
                    "qemu reads the rebased chain as the old one");
            assertTrue(r.dataBytes() > 0, "differences copied");
            if (!target.isEmpty()) {
                assertTrue(r.dataBytes() + r.zeroBytes() < SIZE / 2, "equal ranges are skipped: "
                        + (r.dataBytes() + r.zeroBytes()));
            }
            try (Disk d = Disk.open(ours.resolve("top." + fmt), RO)) {
                DiskBytes.assertDisk(before, d, "our reader");
                assertEquals(target.isEmpty() ? 1 : 2, d.layers().size());
            }
        }
    }

    /**
     * VMDK (qemu-img cannot rebase it: "Operation not supported"): a qemu-built chain rebased by
     * us, then read by qemu (which checks parentCID against the parent's CID) and by libvmdk.
     */
    @ParameterizedTest
    @ValueSource(strings = {"new.vmdk", ""})
    void vmdkRebasedReadsTheSameToQemuAndLibvmdk(String target) throws IOException {
        QemuTools.assumeQemu();
        Random rnd = new Random(31 + target.length());
        QemuTools.img(dir, "create", "-q", "-f", "vmdk", "old.vmdk", String.valueOf(SIZE));
        QemuTools.io(dir, "vmdk", "old.vmdk", patternCommands(rnd, SIZE, 0, false));
        QemuTools.img(dir, "convert", "-f", "vmdk", "-O", "vmdk", "old.vmdk", "new.vmdk");
        QemuTools.io(dir, "vmdk", "new.vmdk", patternCommands(rnd, SIZE, 1, false));
        QemuTools.img(dir, "create", "-q", "-f", "vmdk", "-b", "old.vmdk", "-F", "vmdk", "top.vmdk");
        QemuTools.io(dir, "vmdk", "top.vmdk", patternCommands(rnd, SIZE, 2, false));
        byte[] before = ChainTesting.qemuRaw(dir.resolve("top.vmdk"), "vmdk");

        ChainRebase.Result r = ChainRebase.rebase(dir.resolve("top.vmdk"), null,
                new ChainRebase.Request(target, null, false), RW, p -> { });
        assertTrue(r.dataBytes() > 0, "differences copied: " + r);
        DiskBytes.assertSame(before, ChainTesting.qemuRaw(dir.resolve("top.vmdk"), "vmdk"), "qemu reads the same");
        String info = QemuTools.img(dir, "info", "top.vmdk");
        assertEquals(!target.isEmpty(), info.contains("backing file: new.vmdk"), info);
        assertTrue(QemuTools.img(dir, "check", "top.vmdk").contains("No errors"));
        if (!target.isEmpty()) {
            String vi = QemuTools.run(dir, false, "vmdkinfo", dir.resolve("top.vmdk").toString()).out();
            assertTrue(vi.contains("Parent filename:\t\tnew.vmdk"), vi);
        }
        try (Disk d = Disk.open(dir.resolve("top.vmdk"), RO)) {
            DiskBytes.assertDisk(before, d, "our reader");
        }
    }

    // ---- against the byte model ------------------------------------------------------------------

    /** base &lt;- child and another base: child rebased onto it reads the same, linked to it. */
    @ParameterizedTest
    @ValueSource(strings = {"vdi", "vhd", "vhdx", "qcow2"})
    void differencingChainAgainstModel(String fmt) throws IOException {
        Path base = dir.resolve("base." + fmt);
        Path other = dir.resolve("other." + fmt);
        Path child = dir.resolve("child." + fmt);
        byte[] model = chain(base, fmt, child, fmt, 5);
        makeBase(other, fmt, 6);

        ChainRebase.Result r = ChainRebase.rebase(child, null, new ChainRebase.Request("other." + fmt, null, false),
                RW, p -> { });
        UUID otherId;
        try (Disk d = Disk.open(child, RO)) {
            DiskBytes.assertDisk(model, d, fmt + " rebased");
            assertTrue(r.dataBytes() + r.zeroBytes() > 0, "differences copied: " + r);
            assertEquals(2, d.layers().size());
            assertTrue(Files.isSameFile(other, d.layers().get(0).storage().path()), "linked to the new base");
            otherId = d.layers().get(0).linkUuid();
            if (otherId != null) {
                assertEquals(otherId, d.top().parent().uuid(), "parent identity recorded");
            }
        }
        if (fmt.equals("vhdx")) {
            try (Image img = FormatRegistry.require("vhdx").open(child, RO)) {
                Map<?, ?> loc = (Map<?, ?>) img.details().get("parent-locator");
                assertEquals(".\\other.vhdx", loc.get("relative_path"), loc.toString());
                assertEquals("{" + otherId + "}", loc.get("parent_linkage"), loc.toString());
                assertEquals("clean", img.details().get("log"), "the log is empty after the edit");
            }
        }
        if (fmt.equals("vhd")) {
            String vi = QemuTools.run(dir, false, "vhdiinfo", child.toString()).out();
            assertTrue(vi.contains(otherId.toString()) && vi.contains("other.vhd"), vi);
        }
        if (fmt.equals("qcow2") && QemuTools.available()) {
            DiskBytes.assertSame(model, ChainTesting.qemuRaw(child, "qcow2"), "qemu reads the rebased chain");
        }
    }

    /** -b "": VDI becomes a normal image and qcow2 loses its backing file; qemu reads them alone. */
    @ParameterizedTest
    @ValueSource(strings = {"vdi", "qcow2"})
    void standaloneAgainstModel(String fmt) throws IOException {
        Path base = dir.resolve("base." + fmt);
        Path child = dir.resolve("child." + fmt);
        byte[] model = chain(base, fmt, child, fmt, 9);
        ChainRebase.rebase(child, null, new ChainRebase.Request("", null, false), RW, p -> { });
        Files.delete(base);
        try (Disk d = Disk.open(child, RO)) {
            DiskBytes.assertDisk(model, d, fmt + " made standalone");
            assertEquals(1, d.layers().size());
            assertEquals(null, d.top().parent());
        }
        if (QemuTools.available()) {
            DiskBytes.assertSame(model, ChainTesting.qemuRaw(child, fmt), "qemu reads the standalone image");
            assertTrue(QemuTools.img(dir, "check", "-f", fmt, child.toString()).contains("No errors"));
        }
    }

    // ---- refusals --------------------------------------------------------------------------------

    @Test
    void refusesCyclesMissingFilesAndWhatAFormatCannotRecord() throws IOException {
        Path base = dir.resolve("b.vhd");
        Path child = dir.resolve("c.vhd");
        chain(base, "vhd", child, "vhd", 3);
        byte[] bytes = Files.readAllBytes(child);
        ChainException c = assertThrows(ChainException.class, () -> ChainRebase.rebase(base, null,
                new ChainRebase.Request("c.vhd", null, false), RW, p -> { }));
        assertTrue(c.getMessage().contains("cycle"), c.getMessage());
        c = assertThrows(ChainException.class, () -> ChainRebase.rebase(child, null,
                new ChainRebase.Request("c.vhd", null, true), RW, p -> { }));
        assertTrue(c.getMessage().contains("image itself"), c.getMessage());
        NoSuchFileException n = assertThrows(NoSuchFileException.class, () -> ChainRebase.rebase(child, null,
                new ChainRebase.Request("gone.vhd", null, false), RW, p -> { }));
        assertTrue(n.getMessage().contains("gone.vhd"), n.getMessage());
        // -u onto a missing file: only formats that record no identity, and only with -F
        UnsupportedFeatureException u = assertThrows(UnsupportedFeatureException.class, () -> ChainRebase.rebase(
                child, null, new ChainRebase.Request("gone.vhd", FormatRegistry.require("vhd"), true), RW, p -> { }));
        assertTrue(u.getMessage().startsWith("vhd: ") && u.getMessage().contains("must exist"), u.getMessage());
        u = assertThrows(UnsupportedFeatureException.class, () -> ChainRebase.rebase(child, null,
                new ChainRebase.Request("", null, false), RW, p -> { }));
        assertTrue(u.getMessage().contains("standalone") && u.getMessage().contains("vd convert"), u.getMessage());
        assertEquals(-1, java.util.Arrays.mismatch(bytes, Files.readAllBytes(child)), "refusals change nothing");
        Path raw = dir.resolve("r.img");
        Files.write(raw, new byte[4096]);
        u = assertThrows(UnsupportedFeatureException.class, () -> ChainRebase.rebase(raw, null,
                new ChainRebase.Request("b.vhd", null, false), RW, p -> { }));
        assertTrue(u.getMessage().startsWith("raw: "), u.getMessage());
    }

    @Test
    void unsafeOntoAMissingFileWithItsFormatAsQemuImg() throws IOException {
        Path base = dir.resolve("b.qcow2");
        Path child = dir.resolve("c.qcow2");
        chain(base, "qcow2", child, "qcow2", 4);
        NoSuchFileException e = assertThrows(NoSuchFileException.class, () -> ChainRebase.rebase(child, null,
                new ChainRebase.Request("gone.qcow2", null, true), RW, p -> { }));
        assertTrue(e.getMessage().contains("-F"), e.getMessage());
        Files.delete(base); // -u opens only the image: a missing old backing file is what it repairs
        ChainRebase.rebase(child, null, new ChainRebase.Request("gone.qcow2", FormatRegistry.require("qcow2"), true),
                RW, p -> { });
        try (Image img = FormatRegistry.require("qcow2").open(child, RO)) {
            assertEquals(List.of("gone.qcow2"), img.parent().locators());
            assertEquals("qcow2", img.parent().formatHint());
        }
        makeBase(dir.resolve("other.qcow2"), "qcow2", 12);
        ChainRebase.rebase(child, null, new ChainRebase.Request("other.qcow2", null, true), RW, p -> { });
        try (Disk d = Disk.open(child, RO)) {
            assertEquals(2, d.layers().size(), "relinked");
        }
    }

    // ---- fixtures --------------------------------------------------------------------------------

    /** Makes base (random data) and a child over it (data, zeroed ranges); returns the chain's bytes. */
    static byte[] chain(Path base, String baseFmt, Path child, String childFmt, long seed) throws IOException {
        Random rnd = new Random(seed);
        makeBase(base, baseFmt, seed + 1000);
        try (Disk pd = Disk.open(base, RO)) {
            FormatRegistry.require(childFmt).create(child, CreateOptions.of(0).withParent(pd, base.getFileName()))
                    .close();
        }
        try (Disk d = Disk.open(child, RW)) {
            scribble(d, rnd, true);
            return DiskBytes.readAll(d);
        }
    }

    static void makeBase(Path base, String fmt, long seed) throws IOException {
        FormatRegistry.require(fmt).create(base, CreateOptions.of(SIZE)).close();
        try (Disk d = Disk.open(base, RW)) {
            scribble(d, new Random(seed), false);
        }
    }

    /**
     * Unaligned random writes, in a child fewer and smaller (so that it leaves blocks to its
     * parent) and a few zeroed ranges (whole blocks and partial ones).
     */
    static void scribble(Disk d, Random rnd, boolean zeros) throws IOException {
        for (int i = 0; i < (zeros ? 3 : 8); i++) {
            int len = 1 + rnd.nextInt(zeros ? 100_000 : 400_000);
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
}
