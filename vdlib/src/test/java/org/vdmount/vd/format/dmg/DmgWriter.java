package org.vdmount.vd.format.dmg;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Base64;
import java.util.List;
import java.util.UUID;
import java.util.zip.CRC32;
import java.util.zip.Deflater;
import org.apache.commons.compress.compressors.bzip2.BZip2CompressorOutputStream;
import org.tukaani.xz.LZMA2Options;
import org.tukaani.xz.XZOutputStream;
import org.vdmount.vd.Bytes;

/**
 * Test-only UDIF writer: turns a raw media into a .dmg whose data chunks all use one {@link Codec}
 * and whose all-zero chunks are zero (type 0) and free (type 2) chunks in turn. The media is cut
 * into block tables at {@code tableStarts} (as hdiutil cuts at partition boundaries); every table
 * and the data fork carry CRC-32s as hdiutil writes them. Hooks let corrupt-input tests alter the
 * tables before they are written.
 */
public final class DmgWriter {
    public enum Codec {
        RAW(0x00000001L), ZLIB(0x80000005L), BZIP2(0x80000006L), LZMA(0x80000008L), ADC(0x80000004L),
        LZFSE(0x80000007L);

        final long type;

        Codec(long type) {
            this.type = type;
        }
    }

    /** One chunk entry as written (mutable so corrupt tests can bend it). */
    static final class Chunk {
        long type;
        long sectorStart;
        long sectorCount;
        long offset;
        long length;

        Chunk(long type, long sectorStart, long sectorCount, long offset, long length) {
            this.type = type;
            this.sectorStart = sectorStart;
            this.sectorCount = sectorCount;
            this.offset = offset;
            this.length = length;
        }
    }

    /** One block table as written. */
    static final class Table {
        final String name;
        final long firstSector;
        final long sectorCount;
        final List<Chunk> chunks = new ArrayList<>();
        long crc;
        Long chunkCountOverride;

        Table(String name, long firstSector, long sectorCount) {
            this.name = name;
            this.firstSector = firstSector;
            this.sectorCount = sectorCount;
        }
    }

    int chunkSectors = 64;
    Codec codec = Codec.ZLIB;
    long[] tableStarts = {0};

    public DmgWriter() {
    }

    /** A writer of {@code codec} chunks cutting block tables at {@code tableStarts} (sectors, the first 0). */
    public DmgWriter(Codec codec, long... tableStarts) {
        this.codec = codec;
        this.tableStarts = tableStarts.clone();
    }
    /** Called with the tables before the plist is written. */
    java.util.function.Consumer<List<Table>> bend = t -> { };

    final List<Table> tables = new ArrayList<>();
    long dataForkLength;
    long dataForkCrc;

    /**
     * The first chunk of table {@code table} with stored bytes, after {@link #write}: {its first
     * sector on the media, its offset in the file, its stored length}.
     */
    public long[] firstStoredChunk(int table) {
        Table t = tables.get(table);
        for (Chunk c : t.chunks) {
            if (c.length > 0) {
                return new long[] {t.firstSector + c.sectorStart, c.offset, c.length};
            }
        }
        throw new IllegalStateException("table " + table + " stores nothing");
    }

    /** Writes {@code media} (a whole number of sectors) as a UDIF image at {@code out}. */
    public void write(byte[] media, Path out) throws IOException {
        if (media.length % 512 != 0) {
            throw new IllegalArgumentException("media of " + media.length + " bytes");
        }
        long sectors = media.length / 512;
        ByteArrayOutputStream fork = new ByteArrayOutputStream();
        int zeroTurn = 0;
        for (int t = 0; t < tableStarts.length; t++) {
            long first = tableStarts[t];
            long end = t + 1 < tableStarts.length ? tableStarts[t + 1] : sectors;
            Table table = new Table("table " + t + " : " + t, first, end - first);
            CRC32 crc = new CRC32(); // of the decoded sectors, leaving out free (type 2) chunks as 7-Zip does
            for (long s = first; s < end; s += chunkSectors) {
                long n = Math.min(chunkSectors, end - s);
                int from = (int) (s * 512);
                int len = (int) (n * 512);
                if (Bytes.of(media).isZero(from, len)) {
                    boolean free = zeroTurn++ % 2 == 1;
                    if (!free) {
                        crc.update(media, from, len);
                    }
                    table.chunks.add(new Chunk(free ? 2 : 0, s - first, n, fork.size(), 0));
                    continue;
                }
                crc.update(media, from, len);
                byte[] stored = encode(codec, media, from, len);
                table.chunks.add(new Chunk(codec.type, s - first, n, fork.size(), stored.length));
                fork.write(stored);
            }
            table.crc = crc.getValue();
            table.chunks.add(new Chunk(0xffffffffL, end - first, 0, fork.size(), 0));
            tables.add(table);
        }
        bend.accept(tables);
        byte[] data = fork.toByteArray();
        CRC32 dc = new CRC32();
        dc.update(data);
        dataForkLength = data.length;
        dataForkCrc = dc.getValue();
        byte[] xml = plist().getBytes(StandardCharsets.UTF_8);
        CRC32 master = new CRC32();
        for (Table t : tables) {
            master.update(Bytes.allocate(4).put32be(0, t.crc).bytes(0, 4));
        }
        Bytes koly = Bytes.allocate(512);
        koly.putBytes(0, "koly".getBytes(StandardCharsets.US_ASCII));
        koly.put32be(4, 4).put32be(8, 512).put32be(12, 1);
        koly.put64be(24, 0).put64be(32, data.length);
        koly.put32be(56, 1).put32be(60, 1).putUuidBe(64, UUID.nameUUIDFromBytes(data));
        koly.put32be(80, 2).put32be(84, 32).put32be(88, dataForkCrc);
        koly.put64be(216, data.length).put64be(224, xml.length);
        koly.put32be(352, 2).put32be(356, 32).put32be(360, master.getValue());
        koly.put32be(488, 1).put64be(492, sectors);
        ByteArrayOutputStream file = new ByteArrayOutputStream();
        file.write(data);
        file.write(xml);
        file.write(koly.bytes(0, 512));
        Files.write(out, file.toByteArray());
    }

    private String plist() {
        StringBuilder x = new StringBuilder("""
                <?xml version="1.0" encoding="UTF-8"?>
                <!DOCTYPE plist PUBLIC "-//Apple//DTD PLIST 1.0//EN" "http://www.apple.com/DTDs/PropertyList-1.0.dtd">
                <plist version="1.0">
                <dict>
                \t<key>resource-fork</key>
                \t<dict>
                \t\t<key>blkx</key>
                \t\t<array>
                """);
        for (int i = 0; i < tables.size(); i++) {
            Table t = tables.get(i);
            x.append("\t\t\t<dict>\n\t\t\t\t<key>Attributes</key>\n\t\t\t\t<string>0x0050</string>\n")
                    .append("\t\t\t\t<key>CFName</key>\n\t\t\t\t<string>").append(t.name).append("</string>\n")
                    .append("\t\t\t\t<key>Data</key>\n\t\t\t\t<data>\n")
                    .append(Base64.getMimeEncoder(52, "\n".getBytes(StandardCharsets.US_ASCII)).encodeToString(mish(t)))
                    .append("\n\t\t\t\t</data>\n\t\t\t\t<key>ID</key>\n\t\t\t\t<string>").append(i - 1)
                    .append("</string>\n\t\t\t\t<key>Name</key>\n\t\t\t\t<string>").append(t.name)
                    .append("</string>\n\t\t\t</dict>\n");
        }
        x.append("\t\t</array>\n\t</dict>\n</dict>\n</plist>\n");
        return x.toString();
    }

    private static byte[] mish(Table t) {
        Bytes b = Bytes.allocate(BlkxTable.HEADER_SIZE + t.chunks.size() * BlkxTable.ENTRY_SIZE);
        b.putBytes(0, "mish".getBytes(StandardCharsets.US_ASCII)).put32be(4, 1);
        b.put64be(8, t.firstSector).put64be(16, t.sectorCount).put64be(24, 0);
        b.put32be(32, 0x208).put32be(36, t.chunks.size());
        b.put32be(64, 2).put32be(68, 32).put32be(72, t.crc);
        b.put32be(200, t.chunkCountOverride != null ? t.chunkCountOverride : t.chunks.size());
        for (int i = 0; i < t.chunks.size(); i++) {
            Chunk c = t.chunks.get(i);
            int o = BlkxTable.HEADER_SIZE + i * BlkxTable.ENTRY_SIZE;
            b.put32be(o, c.type).put64be(o + 8, c.sectorStart).put64be(o + 16, c.sectorCount).put64be(o + 24, c.offset)
                    .put64be(o + 32, c.length);
        }
        return b.bytes(0, b.size());
    }

    static byte[] encode(Codec codec, byte[] src, int off, int len) throws IOException {
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        switch (codec) {
            case RAW -> out.write(src, off, len);
            case ZLIB -> {
                Deflater d = new Deflater(6);
                d.setInput(src, off, len);
                d.finish();
                byte[] buf = new byte[65536];
                while (!d.finished()) {
                    out.write(buf, 0, d.deflate(buf));
                }
                d.end();
            }
            case BZIP2 -> {
                try (BZip2CompressorOutputStream z = new BZip2CompressorOutputStream(out)) {
                    z.write(src, off, len);
                }
            }
            case LZMA -> {
                try (XZOutputStream z = new XZOutputStream(out, new LZMA2Options(6))) {
                    z.write(src, off, len);
                }
            }
            case ADC -> out.write(new org.vdmount.vd.format.dmg.codec.AdcEncoder()
                    .encode(java.util.Arrays.copyOfRange(src, off, off + len)));
            case LZFSE -> lzfseStored(src, off, len, out);
        }
        return out.toByteArray();
    }


    /**
     * An LZFSE stream of uncompressed blocks ("bvx-" magic, u32le raw size, the bytes) ended by
     * "bvx$" (lzfse_internal.h): what the reference encoder emits for data it cannot shrink. The
     * compressed block kinds are covered by the codec's own reference vectors.
     */
    private static void lzfseStored(byte[] src, int off, int len, ByteArrayOutputStream out) {
        for (int p = off; p < off + len; p += 1 << 20) {
            int n = Math.min(1 << 20, off + len - p);
            out.writeBytes(new byte[] {'b', 'v', 'x', '-', (byte) n, (byte) (n >>> 8), (byte) (n >>> 16),
                (byte) (n >>> 24)});
            out.write(src, p, n);
        }
        out.writeBytes(new byte[] {'b', 'v', 'x', '$'});
    }
}
