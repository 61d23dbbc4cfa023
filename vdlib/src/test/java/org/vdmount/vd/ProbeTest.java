package org.vdmount.vd;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

/** The probe: foreign containers refused by name, a raw guess said once, format aliases. */
class ProbeTest {
    @TempDir
    Path dir;

    private static byte[] hex(String h) {
        byte[] b = new byte[h.length() / 2];
        for (int i = 0; i < b.length; i++) {
            b[i] = (byte) Integer.parseInt(h.substring(2 * i, 2 * i + 2), 16);
        }
        return b;
    }

    /** A 64 KiB file with {@code magic} at {@code offset} (negative: back from the end). */
    private Path fileWith(String name, byte[] magic, int offset) throws IOException {
        byte[] body = new byte[64 * 1024];
        int at = offset >= 0 ? offset : body.length + offset;
        System.arraycopy(magic, 0, body, at, magic.length);
        Path p = dir.resolve(name);
        Files.write(p, body);
        return p;
    }

    @ParameterizedTest
    @CsvSource({
        "x.Ex01, 45564632 0d0a8100, 0, EWF2 (Ex01)",
        "x.L01, 4c564609 0d0aff00, 0, logical evidence (L01)",
        "x.img.gz, 1f8b0800, 0, gzip",
        "x.img.xz, fd377a585a00, 0, xz",
        "x.ova, 504b0304, 0, ZIP",
        "x.sparseimage, 73707273, 0, Apple sparse disk image",
        "x.dmg, 656e637263647361, 0, encrypted Apple disk image",
        "x.dmg, 6364736165 6e6372, -8, encrypted Apple disk image",
        "x.aff, 4146463130 0d0a00, 0, Advanced Forensic Format",
        "x.wim, 4d5357494d000000, 0, Windows Imaging"})
    void aForeignContainerIsRefusedByNameNotShownAsRaw(String name, String magicHex, int offset, String what)
            throws IOException {
        Path p = fileWith(name, hex(magicHex.replace(" ", "")), offset);
        UnsupportedFeatureException e = assertThrows(UnsupportedFeatureException.class,
                () -> FormatRegistry.probe(p));
        assertTrue(e.getMessage().startsWith(p + ": "), e.getMessage());
        assertTrue(e.getMessage().contains(what), e.getMessage());
        assertTrue(e.getMessage().contains("not supported"), e.getMessage());
        long expectedAt = offset >= 0 ? offset : Files.size(p) + offset;
        assertTrue(e.getMessage().contains("0x" + Long.toHexString(expectedAt)), e.getMessage());
        // naming the format opens the bytes anyway
        try (Disk d = Disk.open(p, FormatRegistry.require("raw"), OpenOptions.defaultReadOnly())) {
            assertEquals(Files.size(p), d.size());
        }
    }

    @Test
    void aSignatureElsewhereInTheFileIsNotAForeignContainer() throws IOException {
        Path p = fileWith("x.img", "koly".getBytes(StandardCharsets.US_ASCII), 4096);
        assertEquals("raw", FormatRegistry.probe(p).name());
    }

    @Test
    void aRawGuessWarnsOnceAndARawByNameOrExtensionDoesNot() throws IOException {
        Path p = fileWith("plain.disk", new byte[] {1, 2, 3}, 0);
        List<String> warnings = new ArrayList<>();
        OpenOptions o = OpenOptions.defaultReadOnly().withWarnings(warnings::add);
        try (Disk d = Disk.open(p, o)) {
            ByteBuffer b = ByteBuffer.allocate(3);
            d.read(0, b);
            assertEquals(1, b.get(0));
        }
        assertEquals(1, warnings.size(), warnings.toString());
        assertTrue(warnings.get(0).contains(p + ": no image format signature found, opened as raw"), warnings.get(0));
        warnings.clear();
        try (Disk d = Disk.open(p, FormatRegistry.require("raw"), o)) {
            assertEquals(64 * 1024, d.size());
        }
        assertEquals(List.of(), warnings);
        Path named = fileWith("named.IMG", new byte[] {1}, 0);
        try (Disk d = Disk.open(named, o)) {
            assertEquals(64 * 1024, d.size());
        }
        assertEquals(List.of(), warnings, "an extension of raw's is no guess");
    }

    /**
     * A signature of a format this library reads, but a header its reader does not accept, is
     * that format's error, never raw: a qcow2 magic with an unknown version names the version.
     */
    @Test
    void aQcowMagicOfAnUnknownVersionNamesTheVersion() throws IOException {
        Path p = fileWith("future.qcow2", hex("514649fb00000004"), 0);
        assertEquals("qcow2", FormatRegistry.probe(p).name());
        UnsupportedFeatureException e = assertThrows(UnsupportedFeatureException.class,
                () -> Disk.open(p, OpenOptions.defaultReadOnly()).close());
        assertEquals("qcow2: " + p + " is qcow version 4 (header offset 0x4); versions 1, 2 and 3 are supported",
                e.getMessage());
    }

    /** A VHD footer whose checksum is wrong is still a VHD (its reader reports the checksum), not raw. */
    @Test
    void aVhdFooterWithABadChecksumIsVhdNotRaw() throws IOException {
        byte[] footer = new byte[512];
        System.arraycopy("conectix".getBytes(StandardCharsets.US_ASCII), 0, footer, 0, 8);
        footer[0x40] = 0x12; // checksum field: anything but the sum
        Path p = fileWith("bad.vhd", footer, -512);
        assertEquals("vhd", FormatRegistry.probe(p).name());
        java.io.IOException e = assertThrows(java.io.IOException.class,
                () -> Disk.open(p, OpenOptions.defaultReadOnly()).close());
        assertTrue(e.getMessage().startsWith("vhd: " + p), e.getMessage());
    }

    @Test
    void vpcIsVhdAndNamesIgnoreCase() throws IOException {
        assertEquals("vhd", FormatRegistry.require("vpc").name());
        assertEquals("vhd", FormatRegistry.require("VPC").name());
        assertEquals("qcow2", FormatRegistry.require("QCOW2").name());
        UnsupportedFeatureException e = assertThrows(UnsupportedFeatureException.class,
                () -> FormatRegistry.require("vmware"));
        assertTrue(e.getMessage().contains("unknown format 'vmware'"), e.getMessage());
    }
}
