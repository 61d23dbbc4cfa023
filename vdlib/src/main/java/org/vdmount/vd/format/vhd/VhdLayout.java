package org.vdmount.vd.format.vhd;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.UUID;
import org.vdmount.vd.Bytes;
import org.vdmount.vd.CorruptImageException;
import org.vdmount.vd.NotThisFormatException;
import org.vdmount.vd.OpenOptions;
import org.vdmount.vd.ParentReference;
import org.vdmount.vd.TruncatedImageException;
import org.vdmount.vd.UnsupportedFeatureException;
import org.vdmount.vd.storage.Storage;

/**
 * Everything read and validated when a VHD is opened: footer, dynamic header, BAT, parent
 * reference. All validation of a VHD happens here, in {@link #load}; the images trust the result.
 *
 * @param footer         the footer in use
 * @param footerRaw      its 512 bytes as found (rewritten verbatim when the file grows)
 * @param footerOffset   where it was found
 * @param tailFooter     true if it is the footer at the end of the file (not the copy at 0)
 * @param virtualSize    bytes, by {@link VhdGeometry#virtualSize}
 * @param header         dynamic header (null for fixed images)
 * @param bat            BAT entries in sectors, -1 = unused (null for fixed images)
 * @param bitmapSize     bytes of the sector bitmap in front of each block
 * @param nextFreeOffset where the next block is appended (the old footer is overwritten)
 * @param parent         differencing images: what they need, else null
 */
record VhdLayout(VhdFooter footer, byte[] footerRaw, long footerOffset, boolean tailFooter, long virtualSize,
                 VhdDynamicHeader header, int[] bat, long bitmapSize, long nextFreeOffset, ParentReference parent) {

    static final String FMT = "vhd";
    /** BAT entries we are willing to hold in memory (64 MiB); far beyond any real image. */
    static final long MAX_BAT_ENTRIES = 1L << 24;
    /** Largest block size accepted (the BAT entry is a sector number, blocks are 2 MiB by default). */
    static final long MAX_BLOCK_SIZE = 1L << 31;
    /** Largest locator payload read (a path). */
    static final int MAX_LOCATOR_BYTES = 64 * 1024;
    private static final int BAT_CHUNK = 64 * 1024;

    static VhdLayout load(Storage st, OpenOptions options) throws IOException {
        Path file = st.path();
        long size = st.size();
        List<String> problems = new ArrayList<>();

        // ---- footer: at the end (512 or 511 bytes), else the copy at offset 0 ----
        if (size < VhdFooter.SHORT_SIZE) {
            throw new NotThisFormatException(FMT + ": " + file + " is too small for a VHD footer (" + size + " bytes)");
        }
        int tailLen = (int) Math.min(size, VhdFooter.SIZE);
        Bytes tail = read(st, size - tailLen, tailLen, "footer");
        byte[] raw = new byte[VhdFooter.SIZE];
        long footerOffset;
        int footerLength;
        boolean tailFooter = true;
        if (tailLen == VhdFooter.SIZE && VhdFooter.hasCookie(tail, 0)) {
            footerOffset = size - VhdFooter.SIZE;
            footerLength = VhdFooter.SIZE;
            System.arraycopy(tail.bytes(0, VhdFooter.SIZE), 0, raw, 0, VhdFooter.SIZE);
        } else if (VhdFooter.hasCookie(tail, tailLen - VhdFooter.SHORT_SIZE)) {
            footerOffset = size - VhdFooter.SHORT_SIZE;
            footerLength = VhdFooter.SHORT_SIZE;
            System.arraycopy(tail.bytes(tailLen - VhdFooter.SHORT_SIZE, VhdFooter.SHORT_SIZE), 0, raw, 0,
                    VhdFooter.SHORT_SIZE);
        } else {
            Bytes head = read(st, 0, VhdFooter.SIZE, "footer copy");
            if (!VhdFooter.hasCookie(head, 0)) {
                throw new NotThisFormatException(FMT + ": " + file + " has no VHD footer (\"conectix\" missing)");
            }
            footerOffset = 0;
            footerLength = VhdFooter.SIZE;
            tailFooter = false;
            System.arraycopy(head.bytes(0, VhdFooter.SIZE), 0, raw, 0, VhdFooter.SIZE);
            problems.add(FMT + ": no footer at the end of " + file + " (at 0x" + Long.toHexString(size - tailLen)
                    + "); using the copy at offset 0x0");
        }
        Bytes fb = Bytes.of(raw);
        VhdFooter footer = VhdFooter.parse(fb);
        checkSum(problems, file, "footer", footerOffset, fb, VhdFooter.SIZE, VhdFooter.CHECKSUM_OFFSET,
                footer.checksum());
        long type = footer.diskType();
        if (type != VhdFooter.TYPE_FIXED && type != VhdFooter.TYPE_DYNAMIC && type != VhdFooter.TYPE_DIFFERENCING) {
            throw new UnsupportedFeatureException(FMT + ": " + file + " has disk type " + type
                    + " (footer at 0x" + Long.toHexString(footerOffset) + "); only 2 fixed, 3 dynamic, 4 differencing exist");
        }
        long virtualSize = VhdGeometry.virtualSize(footer);
        if (virtualSize < 0) {
            throw corrupt(file, "footer", footerOffset, "current size " + Long.toUnsignedString(footer.currentSizeBytes())
                    + " is not a valid size");
        }
        String sizes = VhdGeometry.disagreement(footer, file);
        if (sizes != null) {
            options.warn(sizes);
        }
        if (footer.fixed()) {
            if (!tailFooter) {
                throw corrupt(file, "footer", size - tailLen, "fixed image without a footer at the end");
            }
            if (virtualSize > footerOffset) {
                throw new TruncatedImageException(FMT, file, "fixed data", 0, virtualSize, footerOffset);
            }
            decide(problems, options, file);
            return new VhdLayout(footer, raw, footerOffset, true, virtualSize, null, null, 0, 0, null);
        }

        // ---- dynamic header ----
        long hdrOff = footer.dataOffsetBytes();
        if (hdrOff < 0 || hdrOff > size - VhdDynamicHeader.SIZE) {
            throw new TruncatedImageException(FMT, file, "dynamic header (footer data offset)", hdrOff,
                    VhdDynamicHeader.SIZE, size);
        }
        Bytes hb = read(st, hdrOff, VhdDynamicHeader.SIZE, "dynamic header");
        if (!VhdDynamicHeader.hasCookie(hb)) {
            throw corrupt(file, "dynamic header", hdrOff, "cookie \"cxsparse\" missing");
        }
        VhdDynamicHeader header = VhdDynamicHeader.parse(hb);
        checkSum(problems, file, "dynamic header", hdrOff, hb, VhdDynamicHeader.SIZE, VhdDynamicHeader.CHECKSUM_OFFSET,
                header.checksum());
        long bs = header.blockSizeBytes();
        if (bs < VhdGeometry.SECTOR || bs > MAX_BLOCK_SIZE || Long.bitCount(bs) != 1) {
            throw corrupt(file, "dynamic header", hdrOff + 0x20, "block size " + bs
                    + " is not a power of two between 512 and " + MAX_BLOCK_SIZE);
        }
        long entries = header.maxTableEntries();
        if (entries > MAX_BAT_ENTRIES) {
            throw new UnsupportedFeatureException(FMT + ": BAT of " + entries + " entries in " + file + " at 0x"
                    + Long.toHexString(hdrOff + 0x1C) + " exceeds the limit of " + MAX_BAT_ENTRIES);
        }
        if (entries * bs < virtualSize) {
            throw corrupt(file, "dynamic header", hdrOff + 0x1C, "BAT of " + entries + " entries of " + bs
                    + " bytes covers less than the virtual size " + virtualSize);
        }
        long batOff = header.tableOffsetBytes();
        long batLen = entries * 4;
        if (batOff < 0 || batOff > size || batLen > size - batOff) {
            throw new TruncatedImageException(FMT, file, "BAT", batOff, batLen, size);
        }
        int[] bat = readBat(st, batOff, (int) entries);
        long bitmapSize = VhdDynamicHeader.bitmapSizeBytes(bs);
        long dataLimit = tailFooter ? footerOffset : size;
        long blockLimit = options.zeroTail() ? Long.MAX_VALUE : dataLimit;
        long maxEnd = checkBlocks(file, bat, batOff, bs + bitmapSize, blockLimit,
                new long[][] {{0, VhdFooter.SIZE}, {hdrOff, hdrOff + VhdDynamicHeader.SIZE},
                    {batOff, batOff + batLen}});
        long next = Math.max(Math.max(maxEnd, batOff + batLen), Math.max(hdrOff + VhdDynamicHeader.SIZE, dataLimit));
        next = (next + VhdGeometry.SECTOR - 1) & -VhdGeometry.SECTOR;

        ParentReference parent = null;
        if (footer.differencing()) {
            parent = parentReference(st, header, hdrOff, size, options);
        }
        decide(problems, options, file);
        return new VhdLayout(footer, raw, footerOffset, tailFooter, virtualSize, header, bat, bitmapSize, next, parent);
    }

    /**
     * Records a checksum mismatch of the footer or the dynamic header (the one's complement of the
     * byte sum, its own field skipped) as a problem; {@link #decide} weighs the problems.
     */
    private static void checkSum(List<String> problems, Path file, String structure, long at, Bytes b, int size,
                                 int checksumOffset, long stored) {
        long sum = VhdFooter.checksum(b, size, checksumOffset);
        if (sum != stored) {
            problems.add(FMT + ": " + structure + " checksum mismatch in " + file + " at 0x" + Long.toHexString(at)
                    + ": stored 0x" + Long.toHexString(stored) + ", computed 0x" + Long.toHexString(sum));
        }
    }

    /** Checksum problems and a missing end footer: warnings when read-only, an error when writable. */
    private static void decide(List<String> problems, OpenOptions options, Path file) throws CorruptImageException {
        if (problems.isEmpty()) {
            return;
        }
        if (!options.readOnly()) {
            throw new CorruptImageException(problems.get(0) + "; refusing to open it writable (open it read-only)");
        }
        for (String p : problems) {
            options.warn(p + " (opened read-only)");
        }
    }

    private static int[] readBat(Storage st, long batOff, int entries) throws IOException {
        int[] bat = new int[entries];
        ByteBuffer buf = ByteBuffer.allocate((int) Math.min(BAT_CHUNK, (long) entries * 4));
        for (int i = 0; i < entries; ) {
            int n = Math.min(entries - i, buf.capacity() / 4);
            buf.clear().limit(n * 4);
            st.readFully(buf, batOff + (long) i * 4, FMT, "BAT");
            Bytes b = Bytes.of(buf.array());
            for (int k = 0; k < n; k++) {
                bat[i + k] = b.s32be(k * 4);
            }
            i += n;
        }
        return bat;
    }

    /**
     * Every used entry must lie inside the data area (below {@code dataLimit}; unbounded for a
     * file opened with allowTruncated, whose blocks past the cut read as zeros), clear of the
     * metadata and of each other. Returns the highest block end.
     */
    private static long checkBlocks(Path file, int[] bat, long batOff, long blockSpan, long dataLimit,
                                    long[][] metadata) throws CorruptImageException {
        int used = 0;
        long maxEnd = 0;
        for (int i = 0; i < bat.length; i++) {
            long sector = bat[i] & 0xFFFF_FFFFL;
            if (sector == VhdDynamicHeader.UNUSED_BAT_ENTRY) {
                continue;
            }
            long start = sector * VhdGeometry.SECTOR;
            long end = start + blockSpan;
            if (end > dataLimit) {
                throw new TruncatedImageException(FMT + ": truncated block " + i + " in " + file + ": BAT entry at 0x"
                        + Long.toHexString(batOff + 4L * i) + " points to 0x" + Long.toHexString(start)
                        + ", block ends at 0x" + Long.toHexString(end) + " past the data end 0x"
                        + Long.toHexString(dataLimit));
            }
            for (long[] m : metadata) {
                if (start < m[1] && m[0] < end) {
                    throw corrupt(file, "BAT entry " + i, batOff + 4L * i, "block at 0x" + Long.toHexString(start)
                            + " overlaps metadata at 0x" + Long.toHexString(m[0]));
                }
            }
            maxEnd = Math.max(maxEnd, end);
            used++;
        }
        long[] starts = new long[used];
        int k = 0;
        for (int e : bat) {
            if ((e & 0xFFFF_FFFFL) != VhdDynamicHeader.UNUSED_BAT_ENTRY) {
                starts[k++] = (e & 0xFFFF_FFFFL) * VhdGeometry.SECTOR;
            }
        }
        Arrays.sort(starts);
        for (int i = 1; i < used; i++) {
            if (starts[i] < starts[i - 1] + blockSpan) {
                throw corrupt(file, "BAT", batOff, "blocks at 0x" + Long.toHexString(starts[i - 1]) + " and 0x"
                        + Long.toHexString(starts[i]) + " overlap");
            }
        }
        return maxEnd;
    }

    /** Parent id, locators best first (W2ru, W2ku, MacX, Wi2r, Wi2k), the parent name last. */
    private static ParentReference parentReference(Storage st, VhdDynamicHeader h, long hdrOff, long size,
                                                   OpenOptions options) throws IOException {
        List<VhdParentLocator> sorted = new ArrayList<>();
        for (VhdParentLocator l : h.locators()) {
            if (!l.empty() && l.rank() >= 0) {
                sorted.add(l);
            }
        }
        sorted.sort((a, b) -> Integer.compare(a.rank(), b.rank()));
        List<String> paths = new ArrayList<>();
        for (VhdParentLocator l : sorted) {
            long off = l.dataOffsetBytes();
            long len = l.dataLengthBytes();
            if (len == 0) {
                continue;
            }
            if (len > MAX_LOCATOR_BYTES || off < 0 || off > size || len > size - off) {
                options.warn(FMT + ": ignoring parent locator " + l.platformCode().trim() + " in " + st.path()
                        + " (header at 0x" + Long.toHexString(hdrOff) + "): data at 0x" + Long.toHexString(off)
                        + "+" + len + " outside the file");
                continue;
            }
            String p = l.decode(read(st, off, (int) len, "parent locator"));
            if (!p.isBlank() && !paths.contains(p)) {
                paths.add(p);
            }
        }
        if (!h.parentName().isBlank() && !paths.contains(h.parentName())) {
            paths.add(h.parentName());
        }
        UUID id = h.parentUuid();
        boolean zero = id.getMostSignificantBits() == 0 && id.getLeastSignificantBits() == 0;
        return new ParentReference(zero ? null : id, paths, null);
    }

    private static Bytes read(Storage st, long off, int len, String structure) throws IOException {
        ByteBuffer b = ByteBuffer.allocate(len);
        st.readFully(b, off, FMT, structure);
        return Bytes.of(b.array());
    }

    static CorruptImageException corrupt(Path file, String structure, long offset, String detail) {
        return new CorruptImageException(FMT, file, structure, offset, detail);
    }

    /** Number of blocks covering the virtual size. */
    int blockCount() {
        long bs = header.blockSizeBytes();
        return (int) ((virtualSize + bs - 1) / bs);
    }
}
