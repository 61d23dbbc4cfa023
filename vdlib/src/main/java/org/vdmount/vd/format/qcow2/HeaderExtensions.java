package org.vdmount.vd.format.qcow2;

import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import org.vdmount.vd.Bytes;
import org.vdmount.vd.CorruptImageException;

/**
 * The header extensions after the fixed header (qcow2.txt "Header extensions"): type u32, length
 * u32, data padded to 8. They end at a type-0 entry, at the backing file name, or at the end of
 * the first cluster.
 *
 * @param backingFormat   0xe2792aca: backing file format name, or null
 * @param dataFile        0x44415441: external data file name, or null
 * @param featureNames    0x6803f857: names of feature bits (type, bit, name)
 * @param bitmapCount     0x23852875: nb_bitmaps of the bitmaps extension, 0 if absent
 * @param bitmapDirectoryOffset / bitmapDirectorySize: where the bitmap directory lies
 * @param cryptoHeader    0x0537be77 present (full disk encryption header pointer)
 * @param cryptoOffset    its offset field: where the LUKS header lies in the file (0 if absent)
 * @param cryptoLength    its length field: the bytes the LUKS header and key slots take
 * @param start           offset of the first extension (the end of the fixed header)
 * @param end             offset of the end marker (or the limit if there is none)
 */
record HeaderExtensions(String backingFormat, String dataFile, List<FeatureName> featureNames,
                        long bitmapCount, long bitmapDirectoryOffset, long bitmapDirectorySize,
                        boolean cryptoHeader, long cryptoOffset, long cryptoLength, int start, int end) {

    static final int END = 0;
    static final int BACKING_FORMAT = 0xe2792aca;
    static final int FEATURE_NAMES = 0x6803f857;
    static final int BITMAPS = 0x23852875;
    static final int CRYPTO = 0x0537be77;
    static final int DATA_FILE = 0x44415441;
    static final int FEATURE_NAME_SIZE = 48;
    /** Size of the table {@link #putFeatureNames} writes. */
    static final int FEATURE_NAMES_BYTES = 8 + 8 * FEATURE_NAME_SIZE;

    /** One entry of the feature name table: type 0 incompatible, 1 compatible, 2 autoclear. */
    record FeatureName(int type, int bit, String name) {
    }

    /**
     * Parses the extensions in {@code first} (the first cluster, or the whole file if smaller)
     * from {@code start} to {@code limit}.
     */
    static HeaderExtensions parse(Bytes first, int start, int limit, Path file) throws CorruptImageException {
        String backingFormat = null;
        String dataFile = null;
        List<FeatureName> names = new ArrayList<>();
        long bitmaps = 0;
        long bitmapDirOffset = 0;
        long bitmapDirSize = 0;
        boolean crypto = false;
        long cryptoOffset = 0;
        long cryptoLength = 0;
        int off = start;
        while (off + 8 <= limit) {
            int type = first.s32be(off);
            long len = first.u32be(off + 4);
            if (type == END) {
                break;
            }
            if (len > limit - off - 8) {
                throw new CorruptImageException("qcow2", file, "header extension", off, "type 0x"
                        + Integer.toHexString(type) + " length " + len + " runs past 0x" + Integer.toHexString(limit));
            }
            int data = off + 8;
            int n = (int) len;
            switch (type) {
                case BACKING_FORMAT -> backingFormat = new String(first.bytes(data, n), StandardCharsets.UTF_8);
                case DATA_FILE -> dataFile = new String(first.bytes(data, n), StandardCharsets.UTF_8);
                case FEATURE_NAMES -> {
                    for (int i = 0; i + FEATURE_NAME_SIZE <= n; i += FEATURE_NAME_SIZE) {
                        names.add(new FeatureName(first.u8(data + i), first.u8(data + i + 1),
                                first.asciiz(data + i + 2, FEATURE_NAME_SIZE - 2)));
                    }
                }
                case BITMAPS -> {
                    if (n < 24) {
                        throw new CorruptImageException("qcow2", file, "bitmaps extension", off, "length " + n
                                + " < 24");
                    }
                    bitmaps = first.u32be(data);
                    bitmapDirSize = first.u64be(data + 8);
                    bitmapDirOffset = first.u64be(data + 16);
                }
                case CRYPTO -> {
                    // qcow2.txt "Full disk encryption header pointer": u64 offset, u64 length
                    if (n < 16) {
                        throw new CorruptImageException("qcow2", file, "full disk encryption header pointer", off,
                                "length " + n + " < 16");
                    }
                    crypto = true;
                    cryptoOffset = first.u64be(data);
                    cryptoLength = first.u64be(data + 8);
                }
                default -> {
                    // unknown extensions can be ignored (qcow2.txt)
                }
            }
            off = data + (int) ((len + 7) & ~7L);
        }
        return new HeaderExtensions(backingFormat, dataFile, List.copyOf(names), bitmaps, bitmapDirOffset,
                bitmapDirSize, crypto, cryptoOffset, cryptoLength, start, Math.min(off, limit));
    }

    /** "bit 5 (name)" for each set bit of an unknown incompatible mask. */
    String describeIncompatible(long mask) {
        List<String> out = new ArrayList<>();
        for (int bit = 0; bit < 64; bit++) {
            if ((mask >>> bit & 1) != 0) {
                String name = null;
                for (FeatureName f : featureNames) {
                    if (f.type() == 0 && f.bit() == bit) {
                        name = f.name();
                    }
                }
                out.add("bit " + bit + (name != null ? " (" + name + ")" : ""));
            }
        }
        return String.join(", ", out);
    }

    /**
     * The extension area from {@link #start} to just past {@link #end} rebuilt without extensions
     * of type {@code drop}, ending in an end marker and zero-padded to the old length.
     */
    byte[] areaWithout(Bytes first, int drop) {
        int oldLen = Math.min(end + 8, first.size()) - start;
        byte[] out = new byte[Math.max(oldLen, 8)];
        int in = start;
        int at = 0;
        while (in + 8 <= end) {
            int type = first.s32be(in);
            int len = (int) ((first.u32be(in + 4) + 7) & ~7L) + 8;
            if (type != drop && at + len + 8 <= out.length) {
                System.arraycopy(first.bytes(in, Math.min(len, end - in)), 0, out, at, Math.min(len, end - in));
                at += len;
            }
            in += len;
        }
        return out; // the rest (including the end marker) stays zero
    }

    /**
     * The extensions from {@link #start} to {@link #end} other than those of type {@code drop},
     * exactly as they are stored (type, length, padded data), without an end marker.
     */
    byte[] entriesWithout(Bytes first, int drop) {
        java.io.ByteArrayOutputStream out = new java.io.ByteArrayOutputStream();
        int in = start;
        while (in + 8 <= end) {
            int type = first.s32be(in);
            int len = (int) Math.min(((first.u32be(in + 4) + 7) & ~7L) + 8, end - in);
            if (type != drop) {
                out.writeBytes(first.bytes(in, len));
            }
            in += len;
        }
        return out.toByteArray();
    }

    /** Writes one string extension at {@code off}; returns the offset after it (padded to 8). */
    static int putString(Bytes b, int off, int type, String value) {
        byte[] s = value.getBytes(StandardCharsets.UTF_8);
        b.put32be(off, type);
        b.put32be(off + 4, s.length);
        b.putBytes(off + 8, s);
        int padded = (s.length + 7) & ~7;
        b.fill(off + 8 + s.length, padded - s.length, 0);
        return off + 8 + padded;
    }

    /** Writes the feature name table (the features this implementation knows). */
    static int putFeatureNames(Bytes b, int off) {
        String[][] table = {
            {"0", "0", "dirty bit"}, {"0", "1", "corrupt bit"}, {"0", "2", "external data file"},
            {"0", "3", "compression type"}, {"0", "4", "extended L2 entries"},
            {"1", "0", "lazy refcounts"}, {"2", "0", "bitmaps"}, {"2", "1", "raw external data"},
        };
        b.put32be(off, FEATURE_NAMES);
        b.put32be(off + 4, (long) table.length * FEATURE_NAME_SIZE);
        int p = off + 8;
        for (String[] f : table) {
            b.fill(p, FEATURE_NAME_SIZE, 0);
            b.put8(p, Integer.parseInt(f[0]));
            b.put8(p + 1, Integer.parseInt(f[1]));
            b.putBytes(p + 2, f[2].getBytes(StandardCharsets.US_ASCII));
            p += FEATURE_NAME_SIZE;
        }
        return p;
    }
}
