package org.vdmount.vd.format.parallels;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.file.Path;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import org.vdmount.vd.Bytes;
import org.vdmount.vd.CorruptImageException;
import org.vdmount.vd.storage.Storage;

/**
 * The Format Extension cluster that ext_off points to (parallels.txt "Format Extension"): a magic,
 * an MD5 of the rest of the cluster, then feature sections up to an all-zero "End of features".
 * This library reads it only to know what it must not break: a dirty bitmap goes stale once the
 * image is written (a writable open drops it, as QEMU does), and an unknown feature flagged
 * NECESSARY forbids changing the file.
 *
 * @param checksumOk whether the stored MD5 matches the cluster
 * @param features   the feature sections, "End of features" excluded
 */
record FormatExtension(boolean checksumOk, List<Feature> features) {

    static final long MAGIC = 0xAB234CEF23DCEA87L;
    static final long DIRTY_BITMAP = 0x20385FAE252CB34AL;
    static final long FLAG_NECESSARY = 1;
    static final long FLAG_TRANSIT = 2;
    private static final int HEAD = 24;
    private static final int FEATURE_HEAD = 24;

    /**
     * One feature section (parallels.txt "feature section").
     *
     * @param magic    which feature
     * @param flags    NECESSARY (bit 0), TRANSIT (bit 1)
     * @param dataSize bytes of feature data after the section header
     * @param offset   of the section in the extension cluster
     */
    record Feature(long magic, long flags, long dataSize, int offset) {
        boolean known() {
            return magic == DIRTY_BITMAP;
        }

        boolean necessary() {
            return (flags & FLAG_NECESSARY) != 0;
        }
    }

    FormatExtension {
        features = List.copyOf(features);
    }

    /** Reads and walks the extension cluster of {@code h}, every section bounded by the cluster. */
    static FormatExtension read(Storage storage, ParallelsHeader h, Path file) throws IOException {
        long at = h.extOffSectors() * ParallelsHeader.SECTOR;
        int size = (int) h.clusterBytes();
        ByteBuffer buf = ByteBuffer.allocate(size);
        storage.readFully(buf, at, "parallels", "format extension");
        Bytes b = Bytes.of(buf.array());
        if (size < HEAD + FEATURE_HEAD || b.u64le(0) != MAGIC) {
            throw new CorruptImageException("parallels", file, "format extension", at, "magic 0x"
                    + (size >= 8 ? Long.toHexString(b.u64le(0)) : "?") + " is not 0xab234cef23dcea87");
        }
        boolean checksumOk = Arrays.equals(b.bytes(8, 16), md5(buf.array(), HEAD, size - HEAD));
        List<Feature> features = new ArrayList<>();
        int off = HEAD;
        while (true) {
            if (off > size - FEATURE_HEAD) {
                throw new CorruptImageException("parallels", file, "format extension", at + off,
                        "feature list runs past the cluster without an End of features section");
            }
            long magic = b.u64le(off);
            long flags = b.u64le(off + 8);
            long dataSize = b.u32le(off + 16);
            if (magic == 0) {
                break;
            }
            long next = off + FEATURE_HEAD + ((dataSize + 7) & ~7L);
            if (next > size) {
                throw new CorruptImageException("parallels", file, "format extension", at + off, "feature 0x"
                        + Long.toHexString(magic) + " of " + dataSize + " bytes runs past the cluster");
            }
            features.add(new Feature(magic, flags, dataSize, off));
            off = (int) next;
        }
        return new FormatExtension(checksumOk, features);
    }

    /** The first unknown feature flagged NECESSARY (parallels.txt: "the file should not be changed"), or null. */
    Feature unknownNecessary() {
        return features.stream().filter(f -> !f.known() && f.necessary()).findFirst().orElse(null);
    }

    private static byte[] md5(byte[] a, int off, int len) {
        try {
            MessageDigest md = MessageDigest.getInstance("MD5");
            md.update(a, off, len);
            return md.digest();
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException("MD5 is part of every Java platform", e);
        }
    }
}
