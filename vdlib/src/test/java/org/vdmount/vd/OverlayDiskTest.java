package org.vdmount.vd;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.FileTime;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.ArrayList;
import java.util.HexFormat;
import java.util.List;
import java.util.Random;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

/**
 * {@link OverlayDisk}: writes land in the overlay, the evidence stays byte-identical with its
 * mtime, the overlay is created once and reused, and an overlay of another image is refused.
 */
class OverlayDiskTest {
    private static final int SIZE = 4 << 20;

    @TempDir
    Path dir;

    private Path evidence(String name, String format, long seed) throws IOException {
        byte[] data = new byte[SIZE];
        new Random(seed).nextBytes(data);
        Path raw = dir.resolve(name + ".raw");
        Files.write(raw, data);
        Path ev = raw;
        if (!format.equals("raw")) {
            ev = dir.resolve(name + "." + format);
            try (Disk dst = Disk.of(List.of(FormatRegistry.require(format).create(ev, CreateOptions.of(SIZE))))) {
                dst.write(0, ByteBuffer.wrap(data));
            }
        }
        Files.setLastModifiedTime(ev, FileTime.fromMillis(1_000_000_000_000L));
        return ev;
    }

    private static String sha256(Path p) throws IOException {
        try {
            return HexFormat.of().formatHex(MessageDigest.getInstance("SHA-256").digest(Files.readAllBytes(p)));
        } catch (NoSuchAlgorithmException e) {
            throw new AssertionError(e);
        }
    }

    private static byte[] read(Disk d, long off, int len) throws IOException {
        ByteBuffer b = ByteBuffer.allocate(len);
        d.read(off, b);
        return b.array();
    }

    @ParameterizedTest(name = "{1} overlay over {0}")
    @CsvSource({"raw, qcow2", "vmdk, qcow2", "raw, vhd", "vdi, vdi", "vhdx, vhdx", "qcow2, vhd"})
    void writesLandInTheOverlayAndTheEvidenceStaysUntouched(String evFormat, String ovFormat) throws Exception {
        Path ev = evidence("evidence", evFormat, 7);
        String hash = sha256(ev);
        FileTime mtime = Files.getLastModifiedTime(ev);
        byte[] original;
        try (Disk d = Disk.open(ev, OpenOptions.defaultReadOnly())) {
            original = read(d, 0, SIZE);
        }
        Path caseDir = Files.createDirectory(dir.resolve("case"));
        Path overlay = caseDir.resolve("case." + ovFormat);
        List<String> warnings = new ArrayList<>();
        byte[] patch = new byte[70_000];
        new Random(3).nextBytes(patch);
        try (Disk d = OverlayDisk.open(overlay, ev, null, OpenOptions.defaultReadOnly().withWarnings(warnings::add))) {
            assertFalse(d.readOnly());
            assertEquals(2, d.layers().size());
            Image parent = d.layers().get(0);
            assertTrue(parent.readOnly() && parent.storage().readOnly(), "evidence opened read-only");
            assertEquals(ovFormat, d.top().format().name());
            d.write(1_000_003, ByteBuffer.wrap(patch));
            d.flush();
        }
        assertTrue(warnings.stream().anyMatch(w -> w.contains("created")), warnings.toString());
        assertEquals(hash, sha256(ev));
        assertEquals(mtime, Files.getLastModifiedTime(ev));

        warnings.clear();
        try (Disk d = OverlayDisk.open(overlay, ev, null, OpenOptions.defaultReadOnly().withWarnings(warnings::add))) {
            byte[] now = read(d, 0, SIZE);
            System.arraycopy(patch, 0, original, 1_000_003, patch.length);
            assertArrayEquals(original, now, "overlay reused with its writes");
        }
        assertFalse(warnings.stream().anyMatch(w -> w.contains("created")), warnings.toString());
        // the overlay is an ordinary differencing image: our reader opens it given the evidence's directory
        try (Disk d = Disk.open(overlay, OpenOptions.defaultReadOnly().withParentDirs(List.of(dir)))) {
            assertArrayEquals(original, read(d, 0, SIZE));
        }
        assertEquals(hash, sha256(ev));
        assertEquals(mtime, Files.getLastModifiedTime(ev));
    }

    @Test
    void anOverlayOfAnotherImageIsRefused() throws Exception {
        Path ev = evidence("evidence", "raw", 1);
        Path other = evidence("other", "raw", 2);
        Path overlay = dir.resolve("case.qcow2");
        OverlayDisk.open(overlay, ev, null, OpenOptions.defaultReadOnly()).close();
        ChainException e = assertThrows(ChainException.class,
                () -> OverlayDisk.open(overlay, other, null, OpenOptions.defaultReadOnly()));
        assertTrue(e.getMessage().contains("belongs to") && e.getMessage().contains(other.toString()), e.getMessage());
    }

    @Test
    void aBaseImageIsNoOverlay() throws Exception {
        Path ev = evidence("evidence", "raw", 1);
        Path base = dir.resolve("base.qcow2");
        FormatRegistry.require("qcow2").create(base, CreateOptions.of(SIZE)).close();
        ChainException e = assertThrows(ChainException.class,
                () -> OverlayDisk.open(base, ev, null, OpenOptions.defaultReadOnly()));
        assertTrue(e.getMessage().contains("has no parent"), e.getMessage());
    }

    @Test
    void theFormatComesFromTheExtension() throws Exception {
        Path ev = evidence("evidence", "raw", 1);
        UnsupportedFeatureException e = assertThrows(UnsupportedFeatureException.class,
                () -> OverlayDisk.open(dir.resolve("case.img"), ev, null, OpenOptions.defaultReadOnly()));
        assertTrue(e.getMessage().contains(".qcow2, .vhdx, .vdi or .vhd"), e.getMessage());
        assertFalse(Files.exists(dir.resolve("case.img")));
        assertThrows(VdException.class, () -> OverlayDisk.open(ev, ev, null, OpenOptions.defaultReadOnly()));
    }

    @Test
    void aParentTheFormatCannotRecordLeavesNoFile() throws Exception {
        Path ev = evidence("evidence", "raw", 1);
        Path overlay = dir.resolve("case.vhdx");
        assertThrows(UnsupportedFeatureException.class,
                () -> OverlayDisk.open(overlay, ev, null, OpenOptions.defaultReadOnly()));
        assertFalse(Files.exists(overlay));
    }
}
