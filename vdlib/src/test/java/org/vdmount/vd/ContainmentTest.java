package org.vdmount.vd;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.vdmount.vd.ChainTesting.MIB;
import static org.vdmount.vd.ChainTesting.qemuIo;
import static org.vdmount.vd.conformance.DiskBytes.assertOneLine;
import static org.vdmount.vd.conformance.DiskBytes.readAll;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Random;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;
import org.vdmount.vd.conformance.DiskBytes;
import org.vdmount.vd.format.qcow2.QemuTools;

/**
 * Containment by real path ({@link PathPolicy}): a parent, extent or data file named inside an
 * image is followed only if its real path (links resolved) stays inside the image's directory or
 * a --parent-dir, unless --allow-absolute-parents. Each attack here was followed by the
 * text-comparing checks this replaced.
 */
class ContainmentTest {
    private static final int SIZE = 2 * MIB;

    @TempDir
    Path root;

    @BeforeAll
    static void tools() {
        QemuTools.assumeQemu();
    }

    private Path mkdir(String name) throws IOException {
        return Files.createDirectories(root.resolve(name));
    }

    /** A file outside every allowed directory, recognisable by its bytes. */
    private Path secret() throws IOException {
        Path p = mkdir("outside").resolve("secret.raw");
        byte[] b = new byte[SIZE];
        new Random(99).nextBytes(b);
        System.arraycopy("SECRET".getBytes(StandardCharsets.US_ASCII), 0, b, 0, 6);
        Files.write(p, b);
        return p;
    }

    /** A qcow2 child whose backing name is exactly {@code backing}, never opened by qemu. */
    private static Path qcow2Child(Path dir, String name, String backing, String backingFormat) throws IOException {
        Path p = dir.resolve(name);
        QemuTools.img(dir, "create", "-f", "qcow2", p.toString(), String.valueOf(SIZE));
        qemuIo(dir, "qcow2", p, "write -P 0xc7 70000 5000");
        QemuTools.img(dir, "rebase", "-u", "-b", backing, "-F", backingFormat, p.toString());
        return p;
    }

    private static Path qcow2Base(Path dir, String name) throws IOException {
        Path p = dir.resolve(name);
        QemuTools.img(dir, "create", "-f", "qcow2", p.toString(), String.valueOf(SIZE));
        qemuIo(dir, "qcow2", p, "write -P 0x5a 0 65536");
        return p;
    }

    private static OpenOptions ro() {
        return OpenOptions.defaultReadOnly();
    }

    private static byte[] firstBytes(Disk d, int n) throws IOException {
        byte[] b = new byte[n];
        d.read(0, ByteBuffer.wrap(b));
        return b;
    }

    // ---- attacks --------------------------------------------------------------------------------

    @Test
    void qcow2BackingThroughALinkLeavingTheDirectoryIsRefused() throws IOException {
        Path b = mkdir("b");
        Path secret = secret();
        Files.createSymbolicLink(b.resolve("link.raw"), secret);
        Path child = qcow2Child(b, "child.qcow2", "link.raw", "raw");

        ContainmentException e = assertThrows(ContainmentException.class, () -> Disk.open(child, ro()).close());
        assertOneLine(e, child.toString(), "'link.raw'", secret.toRealPath().toString(), b.toRealPath().toString());

        try (Disk d = Disk.open(child, ro().withAllowAbsoluteParents(true))) {
            assertArrayEquals("SECRET".getBytes(StandardCharsets.US_ASCII), firstBytes(d, 6), "followed when allowed");
        }
    }

    /** The case: a FLAT extent linked to /etc/passwd made the converted disk start with root:x:0:0. */
    @Test
    void vmdkFlatExtentLinkedToEtcPasswdIsRefused() throws IOException {
        Path passwd = Path.of("/etc/passwd");
        org.junit.jupiter.api.Assumptions.assumeTrue(Files.isReadable(passwd), "no readable /etc/passwd");
        Path d = mkdir("vm");
        Files.createSymbolicLink(d.resolve("link.raw"), passwd);
        Path desc = d.resolve("disk.vmdk");
        Files.writeString(desc, "# Disk DescriptorFile\nversion=1\nCID=fffffffe\nparentCID=ffffffff\n"
                + "createType=\"monolithicFlat\"\n\n# Extent description\nRW 1 FLAT \"link.raw\" 0\n\n"
                + "# The Disk Data Base\nddb.virtualHWVersion = \"4\"\n");

        VdException e = assertThrows(VdException.class, () -> Disk.open(desc, ro()).close());
        assertOneLine(e, desc.toString(), "'link.raw'", passwd.toRealPath().toString(), d.toRealPath().toString(),
                "outside");
        assertTrue(e instanceof ContainmentException, e.toString());

        byte[] start = Arrays.copyOf(Files.readAllBytes(passwd), 4);
        try (Disk disk = Disk.open(desc, ro().withAllowAbsoluteParents(true))) {
            assertArrayEquals(start, firstBytes(disk, 4), "followed when allowed");
        }
    }

    /**
     * A backing name that is looked up by file name (absolute locator, or through a linked
     * directory) reaches a real qcow2 outside: refused, whichever way the name gets there.
     */
    @ParameterizedTest
    @ValueSource(strings = {"ABSOLUTE", "base.qcow2", "linkdir/base.qcow2"})
    void backingFoundByNameThroughALinkIsRefused(String how) throws IOException {
        Path b = mkdir("b");
        Path outside = mkdir("outside");
        Path base = qcow2Base(outside, "base.qcow2");
        String locator;
        if (how.equals("linkdir/base.qcow2")) {
            Files.createSymbolicLink(b.resolve("linkdir"), outside);
            locator = how;
        } else {
            Files.createSymbolicLink(b.resolve("base.qcow2"), base);
            locator = how.equals("ABSOLUTE") ? mkdir("gone").resolve("base.qcow2").toString() : how;
        }
        Path child = qcow2Child(b, "child.qcow2", locator, "qcow2");

        ContainmentException e = assertThrows(ContainmentException.class, () -> Disk.open(child, ro()).close());
        assertOneLine(e, child.toString(), base.toRealPath().toString(), b.toRealPath().toString());

        if (!how.equals("ABSOLUTE")) { // an absolute locator naming a missing file stays missing
            try (Disk d = Disk.open(child, ro().withAllowAbsoluteParents(true))) {
                assertEquals(base.toRealPath(), d.layers().get(0).storage().path());
            }
        }
        // the directory it really lives in, named as a search directory, is allowed
        try (Disk d = Disk.open(child, ro().withParentDirs(List.of(outside)))) {
            assertEquals(base.toRealPath(), d.layers().get(0).storage().path());
        }
    }

    /**
     * Parents found by UUID (VDI always; VHD/VHDX when renamed): a link in the directory to the
     * real parent outside is not opened; neither are links to /etc/shadow, FIFOs or directories
     * with an image's extension. A link staying inside is still found.
     */
    @ParameterizedTest
    @ValueSource(strings = {"vdi", "vhd", "vhdx"})
    void uuidSearchOpensOnlyFilesInsideTheDirectories(String fmt) throws Exception {
        Path d = mkdir("d");
        Path outside = mkdir("outside");
        Path base = d.resolve("base." + fmt);
        ownBase(fmt, base);
        Path child = d.resolve("child." + fmt);
        try (Disk pd = Disk.open(base, ro())) {
            FormatRegistry.require(fmt).create(child, CreateOptions.of(0).withParent(pd, base)).close();
        }
        byte[] expect;
        try (Disk disk = Disk.open(child, ro())) {
            expect = readAll(disk);
        }
        Path moved = Files.move(base, outside.resolve("base." + fmt));
        Files.createSymbolicLink(d.resolve("renamed." + fmt), moved);
        if (Files.exists(Path.of("/etc/shadow"))) {
            Files.createSymbolicLink(d.resolve("a-shadow." + fmt), Path.of("/etc/shadow"));
        }
        assertEquals(0, new ProcessBuilder("mkfifo", d.resolve("a-fifo." + fmt).toString()).start().waitFor());
        Files.createDirectory(d.resolve("a-dir." + fmt));

        ChainException e = assertThrows(ChainException.class, () -> Disk.open(child, ro()).close());
        assertOneLine(e, child.toString(), "not found");

        try (Disk disk = Disk.open(child, ro().withAllowAbsoluteParents(true))) {
            assertEquals(moved.toRealPath(), disk.layers().get(0).storage().path(), "followed when allowed");
            assertArrayEquals(expect, readAll(disk));
        }
        Path store = mkdir("d/store");
        Files.move(moved, store.resolve("kept." + fmt));
        Files.delete(d.resolve("renamed." + fmt));
        Files.createSymbolicLink(d.resolve("renamed." + fmt), Path.of("store/kept." + fmt));
        try (Disk disk = Disk.open(child, ro())) {
            assertEquals(store.resolve("kept." + fmt).toRealPath(), disk.layers().get(0).storage().path());
            assertArrayEquals(expect, readAll(disk), "a link inside the directory");
        }
    }

    private static void ownBase(String fmt, Path path) throws IOException {
        try (Disk d = Disk.of(List.of(FormatRegistry.require(fmt).create(path, CreateOptions.of(SIZE))))) {
            org.vdmount.vd.conformance.ModelRun.scribble(d, new byte[SIZE], new Random(7), 6);
        }
    }

    @Test
    void qcow2DataFileThroughALinkLeavingTheDirectoryIsRefused() throws IOException {
        Path d = mkdir("d");
        Path outside = mkdir("outside");
        QemuTools.img(d, "create", "-f", "qcow2", "-o", "data_file=x.data", "x.qcow2", String.valueOf(SIZE));
        qemuIo(d, "qcow2", d.resolve("x.qcow2"), "write -P 0x3c 0 65536");
        Path data = Files.move(d.resolve("x.data"), outside.resolve("x.data"));
        Files.createSymbolicLink(d.resolve("x.data"), data);
        Path img = d.resolve("x.qcow2");

        ContainmentException e = assertThrows(ContainmentException.class, () -> Disk.open(img, ro()).close());
        assertOneLine(e, img.toString(), "'x.data'", data.toRealPath().toString(), d.toRealPath().toString());
        try (Disk disk = Disk.open(img, ro().withAllowAbsoluteParents(true))) {
            assertEquals(0x3c, firstBytes(disk, 1)[0]);
        }
    }

    // ---- legitimate links and moves ---------------------------------------------------------------

    @Test
    void aLinkStayingInsideTheDirectoryIsFollowedAndTheChainMovesAsADirectory() throws IOException {
        Path d = mkdir("d");
        Path base = qcow2Base(mkdir("d/store"), "base.qcow2");
        Files.createSymbolicLink(d.resolve("link.qcow2"), Path.of("store/base.qcow2"));
        Path child = qcow2Child(d, "child.qcow2", "link.qcow2", "qcow2");
        byte[] expect = ChainTesting.qemuRaw(child, "qcow2");
        try (Disk disk = Disk.open(child, ro())) {
            assertEquals(base.toRealPath(), disk.layers().get(0).storage().path(), "the real path is opened");
            DiskBytes.assertDisk(expect, disk, "link inside");
        }
        Path moved = Files.move(d, root.resolve("moved"));
        try (Disk disk = Disk.open(moved.resolve("child.qcow2"), ro())) {
            assertEquals(moved.resolve("store/base.qcow2").toRealPath(), disk.layers().get(0).storage().path());
            DiskBytes.assertDisk(expect, disk, "moved as a directory");
        }
    }

    @Test
    void vmdkExtentLinkedInsideTheDirectoryIsRead() throws IOException {
        Path d = mkdir("vm");
        byte[] data = new byte[4096];
        new Random(3).nextBytes(data);
        Files.write(mkdir("vm/flat").resolve("disk-flat.raw"), data);
        Files.createSymbolicLink(d.resolve("link.raw"), Path.of("flat/disk-flat.raw"));
        Path desc = d.resolve("disk.vmdk");
        Files.writeString(desc, "# Disk DescriptorFile\nversion=1\nCID=fffffffe\nparentCID=ffffffff\n"
                + "createType=\"monolithicFlat\"\n\n# Extent description\nRW 8 FLAT \"link.raw\" 0\n");
        try (Disk disk = Disk.open(desc, ro())) {
            assertArrayEquals(data, readAll(disk));
        }
    }

    @Test
    void parentDirGivenAsALinkToADirectoryIsSearched() throws IOException {
        Path b = mkdir("b");
        Path parents = mkdir("real-parents");
        Path base = qcow2Base(parents, "base.qcow2");
        Path linkDir = Files.createSymbolicLink(root.resolve("parents-link"), parents);
        Path child = qcow2Child(b, "child.qcow2", "base.qcow2", "qcow2");
        assertThrows(ChainException.class, () -> Disk.open(child, ro()).close());
        List<String> warnings = new ArrayList<>();
        try (Disk disk = Disk.open(child, ro().withParentDirs(List.of(linkDir)).withWarnings(warnings::add))) {
            assertEquals(base.toRealPath(), disk.layers().get(0).storage().path());
        }
        assertTrue(warnings.isEmpty(), warnings.toString());
    }

    // ---- the policy itself ----------------------------------------------------------------------------

    @Test
    void policyListsOnlyRegularFilesWhoseRealPathStaysInside() throws Exception {
        Path d = mkdir("d");
        Path outside = mkdir("outside");
        Files.write(d.resolve("plain.vdi"), new byte[16]);
        Files.write(mkdir("d/sub").resolve("deep.vdi"), new byte[16]);
        Files.write(outside.resolve("far.vdi"), new byte[16]);
        Files.createSymbolicLink(d.resolve("in.vdi"), Path.of("sub/deep.vdi"));
        Files.createSymbolicLink(d.resolve("out.vdi"), outside.resolve("far.vdi"));
        Files.createSymbolicLink(d.resolve("dangling.vdi"), Path.of("nothing.vdi"));
        Files.createSymbolicLink(d.resolve("loop.vdi"), Path.of("loop.vdi"));
        Files.createSymbolicLink(d.resolve("dev.vdi"), Path.of("/dev/zero"));
        Files.createDirectory(d.resolve("dir.vdi"));
        assertEquals(0, new ProcessBuilder("mkfifo", d.resolve("fifo.vdi").toString()).start().waitFor());
        Files.write(d.resolve("other.txt"), new byte[16]);

        PathPolicy p = PathPolicy.forImage(d.resolve("child.vdi"), ro());
        assertEquals(List.of(d.toRealPath()), p.allowedDirs());
        assertEquals(List.of(d.resolve("sub/deep.vdi").toRealPath(), d.resolve("plain.vdi").toRealPath()),
                p.regularFilesIn(d, n -> n.endsWith(".vdi")));
        assertFalse(p.permits(outside.resolve("far.vdi").toRealPath()));
        assertThrows(ContainmentException.class, () -> p.admit(d.resolve("out.vdi"), "out.vdi"));
        assertEquals(null, p.admit(d.resolve("dangling.vdi"), "dangling.vdi"));

        PathPolicy open = PathPolicy.forImage(d.resolve("child.vdi"), ro().withAllowAbsoluteParents(true));
        assertEquals(outside.resolve("far.vdi").toRealPath(), open.admit(d.resolve("out.vdi"), "out.vdi"));
    }
}
