package org.vdmount.vd.format.vhd;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.vdmount.vd.format.vhd.VhdTestSupport.assertBytes;
import static org.vdmount.vd.format.vhd.VhdTestSupport.assumeTool;
import static org.vdmount.vd.format.vhd.VhdTestSupport.ok;

import java.nio.ByteBuffer;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;
import org.vdmount.vd.Bytes;
import org.vdmount.vd.CorruptImageException;
import org.vdmount.vd.Disk;
import org.vdmount.vd.FormatRegistry;
import org.vdmount.vd.OpenOptions;
import org.vdmount.vd.TruncatedImageException;
import org.vdmount.vd.VdException;

/** Damaged images: checksum policy, the old 511-byte footer, and clear errors naming file and offset. */
class VhdCorruptionTest {
    static final int SIZE = 5 * 1024 * 1024 + 4096;

    @TempDir
    Path dir;
    private final List<String> warnings = new ArrayList<>();

    @BeforeEach
    void tools() {
        assumeTool("qemu-img");
    }

    private Path qemuImage(String subformat) throws Exception {
        Path raw = dir.resolve(subformat + ".src");
        Files.write(raw, VhdTestSupport.pattern(5, SIZE));
        Path vhd = dir.resolve(subformat + ".vhd");
        ok("qemu-img", "convert", "-f", "raw", "-O", "vpc", "-o", "subformat=" + subformat, raw.toString(), vhd.toString());
        return vhd;
    }

    private OpenOptions ro() {
        return OpenOptions.defaultReadOnly().withWarnings(warnings::add);
    }

    private static void patch(Path file, long offset, byte... bytes) throws Exception {
        try (var ch = java.nio.channels.FileChannel.open(file, java.nio.file.StandardOpenOption.WRITE)) {
            ch.write(ByteBuffer.wrap(bytes), offset);
        }
    }

    @ParameterizedTest
    @ValueSource(strings = {"dynamic", "fixed"})
    void badFooterChecksumReadOnlyWithOneWarningWritableRefused(String subformat) throws Exception {
        Path vhd = qemuImage(subformat);
        byte[] expected = VhdTestSupport.qemuRaw(vhd, dir);
        long footerAt = Files.size(vhd) - 512;
        patch(vhd, footerAt + 0x100, (byte) 0x5A); // reserved byte: only the checksum notices
        assertEquals("vhd", FormatRegistry.probe(vhd).name());
        try (Disk d = Disk.open(vhd, ro())) {
            assertBytes(expected, VhdTestSupport.readAll(d, 1), "read-only despite the checksum");
        }
        assertEquals(1, warnings.size(), warnings.toString());
        String w = warnings.get(0);
        assertTrue(w.contains(vhd.toString()) && w.contains("0x" + Long.toHexString(footerAt)) && w.contains("checksum")
                && !w.contains("\n"), w);
        CorruptImageException e = assertThrows(CorruptImageException.class,
                () -> Disk.open(vhd, OpenOptions.defaultReadWrite()));
        assertTrue(e.getMessage().contains("checksum") && e.getMessage().contains("read-only"), e.getMessage());
    }

    /** Sets the footer's CHS geometry (0x38) at the end and, for dynamic images, in the copy at 0; fixes checksums. */
    private static void setGeometry(Path vhd, int cylinders, int heads, int spt, boolean copyAtZero) throws Exception {
        byte[] all = Files.readAllBytes(vhd);
        List<Integer> footers = new ArrayList<>(List.of(all.length - 512));
        if (copyAtZero) {
            footers.add(0);
        }
        for (int at : footers) {
            all[at + 0x38] = (byte) (cylinders >>> 8);
            all[at + 0x39] = (byte) cylinders;
            all[at + 0x3A] = (byte) heads;
            all[at + 0x3B] = (byte) spt;
            java.util.Arrays.fill(all, at + 0x40, at + 0x44, (byte) 0);
            long sum = 0;
            for (int i = 0; i < 512; i++) {
                sum += all[at + i] & 0xFF;
            }
            long checksum = ~sum & 0xFFFF_FFFFL;
            for (int i = 0; i < 4; i++) {
                all[at + 0x40 + i] = (byte) (checksum >>> (24 - 8 * i));
            }
        }
        Files.write(vhd, all);
    }

    /**
     * The case: geometry 0/0/0 next to a current size of several MiB made a silent 0-byte
     * disk. The current size is used, with one warning naming both values; so it is for any other
     * geometry that disagrees; an agreeing footer says nothing.
     */
    @ParameterizedTest
    @ValueSource(strings = {"dynamic", "fixed"})
    void geometryDisagreeingWithTheCurrentSizeIsWarnedAndTheCurrentSizeUsed(String subformat) throws Exception {
        Path vhd = qemuImage(subformat);
        byte[] expected = VhdTestSupport.qemuRaw(vhd, dir);
        long current = expected.length;
        try (Disk d = Disk.open(vhd, ro())) {
            assertEquals(current, d.size());
        }
        assertEquals(List.of(), warnings, "qemu's footer agrees with itself");
        for (int[] chs : new int[][] {{0, 0, 0}, {100, 4, 17}}) {
            setGeometry(vhd, chs[0], chs[1], chs[2], subformat.equals("dynamic"));
            warnings.clear();
            try (Disk d = Disk.open(vhd, ro())) {
                assertEquals(current, d.size(), "the current size, not the geometry " + Arrays.toString(chs));
                assertBytes(expected, VhdTestSupport.readAll(d, 4), "data");
            }
            assertEquals(1, warnings.size(), warnings.toString());
            String w = warnings.get(0);
            long chsBytes = (long) chs[0] * chs[1] * chs[2] * 512;
            assertTrue(w.contains(vhd.toString()) && w.contains(chs[0] + "/" + chs[1] + "/" + chs[2])
                    && w.contains(" " + chsBytes + " bytes") && w.contains(current + " bytes")
                    && w.contains("current size"), w);
        }
    }

    /** The specification derives the geometry by rounding down: that geometry agrees with the current size. */
    @ParameterizedTest
    @ValueSource(strings = {"dynamic", "fixed"})
    void specificationGeometryBelowTheCurrentSizeIsNoDisagreement(String subformat) throws Exception {
        Path vhd = dir.resolve("own-" + subformat + ".vhd");
        FormatRegistry.require("vhd").create(vhd, org.vdmount.vd.CreateOptions.of(8L << 20)
                .with("subformat", subformat)).close();
        byte[] footer = Arrays.copyOfRange(Files.readAllBytes(vhd), (int) Files.size(vhd) - 512, (int) Files.size(vhd));
        long chs = VhdGeometry.chsFor((8L << 20) / 512);
        assertTrue(VhdGeometry.cylinders(chs) * VhdGeometry.heads(chs) * VhdGeometry.sectorsPerTrack(chs) * 512L
                < 8L << 20, "the geometry rounds down");
        assertEquals(VhdGeometry.cylinders(chs), Bytes.of(footer).u16be(0x38));
        try (Disk d = Disk.open(vhd, ro())) {
            assertEquals(8L << 20, d.size());
        }
        assertEquals(List.of(), warnings);
    }

    @Test
    void badHeaderChecksumReadOnlyWithWarning() throws Exception {
        Path vhd = qemuImage("dynamic");
        byte[] expected = VhdTestSupport.qemuRaw(vhd, dir);
        patch(vhd, 512 + 0x300, (byte) 1);
        try (Disk d = Disk.open(vhd, ro())) {
            assertBytes(expected, VhdTestSupport.readAll(d, 2), "read-only despite the header checksum");
        }
        assertEquals(1, warnings.size());
        assertTrue(warnings.get(0).contains("dynamic header") && warnings.get(0).contains("0x200"), warnings.get(0));
        assertThrows(CorruptImageException.class, () -> Disk.open(vhd, OpenOptions.defaultReadWrite()));
    }

    @ParameterizedTest
    @ValueSource(strings = {"dynamic", "fixed"})
    void oldVirtualPc511ByteFooterIsAccepted(String subformat) throws Exception {
        Path vhd = qemuImage(subformat);
        byte[] expected = VhdTestSupport.qemuRaw(vhd, dir);
        byte[] all = Files.readAllBytes(vhd);
        assertEquals(0, all[all.length - 1]); // the last reserved byte is what Virtual PC left out
        Files.write(vhd, Arrays.copyOf(all, all.length - 1));
        try (Disk d = Disk.open(vhd, ro())) {
            assertBytes(expected, VhdTestSupport.readAll(d, 3), "511-byte footer");
        }
        assertEquals(List.of(), warnings);
        if (subformat.equals("dynamic")) { // and it stays writable: a block appended over the short footer
            try (Disk d = Disk.open(vhd, OpenOptions.defaultReadWrite())) {
                byte[] data = new byte[3000];
                Arrays.fill(data, (byte) 7);
                d.write(SIZE - 3000, ByteBuffer.wrap(data));
                System.arraycopy(data, 0, expected, SIZE - 3000, 3000);
            }
            assertBytes(expected, VhdTestSupport.qemuRaw(vhd, dir), "qemu after writing past the short footer");
        }
    }

    @Test
    void missingEndFooterUsesCopyReadOnly() throws Exception {
        Path vhd = qemuImage("dynamic");
        byte[] expected = VhdTestSupport.qemuRaw(vhd, dir);
        byte[] all = Files.readAllBytes(vhd);
        Files.write(vhd, Arrays.copyOf(all, all.length - 512));
        try (Disk d = Disk.open(vhd, ro())) {
            assertBytes(expected, VhdTestSupport.readAll(d, 4), "footer copy at 0");
        }
        assertEquals(1, warnings.size());
        assertTrue(warnings.get(0).contains("copy at offset 0x0"), warnings.get(0));
        assertThrows(CorruptImageException.class, () -> Disk.open(vhd, OpenOptions.defaultReadWrite()));
    }

    @Test
    void truncatedBlockNamesTheBatEntry() throws Exception {
        Path vhd = qemuImage("dynamic");
        byte[] all = Files.readAllBytes(vhd);
        Files.write(vhd, Arrays.copyOf(all, all.length - 4096 - 512));
        TruncatedImageException e = assertThrows(TruncatedImageException.class, () -> Disk.open(vhd, ro()));
        assertTrue(e.getMessage().contains(vhd.toString()) && e.getMessage().contains("BAT entry at 0x"), e.getMessage());
    }

    @Test
    void structuralErrorsAreNamed() throws Exception {
        Path vhd = qemuImage("dynamic");
        byte[] good = Files.readAllBytes(vhd);
        long[] hdr = {512 + 0x20, 512 + 0x10, 512 + 0x1C};
        String[] what = {"block size", "BAT", "covers less"};
        for (int i = 0; i < hdr.length; i++) {
            byte[] bad = good.clone();
            Bytes.of(bad).put32be((int) hdr[i], i == 0 ? 3000 : i == 1 ? 0x7FFF_0000L : 1);
            if (i == 1) {
                Bytes.of(bad).put64be(512 + 0x10, 0x7FFF_0000L);
            }
            fixHeaderChecksum(bad);
            Files.write(vhd, bad);
            VdException e = assertThrows(VdException.class, () -> Disk.open(vhd, ro()));
            assertTrue(e.getMessage().contains(what[i]) && e.getMessage().contains(vhd.toString())
                    && e.getMessage().contains("0x"), e.getMessage());
        }
    }

    static void fixHeaderChecksum(byte[] img) {
        Bytes h = Bytes.of(img).at(512);
        h.put32be(VhdDynamicHeader.CHECKSUM_OFFSET, VhdFooter.checksum(h, 1024, VhdDynamicHeader.CHECKSUM_OFFSET));
    }
}
