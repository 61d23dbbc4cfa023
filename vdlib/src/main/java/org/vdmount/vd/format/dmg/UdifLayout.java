package org.vdmount.vd.format.dmg;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import org.vdmount.vd.Bytes;
import org.vdmount.vd.CorruptImageException;
import org.vdmount.vd.UnsupportedFeatureException;
import org.vdmount.vd.storage.Storage;

/**
 * What an image's trailer and property list say, checked: the koly trailer, the block tables of
 * {@code resource-fork/blkx} (libmodi § UDIF XML plist) and the chunk map built from them. Every
 * limit is checked here, at open: sizes against the file, chunk outputs against {@link
 * #MAX_CHUNK_BYTES}, chunk ranges against the media and the data fork.
 */
record UdifLayout(KolyTrailer koly, List<BlkxTable> tables, ChunkMap chunks) {
    /** Largest property list read (a 1 TiB UDZO image's is about 60 MiB). */
    static final long MAX_PLIST_BYTES = 128L << 20;
    /** Largest decoded compressed chunk (hdiutil writes at most 2048 sectors, 1 MiB). */
    static final long MAX_CHUNK_BYTES = 64L << 20;
    /** Largest stored compressed chunk: its output limit plus what incompressible data adds. */
    static final long MAX_STORED_BYTES = MAX_CHUNK_BYTES + (MAX_CHUNK_BYTES >> 3);

    static UdifLayout read(Storage s) throws IOException {
        Path file = s.path();
        long size = s.size();
        if (size < KolyTrailer.SIZE) {
            throw new org.vdmount.vd.NotThisFormatException("dmg: " + file + ": " + size
                    + " bytes, too short for the 512-byte koly trailer");
        }
        ByteBuffer t = ByteBuffer.allocate(KolyTrailer.SIZE);
        s.readFully(t, size - KolyTrailer.SIZE, "dmg", "koly trailer");
        KolyTrailer koly = KolyTrailer.parse(Bytes.of(t.flip()), file, size);
        if (koly.segmentCount() > 1) {
            throw new UnsupportedFeatureException("dmg: " + file + ": segment " + koly.segmentNumber() + " of "
                    + koly.segmentCount() + " of a segmented image (.dmgpart files); segmented images are not supported");
        }
        if (koly.xmlLength() == 0) {
            if (koly.rsrcForkLength() > 0) {
                throw new UnsupportedFeatureException("dmg: " + file + ": the block map is only in the classic resource"
                        + " fork (an image from before Mac OS X 10.2, no XML property list); not supported");
            }
            throw new CorruptImageException("dmg", file, "koly trailer", size - KolyTrailer.SIZE,
                    "no XML property list and no resource fork: nothing maps the image's sectors");
        }
        if (koly.xmlLength() > MAX_PLIST_BYTES) {
            throw new UnsupportedFeatureException("dmg: " + file + ": XML property list of " + koly.xmlLength()
                    + " bytes > limit " + MAX_PLIST_BYTES);
        }
        ByteBuffer xml = ByteBuffer.allocate((int) koly.xmlLength());
        s.readFully(xml, koly.xmlOffset(), "dmg", "XML property list");
        List<Object> blkx = blkxArray(file, koly.xmlOffset(), xml.array());
        List<BlkxTable> tables = new ArrayList<>(blkx.size());
        ChunkMap.Builder chunks = new ChunkMap.Builder();
        for (int i = 0; i < blkx.size(); i++) {
            tables.add(table(file, koly, i, blkx.get(i), chunks));
        }
        return new UdifLayout(koly, List.copyOf(tables), chunks.build(file, koly.xmlOffset()));
    }

    /** {@code plist/dict/resource-fork/blkx}: the block table entries. */
    private static List<Object> blkxArray(Path file, long at, byte[] xml) throws CorruptImageException {
        Object root;
        try {
            root = PropertyList.parse(xml);
        } catch (PropertyList.PlistException e) {
            throw new CorruptImageException("dmg", file, "XML property list", at, e.getMessage());
        }
        Object fork = root instanceof Map<?, ?> m ? m.get("resource-fork") : null;
        if (!(fork instanceof Map<?, ?> rf)) {
            throw new CorruptImageException("dmg", file, "XML property list", at, "no 'resource-fork' dictionary");
        }
        if (!(rf.get("blkx") instanceof List<?> list)) {
            throw new CorruptImageException("dmg", file, "XML property list", at,
                    "no 'blkx' array in 'resource-fork'");
        }
        return new ArrayList<>(list);
    }

    private static BlkxTable table(Path file, KolyTrailer koly, int index, Object entry, ChunkMap.Builder chunks)
            throws IOException {
        long at = koly.xmlOffset();
        String where = "blkx entry " + index;
        if (!(entry instanceof Map<?, ?> d) || !(d.get("Data") instanceof byte[] data)) {
            throw new CorruptImageException("dmg", file, where, at, "no 'Data' holding a block table");
        }
        Object n = d.get("Name") instanceof String s && !s.isEmpty() ? s : d.get("CFName");
        String name = n instanceof String s ? s : "";
        Bytes b = Bytes.of(data);
        if (data.length < BlkxTable.HEADER_SIZE || !BlkxTable.hasSignature(b)) {
            throw new CorruptImageException("dmg", file, where, at, "Data of " + data.length
                    + " bytes is not a block table ('mish' and a " + BlkxTable.HEADER_SIZE + "-byte header)");
        }
        BlkxTable table = BlkxTable.parse(name, b);
        long room = (data.length - BlkxTable.HEADER_SIZE) / BlkxTable.ENTRY_SIZE;
        if (table.chunkCount() > room) {
            throw new CorruptImageException("dmg", file, where, at, "chunk count " + table.chunkCount()
                    + " > the " + room + " entries its " + data.length + "-byte Data holds");
        }
        for (int i = 0; i < table.chunkCount(); i++) {
            BlkxTable.Entry e = BlkxTable.Entry.parse(b, i);
            ChunkKind kind = ChunkKind.of(e.type());
            String chunk = where + ", chunk " + i;
            if (kind == null) {
                throw new UnsupportedFeatureException("dmg: " + file + ": " + chunk + ": unknown chunk type 0x"
                        + Long.toHexString(e.type()));
            }
            if (kind == ChunkKind.TERMINATOR) {
                break;
            }
            if (!kind.coversSectors() || e.sectorCount() == 0) {
                continue;
            }
            add(file, koly, table, index, i, e, kind, chunks);
        }
        return table;
    }

    /** Checks one chunk against the media and the data fork and adds it. */
    private static void add(Path file, KolyTrailer koly, BlkxTable table, int index, int i, BlkxTable.Entry e,
                            ChunkKind kind, ChunkMap.Builder chunks) throws CorruptImageException {
        String chunk = "blkx entry " + index + ", chunk " + i;
        long media = koly.sectorCount();
        long first = table.firstSector() + e.sectorStart();
        if (table.firstSector() < 0 || e.sectorStart() < 0 || first < 0 || e.sectorCount() < 0 || first > media
                || e.sectorCount() > media - first) {
            throw new CorruptImageException("dmg", file, chunk, koly.xmlOffset(), "sectors " + Long.toUnsignedString(
                    table.firstSector()) + "+" + Long.toUnsignedString(e.sectorStart()) + ", "
                    + Long.toUnsignedString(e.sectorCount()) + " long, run past the media's " + media + " sectors");
        }
        long bytes = e.sectorCount() * 512;
        long fork = koly.dataForkLength();
        long rel = table.dataOffset() + e.storedOffset();
        long fileOffset = koly.dataForkOffset() + rel;
        if (!kind.zeros()) {
            if (table.dataOffset() < 0 || e.storedOffset() < 0 || rel < 0 || e.storedLength() < 0 || rel > fork
                    || e.storedLength() > fork - rel) {
                throw new CorruptImageException("dmg", file, chunk, fileOffset, Long.toUnsignedString(e.storedLength())
                        + " stored bytes at data fork offset 0x" + Long.toHexString(rel) + " run past the data fork's "
                        + fork + " bytes");
            }
            if (kind == ChunkKind.RAW && e.storedLength() < bytes) {
                throw new CorruptImageException("dmg", file, chunk, fileOffset, "raw chunk of " + e.sectorCount()
                        + " sectors stores only " + e.storedLength() + " bytes");
            }
            if (kind.compressed() && bytes > MAX_CHUNK_BYTES) {
                throw new CorruptImageException("dmg", file, chunk, fileOffset, kind.label() + " chunk of "
                        + e.sectorCount() + " sectors (" + bytes + " bytes) > limit " + MAX_CHUNK_BYTES);
            }
            if (kind.compressed() && e.storedLength() > MAX_STORED_BYTES) {
                throw new CorruptImageException("dmg", file, chunk, fileOffset, kind.label() + " chunk stores "
                        + e.storedLength() + " bytes > limit " + MAX_STORED_BYTES);
            }
        }
        chunks.add(kind, first, e.sectorCount(), kind.zeros() ? 0 : fileOffset, kind.zeros() ? 0 : e.storedLength(),
                index, i);
    }
}
