package org.vdmount.vd.format.ewf;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HexFormat;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.zip.DataFormatException;
import org.vdmount.vd.Bytes;
import org.vdmount.vd.CorruptImageException;
import org.vdmount.vd.OpenOptions;
import org.vdmount.vd.TruncatedImageException;
import org.vdmount.vd.UnsupportedFeatureException;
import org.vdmount.vd.storage.SplitStorage;

/**
 * Reads the section chain of every segment (spec: "Sections"): header2/header, volume/disk,
 * sectors, table/table2, hash, digest, done/next. Everything a header says is checked against
 * the segment's size before it is used; sections it does not need are skipped.
 */
final class SectionWalker {
    /** Section data this walker reads whole (headers, tables): bounded, a table holds at most 65534 entries. */
    private static final long MAX_SECTION_DATA = 4L << 20;
    /** A stored or compressed chunk never takes more than the chunk plus this. */
    static final int CHUNK_SLACK = 1024;

    private final SplitStorage storage;
    private final List<Path> files;
    private final OpenOptions options;
    private final ChunkTable chunks;
    private final Map<String, String> caseInfo = new LinkedHashMap<>();
    private boolean caseFromHeader2;
    private VolumeSection volume;
    private String md5;
    private String sha1;
    /** The [start, end) ranges of the current segment's "sectors" sections (chunk data). */
    private final List<long[]> sectors = new ArrayList<>();
    /** The table that failed to parse, until its "table2" stands in for it. */
    private CorruptImageException damagedTable;
    private int segmentsUsed;
    private boolean tablesComplete;

    /** What the walk found. */
    record Layout(VolumeSection volume, long volumeOffset, ChunkTable chunks, int segments, Map<String, String> caseInfo,
                  String md5, String sha1) {
    }

    private long volumeOffset;

    private SectionWalker(SplitStorage storage, OpenOptions options, int cachedTables) {
        this.storage = storage;
        this.files = storage.files();
        this.options = options;
        this.chunks = new ChunkTable(storage, cachedTables);
    }

    /** Walks the segments of {@code storage} (its parts, in order) until a "done" section. */
    static Layout walk(SplitStorage storage, OpenOptions options) throws IOException {
        return walk(storage, options, ChunkTable.CACHED_TABLES);
    }

    /** As above, keeping {@code cachedTables} tables' entries in memory at once. */
    static Layout walk(SplitStorage storage, OpenOptions options, int cachedTables) throws IOException {
        SectionWalker w = new SectionWalker(storage, options, cachedTables);
        w.walkAll();
        return new Layout(w.volume, w.volumeOffset, w.chunks, w.segmentsUsed, w.caseInfo, w.md5, w.sha1);
    }

    private void walkAll() throws IOException {
        for (int i = 0; i < files.size(); i++) {
            boolean done = walkSegment(i);
            segmentsUsed = i + 1;
            if (done) {
                finish();
                return;
            }
        }
        Path first = files.get(0);
        String missing = SegmentSet.namedFirst(first)
                ? first.resolveSibling(SegmentSet.segmentName(first, files.size() + 1)).toString()
                : "segment " + (files.size() + 1) + " (not found by name: " + first.getFileName() + " is not named *.E01)";
        throw new TruncatedImageException("ewf: missing segment " + missing + ": " + files.get(files.size() - 1)
                + " ends with a 'next' section");
    }

    private long segmentSize(int seg) {
        return storage.partStart(seg + 1) - storage.partStart(seg);
    }

    /** Reads {@code length} bytes at {@code offset} of segment {@code seg}, or a truncation error naming it. */
    private Bytes read(int seg, long offset, long length, String structure) throws IOException {
        long size = segmentSize(seg);
        if (offset < 0 || length < 0 || offset > size || length > size - offset) {
            throw new TruncatedImageException("ewf", files.get(seg), structure, offset, length, size);
        }
        ByteBuffer b = ByteBuffer.allocate((int) length);
        storage.readFully(b, storage.partStart(seg) + offset, "ewf", structure);
        b.flip();
        return Bytes.of(b);
    }

    /** Walks one segment's chain; true if it ends the set ("done"). */
    private boolean walkSegment(int seg) throws IOException {
        Path file = files.get(seg);
        long size = segmentSize(seg);
        FileHeader header = FileHeader.parse(read(seg, 0, FileHeader.SIZE, "file header"), file);
        if (header.segmentNumber() != seg + 1) {
            String hint = seg == 0 ? " (open the set by its first segment, *.E01)" : "";
            throw new CorruptImageException("ewf", file, "file header", 9, "segment number " + header.segmentNumber()
                    + ", expected " + (seg + 1) + hint);
        }
        sectors.clear();
        long offset = FileHeader.SIZE;
        String previous = "";
        while (true) {
            SectionDescriptor d = SectionDescriptor.parse(read(seg, offset, SectionDescriptor.SIZE,
                    "section descriptor"), file, offset);
            if (!d.type().equals("table2")) {
                resolveDamagedTable();
            }
            if (d.sizeBytes() < 0 || d.sizeBytes() > size - offset) {
                throw new TruncatedImageException("ewf", file, "'" + d.type() + "' section", offset, d.sizeBytes(), size);
            }
            switch (d.type()) {
                case "header2", "header" -> header(seg, d);
                case "volume", "disk" -> volume(seg, d);
                case "sectors" -> sectors.add(new long[] {d.dataOffset(), d.offset() + d.sizeBytes()});
                case "table" -> table(seg, d, false);
                case "table2" -> table(seg, d, previous.equals("table"));
                case "hash" -> hash(seg, d);
                case "digest" -> digest(seg, d);
                case "done" -> {
                    return true;
                }
                case "next" -> {
                    return false;
                }
                default -> {
                    // data (the volume repeated), error2, session, ltree, ...: nothing the reader needs
                }
            }
            if (d.nextOffset() <= offset || d.nextOffset() > size) {
                throw new CorruptImageException("ewf", file, "'" + d.type() + "' section descriptor", offset,
                        "next section offset 0x" + Long.toHexString(d.nextOffset()) + (d.nextOffset() <= offset
                                ? " does not move forward" : " past the segment's end 0x" + Long.toHexString(size)));
            }
            previous = d.type();
            offset = d.nextOffset();
        }
    }

    private Bytes sectionData(int seg, SectionDescriptor d, long minimum) throws IOException {
        long n = d.dataSize();
        if (n < minimum) {
            throw new CorruptImageException("ewf", files.get(seg), "'" + d.type() + "' section", d.offset(),
                    "holds " + n + " bytes of data, needs " + minimum);
        }
        if (n > MAX_SECTION_DATA) {
            throw new CorruptImageException("ewf", files.get(seg), "'" + d.type() + "' section", d.offset(),
                    "size " + d.sizeBytes() + " exceeds " + MAX_SECTION_DATA);
        }
        return read(seg, d.dataOffset(), n, "'" + d.type() + "' section");
    }

    /** Case metadata: header2 (UTF-16) wins over header; damage only costs the metadata (a warning). */
    private void header(int seg, SectionDescriptor d) throws IOException {
        boolean utf16 = d.type().equals("header2");
        if (seg != 0 || caseFromHeader2 || (!utf16 && !caseInfo.isEmpty())) {
            return;
        }
        Bytes data = sectionData(seg, d, 1);
        try {
            Map<String, String> parsed = CaseInfo.parse(data.bytes(0, data.size()), utf16);
            caseInfo.clear();
            caseInfo.putAll(parsed);
            caseFromHeader2 = utf16;
        } catch (DataFormatException e) {
            options.warn("ewf: " + files.get(seg) + ": '" + d.type() + "' section at 0x" + Long.toHexString(d.offset())
                    + " does not inflate (" + e.getMessage() + "); case metadata not shown");
        }
    }

    private void volume(int seg, SectionDescriptor d) throws IOException {
        if (volume != null) {
            return;
        }
        if (d.dataSize() == 94) {
            throw new UnsupportedFeatureException("ewf: " + files.get(seg) + ": EWF-S01 (SMART) volume section at 0x"
                    + Long.toHexString(d.offset()) + " is not supported");
        }
        VolumeSection v = VolumeSection.parse(sectionData(seg, d, VolumeSection.SIZE), files.get(seg), d.dataOffset());
        v.validate(files.get(seg), d.dataOffset());
        volume = v;
        volumeOffset = d.dataOffset();
    }

    /**
     * A table: its chunks join the chunk table. A damaged table is remembered; the "table2" that
     * follows it stands in, and without one the damage is the error.
     */
    private void table(int seg, SectionDescriptor d, boolean mirrorOfGoodTable) throws IOException {
        if (mirrorOfGoodTable && damagedTable == null) {
            return; // the table it mirrors was read
        }
        Path file = files.get(seg);
        if (volume == null) {
            throw new CorruptImageException("ewf", file, "'" + d.type() + "' section", d.offset(),
                    "comes before the volume section");
        }
        TableSection t;
        try {
            t = TableSection.parse(sectionData(seg, d, TableSection.HEADER_SIZE), file, d, segmentSize(seg));
        } catch (CorruptImageException e) {
            if (d.type().equals("table") && damagedTable == null) {
                damagedTable = e;
                return;
            }
            throw damagedTable != null ? damagedTable : e;
        }
        if (d.type().equals("table2") && damagedTable != null) {
            options.warn("ewf: " + damagedTable.getMessage() + "; read its mirror 'table2' at 0x"
                    + Long.toHexString(d.offset()) + " instead");
        }
        damagedTable = null;
        addChunks(seg, d, t);
    }

    /** A damaged table must be followed by its mirror. */
    private void resolveDamagedTable() throws CorruptImageException {
        if (damagedTable != null) {
            throw damagedTable;
        }
    }

    /** The table's entries become the media's next chunks (as many as the volume still needs). */
    private void addChunks(int seg, SectionDescriptor d, TableSection t) {
        int n = t.raw().length;
        if (n == 0) {
            return;
        }
        long segmentStart = storage.partStart(seg);
        int take = (int) Math.min(n, volume.chunksNeeded() - chunks.count());
        chunks.add(segmentStart + d.dataOffset() + TableSection.HEADER_SIZE, segmentStart + t.base(),
                segmentStart + endOfChunkData(t.offset(n - 1), d), t.raw(), n, take);
        tablesComplete = chunks.count() >= volume.chunksNeeded();
    }

    /** Where the last chunk of a table ends: the end of the "sectors" section holding it (or of the table itself). */
    private long endOfChunkData(long offset, SectionDescriptor table) {
        for (long[] s : sectors) {
            if (offset >= s[0] && offset < s[1]) {
                return s[1];
            }
        }
        return table.offset() + table.sizeBytes(); // EWF-S01 style: chunks follow the entries in the table section
    }

    private void hash(int seg, SectionDescriptor d) throws IOException {
        Bytes b = sectionData(seg, d, 36);
        checkSum(seg, d, b, 32);
        md5 = md5 != null ? md5 : hex(b, 0, 16);
    }

    private void digest(int seg, SectionDescriptor d) throws IOException {
        Bytes b = sectionData(seg, d, 80);
        checkSum(seg, d, b, 76);
        String m = hex(b, 0, 16);
        if (m != null) {
            md5 = m;
        }
        sha1 = hex(b, 16, 20);
    }

    private void checkSum(int seg, SectionDescriptor d, Bytes b, int at) throws CorruptImageException {
        long stored = b.u32le(at);
        long computed = SectionDescriptor.adler32(b, 0, at);
        if (stored != computed) {
            throw new CorruptImageException("ewf", files.get(seg), "'" + d.type() + "' section", d.dataOffset(),
                    "checksum 0x" + Long.toHexString(stored) + ", computed 0x" + Long.toHexString(computed));
        }
    }

    /** Lower-case hex, or null for an all-zero (unset) digest. */
    private static String hex(Bytes b, int off, int len) {
        return b.isZero(off, len) ? null : HexFormat.of().formatHex(b.bytes(off, len));
    }

    private void finish() throws CorruptImageException {
        resolveDamagedTable();
        if (volume != null) {
            // a size out of order or beyond any chunk is invalid: reads of that chunk fail, the rest read
            chunks.seal((int) Math.min(Integer.MAX_VALUE, volume.chunkBytes() + CHUNK_SLACK));
        }
        Path first = files.get(0);
        if (volume == null) {
            throw new CorruptImageException("ewf", first, "segment set", 0, "no volume or disk section");
        }
        if (!tablesComplete && volume.chunksNeeded() > 0) {
            throw new CorruptImageException("ewf", first, "volume section", volumeOffset, "the tables of "
                    + segmentsUsed + " segment(s) list " + chunks.count() + " chunks, the media needs "
                    + volume.chunksNeeded());
        }
    }
}
