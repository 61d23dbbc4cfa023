package org.vdmount.vd.format.ewf;

import java.io.IOException;
import java.nio.ByteOrder;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.zip.Adler32;
import org.vdmount.vd.Bytes;
import org.vdmount.vd.conformance.FixtureBase;
import org.vdmount.vd.conformance.Oracle;
import org.vdmount.vd.conformance.Region;
import org.vdmount.vd.conformance.Variant;

/**
 * E01 sets for the conformance kit. The format is read-only and cannot create, so bases are
 * acquired by libewf's {@code ewfacquire} from an all-zero source of the size asked: one segment
 * with deflate chunks, and a set of several 1 MiB segments with stored chunks and 4 KiB sectors.
 */
public class EwfFixture extends FixtureBase {

    public EwfFixture() {
        super("ewf", ByteOrder.LITTLE_ENDIAN, false);
    }

    @Override
    public List<Variant> variants() {
        return List.of(Variant.of("deflate", ""), Variant.of("segments", ""));
    }

    @Override
    public Path createBase(Path dir, String stem, Variant variant, long virtualSize) throws IOException {
        EwfTools.assume();
        Path source = Files.createTempFile("ewf-source", ".raw");
        try {
            try (var ch = java.nio.channels.FileChannel.open(source, java.nio.file.StandardOpenOption.WRITE)) {
                ch.truncate(0);
                ch.write(java.nio.ByteBuffer.allocate(1), virtualSize - 1);
            }
            return variant.name().equals("segments")
                    ? EwfTools.acquire(source, dir, stem, 1 << 20, "none", 64, 4096)
                    : EwfTools.acquire(source, dir, stem, 64L << 20, "fast", 64, 512);
        } finally {
            Files.deleteIfExists(source);
        }
    }

    /** The file header, every section descriptor, the volume, table headers with their first entries, digests, the first chunk. */
    @Override
    public List<Region> regions(Path file, byte[] content) {
        List<Region> out = new ArrayList<>();
        out.add(new Region("file header", 0, FileHeader.SIZE));
        walk(content, content.length, (type, at, size) -> {
            out.add(new Region(type + " descriptor", at, SectionDescriptor.SIZE));
            long data = at + SectionDescriptor.SIZE;
            long dataLen = Math.min(size - SectionDescriptor.SIZE, content.length - data);
            if (dataLen <= 0) {
                return;
            }
            switch (type) {
                case "volume", "disk", "hash", "digest", "header", "header2" -> out.add(new Region(type, data, dataLen));
                case "table", "table2" -> out.add(new Region(type + " header and entries", data, Math.min(dataLen, 64)));
                case "sectors" -> out.add(new Region("first chunk", data, Math.min(dataLen, 256)));
                default -> {
                }
            }
        });
        return out;
    }

    @Override
    public Oracle oracle(Variant variant, int layers) {
        return Oracle.none("ewf is read-only: the kit writes nothing for an outside tool to check");
    }

    /** Descriptor, volume and table checksums recomputed (Adler-32), so mutations reach the values behind them. */
    @Override
    public void fixChecksums(byte[] content, int length) {
        Bytes b = Bytes.of(content);
        walk(content, length, (type, at, size) -> {
            b.put32le((int) at + 72, adler(content, (int) at, 72));
            int data = (int) at + SectionDescriptor.SIZE;
            if ((type.equals("volume") || type.equals("disk") || type.equals("data")) && data + 1052 <= length) {
                b.put32le(data + 1048, adler(content, data, 1048));
            }
            if ((type.equals("table") || type.equals("table2")) && data + 24 <= length) {
                b.put32le(data + 20, adler(content, data, 20));
                long n = b.u32le(data);
                if (n < 1 << 20 && data + 24 + 4 * n + 4 <= Math.min(length, at + size)) {
                    b.put32le(data + 24 + (int) (4 * n), adler(content, data + 24, (int) (4 * n)));
                }
            }
        });
    }

    private interface SectionVisitor {
        void visit(String type, long at, long size);
    }

    /** Follows the descriptor chain of {@code content[0, length)} as far as it stays sane. */
    private static void walk(byte[] content, int length, SectionVisitor visitor) {
        Bytes b = Bytes.of(content);
        long at = FileHeader.SIZE;
        for (int guard = 0; guard < 10_000 && at + SectionDescriptor.SIZE <= length; guard++) {
            String type = b.asciiz((int) at, 16);
            long next = b.u64le((int) at + 16);
            long size = b.u64le((int) at + 24);
            visitor.visit(type, at, Math.max(SectionDescriptor.SIZE, Math.min(size, length - at)));
            if (next <= at || next > length || type.equals("done") || type.equals("next")) {
                return;
            }
            at = next;
        }
    }

    private static long adler(byte[] content, int off, int len) {
        Adler32 a = new Adler32();
        a.update(content, off, len);
        return a.getValue();
    }
}
