package org.vdmount.vd;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.nio.charset.Charset;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;

/** Test-side patching of parent locators in place (same byte length, so no structure moves). */
final class WinLocators {
    /** VHD dynamic header: parent unicode name (UTF-16BE, 512 bytes) and checksum offsets. */
    private static final int VHD_DATA_OFFSET = 16;
    private static final int VHD_HEADER_CHECKSUM = 36;
    private static final int VHD_PARENT_NAME = 64;
    private static final int VHD_HEADER_SIZE = 1024;

    private WinLocators() {
    }

    /** Replaces every occurrence of {@code from} by {@code to} (same length) encoded in {@code cs}. */
    static void replace(Path file, Charset cs, String from, String to) throws IOException {
        byte[] f = from.getBytes(cs);
        byte[] t = to.getBytes(cs);
        assertEquals(f.length, t.length, "replacement must keep the length");
        byte[] b = Files.readAllBytes(file);
        int hits = 0;
        for (int i = 0; i + f.length <= b.length; i++) {
            if (java.util.Arrays.equals(b, i, i + f.length, f, 0, f.length)) {
                System.arraycopy(t, 0, b, i, t.length);
                hits++;
                i += f.length - 1;
            }
        }
        assertTrue(hits > 0, "'" + from + "' not found in " + file);
        Files.write(file, b);
    }

    /** Renames the parent in a dynamic/differencing VHD's header and fixes the header checksum. */
    static void replaceVhdParentName(Path vhd, String from, String to) throws IOException {
        byte[] b = Files.readAllBytes(vhd);
        Bytes all = Bytes.of(b);
        int h = (int) all.u64be(VHD_DATA_OFFSET);
        Bytes header = Bytes.of(b).at(h);
        String name = header.utf16be(VHD_PARENT_NAME, 512);
        assertEquals(from, name.replace("\0", ""), "parent name in " + vhd);
        header.fill(VHD_PARENT_NAME, 512, 0);
        header.putBytes(VHD_PARENT_NAME, to.getBytes(StandardCharsets.UTF_16BE));
        header.put32be(VHD_HEADER_CHECKSUM, 0);
        long sum = 0;
        for (int i = 0; i < VHD_HEADER_SIZE; i++) {
            sum += header.u8(i);
        }
        header.put32be(VHD_HEADER_CHECKSUM, ~sum & 0xFFFFFFFFL);
        Files.write(vhd, b);
    }
}
