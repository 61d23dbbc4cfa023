package org.vdmount.vd;

import java.nio.charset.StandardCharsets;
import java.util.Arrays;
import java.util.List;
import java.util.Optional;

/**
 * Signatures of containers and archives this library has no reader for. A file that carries one
 * is never opened as raw by a probe (design.md section 5.1): the user would see the container's
 * own bytes as a disk, silently wrong data. Naming the format with {@code -f raw} still opens it.
 *
 * @param what        what the file is, as a user would name it
 * @param fromEnd     whether {@code offset} counts back from the end of the file
 * @param offset      where the magic starts (from the start, or back from the end)
 * @param magic       the signature bytes
 */
public record ForeignSignature(String what, boolean fromEnd, int offset, byte[] magic) {

    private static final List<ForeignSignature> KNOWN = List.of(
            // EWF2 (Ex01) "EVF2" 0x0d 0x0a 0x81 0x00 (EWF1/E01 itself is read by format.ewf).
            start("an EWF2 (Ex01) segment", 0, bytes(0x45, 0x56, 0x46, 0x32, 0x0d, 0x0a, 0x81, 0x00)),
            start("an EWF logical evidence (L01) segment", 0, bytes(0x4c, 0x56, 0x46, 0x09, 0x0d, 0x0a, 0xff, 0x00)),
            start("a Bochs disk image", 0, ascii("Bochs Virtual HD Image")),
            // Apple sparse image (.sparseimage, "sprs" header) and encrypted DMGs: v2 "encrcdsa"
            // header, v1 "cdsaencr" trailer (libyal/libmodi, Mac OS disk image types).
            start("an Apple sparse disk image (.sparseimage)", 0, ascii("sprs")),
            start("an encrypted Apple disk image (DMG, 'encrcdsa' header)", 0, ascii("encrcdsa")),
            end("an encrypted Apple disk image (DMG, 'cdsaencr' trailer)", 8, ascii("cdsaencr")),
            // Advanced Forensic Format (AFFLIB): "AFF10\r\n" (AFF4 volumes are ZIP archives, below).
            start("an Advanced Forensic Format (AFF) image", 0, bytes(0x41, 0x46, 0x46, 0x31, 0x30, 0x0d, 0x0a, 0x00)),
            // Windows Imaging (WIM) "MSWIM\0\0\0" and its ESD variant (same header).
            start("a Windows Imaging (WIM/ESD) file", 0, bytes(0x4d, 0x53, 0x57, 0x49, 0x4d, 0, 0, 0)),
            start("a cloop compressed image", 0, ascii("#!/bin/sh\n#V2.0 Format")),
            start("a VMware COWD sparse extent (ESX 2.x)", 0, ascii("COWD")),
            start("a gzip-compressed file", 0, bytes(0x1f, 0x8b, 0x08)),
            start("an xz-compressed file", 0, bytes(0xfd, 0x37, 0x7a, 0x58, 0x5a, 0x00)),
            start("a zstd-compressed file", 0, bytes(0x28, 0xb5, 0x2f, 0xfd)),
            start("a bzip2-compressed file", 0, ascii("BZh91AY&SY")),
            start("a 7-Zip archive", 0, bytes(0x37, 0x7a, 0xbc, 0xaf, 0x27, 0x1c)),
            start("a ZIP archive (an OVA/OVF export?)", 0, bytes(0x50, 0x4b, 0x03, 0x04)));

    public ForeignSignature {
        magic = magic.clone();
    }

    /** The first known foreign signature the probed file carries, if any. */
    public static Optional<ForeignSignature> find(ProbeInput in) {
        return KNOWN.stream().filter(s -> s.matches(in)).findFirst();
    }

    boolean matches(ProbeInput in) {
        if (in.directory()) {
            return false;
        }
        Bytes area = fromEnd ? in.tail() : in.head();
        int at = fromEnd ? area.size() - offset : offset;
        if (fromEnd && in.size() < offset || at < 0 || at + magic.length > area.size()) {
            return false;
        }
        return Arrays.equals(area.bytes(at, magic.length), magic);
    }

    /** Where the signature sits in the file, for messages. */
    long fileOffset(long fileSize) {
        return fromEnd ? fileSize - offset : offset;
    }

    private static ForeignSignature start(String what, int offset, byte[] magic) {
        return new ForeignSignature(what, false, offset, magic);
    }

    private static ForeignSignature end(String what, int offset, byte[] magic) {
        return new ForeignSignature(what, true, offset, magic);
    }

    private static byte[] ascii(String s) {
        return s.getBytes(StandardCharsets.US_ASCII);
    }

    private static byte[] bytes(int... values) {
        byte[] b = new byte[values.length];
        for (int i = 0; i < values.length; i++) {
            b[i] = (byte) values[i];
        }
        return b;
    }
}
