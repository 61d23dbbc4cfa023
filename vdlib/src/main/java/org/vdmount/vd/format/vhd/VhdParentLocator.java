package org.vdmount.vd.format.vhd;

import java.nio.charset.StandardCharsets;
import org.vdmount.vd.Bytes;

/**
 * One parent locator entry of the dynamic header (libvhdi "Parent locator entry"; 8 of them at
 * header offset 0x240). The path itself lies elsewhere in the file.
 *
 * @param platformCode    0x00 "W2ku" absolute / "W2ru" relative UTF-16LE path, "MacX" file URL,
 *                        "Wi2k"/"Wi2r" deprecated ANSI paths, "Mac " alias blob, or zero
 * @param dataSpaceBytes  0x04 space reserved for the data (the spec says sectors; Windows writes
 *                        bytes, and so do we)
 * @param dataLengthBytes 0x08 length of the locator data
 * @param dataOffsetBytes 0x10 file offset of the locator data (0x0C is reserved)
 */
record VhdParentLocator(String platformCode, long dataSpaceBytes, long dataLengthBytes, long dataOffsetBytes) {

    static final int SIZE = 24;
    static final String W2KU = "W2ku";
    static final String W2RU = "W2ru";
    static final String WI2K = "Wi2k";
    static final String WI2R = "Wi2r";
    static final String MACX = "MacX";

    static VhdParentLocator parse(Bytes b) {
        return new VhdParentLocator(VhdFooter.fourcc(b, 0x00), b.u32be(0x04), b.u32be(0x08), b.u64be(0x10));
    }

    void write(Bytes b) {
        b.putBytes(0x00, VhdFooter.fourccBytes(platformCode)).put32be(0x04, dataSpaceBytes)
                .put32be(0x08, dataLengthBytes).put32be(0x0C, 0).put64be(0x10, dataOffsetBytes);
    }

    boolean empty() {
        return platformCode.equals("\0\0\0\0");
    }

    /** Rank among locators (lower = better), or -1 if we cannot decode this platform's data. */
    int rank() {
        return switch (platformCode) {
            case W2RU -> 0;
            case W2KU -> 1;
            case MACX -> 2;
            case WI2R -> 3;
            case WI2K -> 4;
            default -> -1;
        };
    }

    /** The path stored in {@code data} (this locator's bytes), as written by the creator. */
    String decode(Bytes data) {
        int n = data.size();
        return switch (platformCode) {
            case W2RU, W2KU -> data.utf16le(0, n);
            case WI2R, WI2K -> data.asciiz(0, n);
            case MACX -> fileUrlPath(new String(data.bytes(0, n), StandardCharsets.UTF_8));
            default -> "";
        };
    }

    /** "file://localhost/a%20b/c.vhd" -> "/a b/c.vhd"; anything else unchanged. */
    private static String fileUrlPath(String url) {
        String s = url.indexOf('\0') >= 0 ? url.substring(0, url.indexOf('\0')) : url;
        if (s.startsWith("file://")) {
            int slash = s.indexOf('/', "file://".length());
            s = slash < 0 ? "" : s.substring(slash);
        }
        try {
            return java.net.URLDecoder.decode(s.replace("+", "%2B"), StandardCharsets.UTF_8);
        } catch (IllegalArgumentException e) {
            return s;
        }
    }
}
