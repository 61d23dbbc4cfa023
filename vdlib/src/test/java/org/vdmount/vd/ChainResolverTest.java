package org.vdmount.vd;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.vdmount.vd.ChainTesting.MIB;
import static org.vdmount.vd.ChainTesting.patternCommands;
import static org.vdmount.vd.ChainTesting.qemuIo;
import static org.vdmount.vd.ChainTesting.qemuRaw;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import java.util.UUID;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;
import org.vdmount.vd.format.qcow2.QemuTools;
import org.vdmount.vd.conformance.DiskBytes;
import org.vdmount.vd.conformance.ModelRun;

/**
 * Parent resolution with untrusted locators (design.md §3): what is followed, what is not, and
 * that every failure is one {@link ChainException} line — never a hang or a StackOverflowError.
 */
class ChainResolverTest {
    private static final int SIZE = 2 * MIB + 1536;

    @TempDir
    Path root;

    @BeforeAll
    static void tools() {
        QemuTools.assumeQemu();
    }

    private Path mkdir(String name) throws IOException {
        return Files.createDirectories(root.resolve(name));
    }

    /** A qcow2 base with patterns, made by qemu. */
    private Path qcow2Base(Path dir, String name, long seed) throws IOException {
        Path p = dir.resolve(name);
        QemuTools.img(dir, "create", "-f", "qcow2", p.toString(), String.valueOf(SIZE));
        qemuIo(dir, "qcow2", p, patternCommands(new Random(seed), SIZE, 0, true));
        return p;
    }

    /**
     * A qcow2 child with some data whose backing file name is exactly {@code backing}: written
     * while it has no backing file, then pointed at {@code backing} unchecked (rebase -u), so
     * qemu never opens what the locator names.
     */
    private Path qcow2Child(Path dir, String name, String backing, String backingFormat) throws IOException {
        Path p = dir.resolve(name);
        QemuTools.img(dir, "create", "-f", "qcow2", p.toString(), String.valueOf(SIZE));
        qemuIo(dir, "qcow2", p, "write -P 0xc7 70000 5000");
        QemuTools.img(dir, "rebase", "-u", "-b", backing, "-F", backingFormat, p.toString());
        return p;
    }

    private static OpenOptions ro() {
        return OpenOptions.defaultReadOnly();
    }

    private static ChainException chainFailure(Path image, OpenOptions o) {
        return assertThrows(ChainException.class, () -> Disk.open(image, o).close());
    }

    // ---- absolute and escaping locators -----------------------------------------------------------

    @Test
    void absoluteParentOutsideTheChildsDirectoryIsFollowedOnlyWhenAllowed() throws IOException {
        Path a = mkdir("a");
        Path b = mkdir("b");
        Path base = qcow2Base(a, "base.qcow2", 1);
        Path child = qcow2Child(b, "child.qcow2", base.toString(), "qcow2");
        byte[] expect = qemuRaw(child, "qcow2"); // qemu follows the absolute path

        ChainException e = chainFailure(child, ro());
        DiskBytes.assertOneLine(e, child.toString(), "--parent-dir", base.toString());

        try (Disk d = Disk.open(child, ro().withParentDirs(List.of(a)))) {
            assertEquals(base, d.layers().get(0).storage().path());
            DiskBytes.assertDisk(expect, d, "found in --parent-dir");
        }
        try (Disk d = Disk.open(child, ro().withAllowAbsoluteParents(true))) {
            assertEquals(base, d.layers().get(0).storage().path());
            DiskBytes.assertDisk(expect, d, "absolute path allowed");
        }
        Path copy = Files.copy(base, b.resolve("base.qcow2"));
        try (Disk d = Disk.open(child, ro())) {
            assertEquals(copy, d.layers().get(0).storage().path(), "the same file name next to the child");
            DiskBytes.assertDisk(expect, d, "found next to the child");
        }
    }

    @ParameterizedTest
    @ValueSource(strings = {"../base.qcow2", "../../b/base.qcow2", "./x/../../base.qcow2", "..//base.qcow2"})
    void relativeLocatorsEscapingTheDirectoryAreNotFollowed(String locator) throws IOException {
        Path b = mkdir("b");
        Path sub = mkdir("b/sub");
        mkdir("b/sub/x");
        Path base = qcow2Base(b, "base.qcow2", 2);
        Path child = qcow2Child(sub, "child.qcow2", locator, "qcow2");
        byte[] expect = qemuRaw(child, "qcow2");

        ChainException e = chainFailure(child, ro());
        DiskBytes.assertOneLine(e, child.toString(), "--parent-dir");
        assertFalse(e.getMessage().contains("tried " + base), e.getMessage());

        try (Disk d = Disk.open(child, ro().withParentDirs(List.of(b)))) {
            assertEquals(base, d.layers().get(0).storage().path(), "only the file name, in the search dir");
            DiskBytes.assertDisk(expect, d, locator);
        }
        try (Disk d = Disk.open(child, ro().withAllowAbsoluteParents(true))) {
            assertEquals(base, d.layers().get(0).storage().path());
        }
    }

    @Test
    void relativeLocatorIntoASubdirectoryIsFollowed() throws IOException {
        Path b = mkdir("b");
        Path base = qcow2Base(mkdir("b/parents"), "base.qcow2", 3);
        Path child = qcow2Child(b, "child.qcow2", "parents/base.qcow2", "qcow2");
        try (Disk d = Disk.open(child, ro())) {
            assertEquals(base, d.layers().get(0).storage().path());
            DiskBytes.assertDisk(qemuRaw(child, "qcow2"), d, "subdirectory");
        }
    }

    /** VHD/VHDX store Windows relative paths (.\\parents\\base.vhd): followed inside the directory. */
    @ParameterizedTest
    @ValueSource(strings = {"vhd", "vhdx"})
    void windowsRelativeLocatorIntoASubdirectoryIsFollowed(String fmt) throws IOException {
        Path d = mkdir("d");
        Path base = ownBase(fmt, mkdir("d/parents").resolve("base." + fmt), 18);
        Path child = d.resolve("child." + fmt);
        create(fmt, child, base);
        try (Image img = FormatRegistry.open(child, ro())) {
            assertTrue(img.parent().locators().contains(".\\parents\\base." + fmt), img.parent().locators().toString());
        }
        Path moved = Files.move(d, root.resolve("moved")); // only the relative locator can find it now
        try (Disk disk = Disk.open(moved.resolve("child." + fmt), ro())) {
            assertEquals(moved.resolve("parents").resolve("base." + fmt), disk.layers().get(0).storage().path());
        }
    }

    /** Locators an attacker would write: none of them reads a file outside the search directories. */
    @ParameterizedTest
    @ValueSource(strings = {"/etc/passwd", "../../../../../../../../etc/passwd", "/dev/zero", "/proc/self/mem",
        "file:/etc/passwd", "C:\\Windows\\..\\..\\etc\\passwd", "\\\\server\\share\\passwd", ".", "..", "/", "sub/.."})
    void hostileLocatorsNameNothingOutside(String locator) throws IOException {
        Path b = mkdir("b");
        Files.createDirectories(b.resolve("sub"));
        Path child = qcow2Child(b, "child.qcow2", locator, "raw");
        ChainException e = chainFailure(child, ro());
        DiskBytes.assertOneLine(e, child.toString());
    }

    /**
     * Seeded random backing names written straight into a qcow2 header (any bytes, malformed
     * UTF-8, NUL, separators, dot segments): every open succeeds with a parent inside the search
     * directories or fails with a one-line VdException; nothing else escapes.
     */
    @Test
    void randomLocatorsNeverEscapeTheSearchDirectories() throws Exception {
        Path b = mkdir("b");
        Path other = mkdir("other");
        qcow2Base(b, "base.qcow2", 17);
        Files.createDirectories(b.resolve("sub"));
        Files.write(b.resolve("x"), new byte[1024]);
        assertEquals(0, new ProcessBuilder("mkfifo", b.resolve("pipe").toString()).start().waitFor());
        Path child = qcow2Child(b, "child.qcow2", "p".repeat(900), "raw");
        byte[] header = Files.readAllBytes(child);
        Bytes h = Bytes.of(header);
        int nameOffset = (int) h.u64be(8);
        String[] vocabulary = {"..", ".", "/", "\\", "base.qcow2", "sub", "pipe", "x", "C:", "//", "\0", "%2e", "é",
            "\uD800", ":", "~", "*", "child.qcow2", "other", "/etc/passwd", "\\\\?\\", "file:", " "};
        Random rnd = new Random(4242);
        int opened = 0;
        int refused = 0;
        for (int i = 0; i < 600; i++) {
            byte[] name;
            if (rnd.nextInt(5) == 0) {
                name = new byte[1 + rnd.nextInt(40)];
                rnd.nextBytes(name);
            } else {
                StringBuilder sb = new StringBuilder();
                for (int k = 1 + rnd.nextInt(8); k > 0; k--) {
                    sb.append(vocabulary[rnd.nextInt(vocabulary.length)]);
                }
                if (rnd.nextBoolean()) { // a prefix of anything, then a name that exists somewhere
                    sb.append(rnd.nextBoolean() ? "/" : "\\").append(rnd.nextBoolean() ? "base.qcow2" : "x");
                }
                name = sb.toString().getBytes(StandardCharsets.UTF_8);
            }
            byte[] img = header.clone();
            Bytes.of(img).putBytes(nameOffset, java.util.Arrays.copyOf(name, Math.min(name.length, 900)))
                    .put32be(16, Math.min(name.length, 900));
            Files.write(child, img);
            OpenOptions o = rnd.nextBoolean() ? ro() : ro().withParentDirs(List.of(other, b.resolve("sub")));
            try (Disk d = Disk.open(child, o)) {
                Path parent = d.layers().get(0).storage().path().toAbsolutePath().normalize();
                assertTrue(parent.startsWith(b) || parent.startsWith(other), "followed outside: " + parent);
                assertTrue(Files.isRegularFile(parent), parent.toString());
                opened++;
            } catch (VdException e) {
                DiskBytes.assertOneLine(e);
                refused++;
            }
        }
        assertTrue(opened > 20 && refused > 100, opened + " opened, " + refused + " refused");
    }

    @Test
    void aFifoNamedByALocatorIsNotOpened() throws Exception {
        Path b = mkdir("b");
        Path fifo = b.resolve("pipe");
        Process p = new ProcessBuilder("mkfifo", fifo.toString()).start();
        assertEquals(0, p.waitFor());
        Path child = qcow2Child(b, "child.qcow2", "pipe", "raw");
        ChainException e = chainFailure(child, ro()); // a blocking open of the FIFO would hang here
        DiskBytes.assertOneLine(e, child.toString());
    }

    // ---- self references, cycles, depth ---------------------------------------------------------

    @ParameterizedTest
    @ValueSource(strings = {"self.qcow2", "./self.qcow2", "ABSOLUTE"})
    void aLocatorNamingTheChildItselfIsAClearError(String locator) throws IOException {
        Path b = mkdir("b");
        String loc = locator.equals("ABSOLUTE") ? b.resolve("self.qcow2").toString() : locator;
        Path self = qcow2Child(b, "self.qcow2", loc, "qcow2");
        for (OpenOptions o : List.of(ro(), ro().withAllowAbsoluteParents(true), ro().withParentDirs(List.of(b)))) {
            ChainException e = chainFailure(self, o);
            DiskBytes.assertOneLine(e, self.toString(), "itself");
        }
    }

    @Test
    void twoImagesBackingEachOtherAreACycle() throws IOException {
        Path d = mkdir("d");
        Path a = qcow2Base(d, "a.qcow2", 4);
        Path b = qcow2Child(d, "b.qcow2", "a.qcow2", "qcow2");
        QemuTools.img(d, "rebase", "-u", "-b", "b.qcow2", "-F", "qcow2", a.toString());
        for (Path p : List.of(a, b)) {
            ChainException e = chainFailure(p, ro());
            DiskBytes.assertOneLine(e, "cycle", p.toString());
        }
    }

    /** Symbolic links make every path of a loop new; the files are the same (real paths compared). */
    @Test
    void selfReferencesAndCyclesThroughSymbolicLinksAreDetectedEarly() throws IOException {
        Path d = mkdir("d");
        Files.createSymbolicLink(d.resolve("link"), Path.of("."));
        Path self = qcow2Child(d, "self.qcow2", "link/self.qcow2", "qcow2");
        DiskBytes.assertOneLine(chainFailure(self, ro()), "itself", self.toString());
        Files.createSymbolicLink(d.resolve("alias.qcow2"), Path.of("self2.qcow2"));
        Path self2 = qcow2Child(d, "self2.qcow2", "alias.qcow2", "qcow2");
        DiskBytes.assertOneLine(chainFailure(self2, ro()), "itself", self2.toString());
        // a -> b -> link/a: without real paths, link/link/... makes every layer look new
        Path a = qcow2Child(d, "a.qcow2", "b.qcow2", "qcow2");
        qcow2Child(d, "b.qcow2", "link/a.qcow2", "qcow2");
        ChainException e = chainFailure(a, ro());
        DiskBytes.assertOneLine(e, "cycle", a.toString());
        assertFalse(e.getMessage().contains("link/link"), e.getMessage());
    }

    @Test
    void aCycleAcrossFormatsIsDetected() throws IOException {
        Path d = mkdir("d");
        Path c = qcow2Base(d, "c.qcow2", 5);
        QemuTools.img(d, "create", "-f", "qed", "-b", "c.qcow2", "-F", "qcow2", d.resolve("b.qed").toString());
        QemuTools.img(d, "create", "-f", "qcow", "-b", "b.qed", "-F", "qed", d.resolve("a.qcow").toString());
        QemuTools.img(d, "rebase", "-u", "-b", "a.qcow", "-F", "qcow", c.toString());
        ChainException e = chainFailure(d.resolve("a.qcow"), ro());
        DiskBytes.assertOneLine(e, "cycle");
    }

    /** VDI links by UUID only (VDICore.h: uuidLinkage at 0x1A8, image type at 0x4C, uuidCreate at 0x188). */
    @Test
    void vdiImagesLinkedToEachOtherByUuidAreACycle() throws IOException {
        Path d = mkdir("d");
        Path a = ownBase("vdi", d.resolve("a.vdi"), 16);
        Path b = d.resolve("b.vdi");
        create("vdi", b, a);
        byte[] ab = Files.readAllBytes(a);
        byte[] bb = Files.readAllBytes(b);
        ab[0x4C] = 4; // differencing
        System.arraycopy(bb, 0x188, ab, 0x1A8, 16); // a's parent is b
        Files.write(a, ab);
        for (Path p : List.of(a, b)) {
            ChainException e = chainFailure(p, ro());
            DiskBytes.assertOneLine(e, "cycle");
        }
        System.arraycopy(ab, 0x188, ab, 0x1A8, 16); // a's parent is a itself
        Files.write(a, ab);
        ChainException e = chainFailure(a, ro());
        DiskBytes.assertOneLine(e, "vdi:", a.toString());
    }

    // ---- identity ---------------------------------------------------------------------------------

    /** Creates {@code child} (our format) over {@code parent}; the parent is opened read-only. */
    private static void create(String fmt, Path child, Path parent) throws IOException {
        try (Disk pd = Disk.open(parent, OpenOptions.defaultReadOnly())) {
            FormatRegistry.require(fmt).create(child, CreateOptions.of(0).withParent(pd, parent)).close();
        }
    }

    private static Path ownBase(String fmt, Path path, long seed) throws IOException {
        try (Disk d = Disk.of(List.of(FormatRegistry.require(fmt).create(path, CreateOptions.of(SIZE))))) {
            ModelRun.scribble(d, new byte[SIZE], new Random(seed), 10);
        }
        return path;
    }

    @ParameterizedTest
    @ValueSource(strings = {"vhd", "vhdx"})
    void parentUuidMismatchIsRefusedUnlessIgnored(String fmt) throws IOException {
        Path d = mkdir("d");
        Path base = d.resolve("base." + fmt);
        Path child = d.resolve("child." + fmt);
        ownBase(fmt, base, 6);
        create(fmt, child, base);
        Files.delete(base);
        ownBase(fmt, base, 7); // same name, another identity

        ChainException e = chainFailure(child, ro());
        DiskBytes.assertOneLine(e, fmt + ":", "UUID mismatch", child.toString(), base.toString());

        List<String> warnings = new ArrayList<>();
        try (Disk disk = Disk.open(child, ro().withIgnoreParentUuid(true).withWarnings(warnings::add))) {
            assertEquals(2, disk.layers().size());
            assertEquals(base, disk.layers().get(0).storage().path());
        }
        assertTrue(warnings.stream().anyMatch(w -> w.contains("UUID mismatch") && w.contains("ignored")),
                warnings.toString());
    }

    @Test
    void vmdkParentCidChangedByAWriteIsAMismatch() throws IOException {
        Path d = mkdir("d");
        QemuTools.img(d, "create", "-f", "vmdk", "base.vmdk", String.valueOf(SIZE));
        QemuTools.img(d, "create", "-f", "vmdk", "-b", "base.vmdk", "-F", "vmdk", "child.vmdk");
        Path child = d.resolve("child.vmdk");
        try (Disk disk = Disk.open(child, ro())) {
            assertEquals(2, disk.layers().size());
        }
        qemuIo(d, "vmdk", d.resolve("base.vmdk"), "write -P 0x55 0 4096"); // qemu gives the base a new CID
        ChainException e = chainFailure(child, ro());
        DiskBytes.assertOneLine(e, "vmdk:", "mismatch", child.toString());
        List<String> warnings = new ArrayList<>();
        try (Disk disk = Disk.open(child, ro().withIgnoreParentUuid(true).withWarnings(warnings::add))) {
            assertEquals(2, disk.layers().size());
        }
        assertFalse(warnings.isEmpty());
    }

    @Test
    void vdiParentWithAnotherUuidIsNotFound() throws IOException {
        Path d = mkdir("d");
        Path base = d.resolve("base.vdi");
        Path child = d.resolve("child.vdi");
        ownBase("vdi", base, 8);
        create("vdi", child, base);
        UUID linked = uuidOf(child);
        Files.delete(base);
        ownBase("vdi", base, 9);
        for (OpenOptions o : List.of(ro(), ro().withIgnoreParentUuid(true))) {
            ChainException e = chainFailure(child, o);
            DiskBytes.assertOneLine(e, "vdi:", child.toString(), linked.toString(), d.toString());
        }
    }

    private static UUID uuidOf(Path child) throws IOException {
        try (Image img = FormatRegistry.open(child, ro())) {
            return img.parent().uuid();
        }
    }

    /** A same-named impostor next to the child does not hide the real parent in --parent-dir. */
    @ParameterizedTest
    @ValueSource(strings = {"vhd", "vhdx"})
    void impostorNextToTheChildDoesNotHideTheRealParent(String fmt) throws IOException {
        Path a = mkdir("a");
        Path b = mkdir("b");
        Path child = b.resolve("child." + fmt);
        create(fmt, child, ownBase(fmt, b.resolve("base." + fmt), 10));
        Path base = Files.move(b.resolve("base." + fmt), a.resolve("base." + fmt)); // the parent was kept elsewhere
        byte[] expect;
        try (Disk disk = Disk.open(child, ro().withParentDirs(List.of(a)))) {
            expect = DiskBytes.readAll(disk);
        }
        Path impostor = ownBase(fmt, b.resolve("base." + fmt), 11);
        List<String> warnings = new ArrayList<>();
        try (Disk disk = Disk.open(child, ro().withParentDirs(List.of(a)).withWarnings(warnings::add))) {
            assertEquals(base, disk.layers().get(0).storage().path());
            DiskBytes.assertDisk(expect, disk, "real parent");
        }
        assertTrue(warnings.stream().anyMatch(w -> w.contains("passed over") && w.contains(impostor.toString())),
                warnings.toString());
        // without the search directory, the impostor is the error
        DiskBytes.assertOneLine(chainFailure(child, ro()), "UUID mismatch", impostor.toString());
        // a damaged file of the right name is passed over the same way
        Files.write(impostor, new byte[4096]);
        try (Disk disk = Disk.open(child, ro().withParentDirs(List.of(a)))) {
            assertEquals(base, disk.layers().get(0).storage().path());
        }
    }

    /** A renamed VHD/VHDX parent is found by its UUID among the images in the search directories. */
    @ParameterizedTest
    @ValueSource(strings = {"vhd", "vhdx"})
    void renamedParentIsFoundByUuid(String fmt) throws IOException {
        Path d = mkdir("d");
        Path base = d.resolve("base." + fmt);
        ownBase(fmt, base, 12);
        Path child = d.resolve("child." + fmt);
        create(fmt, child, base);
        Path renamed = Files.move(base, d.resolve("renamed." + fmt));
        try (Disk disk = Disk.open(child, ro())) {
            assertEquals(renamed, disk.layers().get(0).storage().path());
        }
    }

    // ---- missing parents --------------------------------------------------------------------------

    @Test
    void missingParentListsWhatWasTried() throws IOException {
        Path b = mkdir("b");
        Path extra = mkdir("extra");
        Path child = qcow2Child(b, "child.qcow2", "gone.qcow2", "qcow2");
        ChainException e = chainFailure(child, ro().withParentDirs(List.of(extra)));
        DiskBytes.assertOneLine(e, child.toString(), "not found", b.resolve("gone.qcow2").toString(),
                extra.resolve("gone.qcow2").toString(), "--parent-dir");
    }

    @ParameterizedTest
    @ValueSource(strings = {"vhd", "vhdx"})
    void missingDifferencingParentListsItsLocators(String fmt) throws IOException {
        Path d = mkdir("d");
        Path base = d.resolve("base." + fmt);
        ownBase(fmt, base, 13);
        Path child = d.resolve("child." + fmt);
        create(fmt, child, base);
        Files.delete(base);
        ChainException e = chainFailure(child, ro());
        DiskBytes.assertOneLine(e, fmt + ":", child.toString(), "not found", base.toString());
    }

    @Test
    void unknownBackingFormatIsAOneLineError() throws IOException {
        Path b = mkdir("b");
        qcow2Base(b, "base.qcow2", 14);
        Path child = qcow2Child(b, "child.qcow2", "base.qcow2", "bochs"); // a format qemu reads and we do not
        VdException e = assertThrows(VdException.class, () -> Disk.open(child, ro()).close());
        DiskBytes.assertOneLine(e, "bochs", child.toString());
    }

    // ---- Windows locators ---------------------------------------------------------------------------

    @ParameterizedTest
    @ValueSource(strings = {"vhd:C:\\vms\\", "vhd:\\\\server\\share\\vms\\", "vhdx:C:\\vms\\",
        "vhdx:\\\\?\\Volume{26a21bda-a627-11d7-9931-806e6f6e6963}\\"})
    void windowsAbsoluteLocatorFindsTheParentNextToTheChild(String spec) throws IOException {
        String fmt = spec.substring(0, spec.indexOf(':'));
        String winDir = spec.substring(spec.indexOf(':') + 1);
        Path d = mkdir("a-directory-with-a-long-name-so-that-the-windows-paths-below-have-room-" + fmt);
        Path base = d.resolve("base." + fmt);
        ownBase(fmt, base, 15);
        Path child = d.resolve("child." + fmt);
        create(fmt, child, base);
        byte[] expect;
        try (Disk disk = Disk.open(child, ro())) {
            expect = DiskBytes.readAll(disk);
        }
        // Only the Windows absolute locator still names base.FMT: the relative locator and (VHD)
        // the parent's name in the header are made to name a file that does not exist.
        String name = "base." + fmt;
        String linuxAbs = fmt.equals("vhd") ? base.toString() : base.toString().replace('/', '\\');
        int pad = linuxAbs.length() - winDir.length() - 1 - name.length();
        assertTrue(pad > 0, "temporary path too short for the test");
        String winAbs = winDir + "x".repeat(pad) + "\\" + name; // same length: offsets stay
        WinLocators.replace(child, StandardCharsets.UTF_16LE, linuxAbs, winAbs);
        WinLocators.replace(child, StandardCharsets.UTF_16LE, ".\\" + name, ".\\" + "q".repeat(4) + name.substring(4));
        if (fmt.equals("vhd")) {
            WinLocators.replaceVhdParentName(child, name, "q".repeat(4) + name.substring(4));
        }
        try (Image img = FormatRegistry.open(child, ro())) {
            assertTrue(img.parent().locators().contains(winAbs), img.parent().locators().toString());
        }
        try (Disk disk = Disk.open(child, ro())) {
            assertEquals(base, disk.layers().get(0).storage().path());
            DiskBytes.assertDisk(expect, disk, winAbs);
        }
        Path elsewhere = mkdir("elsewhere");
        Path moved = Files.move(base, elsewhere.resolve(name), StandardCopyOption.ATOMIC_MOVE);
        try (Disk disk = Disk.open(child, ro().withParentDirs(List.of(elsewhere)))) {
            assertEquals(moved, disk.layers().get(0).storage().path());
        }
    }
}
