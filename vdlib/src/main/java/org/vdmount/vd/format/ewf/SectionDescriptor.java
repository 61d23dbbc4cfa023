package org.vdmount.vd.format.ewf;

import java.nio.file.Path;
import java.util.zip.Adler32;
import org.vdmount.vd.Bytes;
import org.vdmount.vd.CorruptImageException;

/**
 * The 76-byte descriptor heading every section (spec: "Sections", "Section descriptor").
 *
 * @param type        section type, NUL-padded ASCII: "header", "volume", "sectors", "table", ...
 * @param nextOffset  offset of the next section's descriptor in the same segment file
 * @param sizeBytes   size of the section, descriptor included (0 for "done"/"next" in some writers)
 * @param offset      where this descriptor lies in its segment file
 */
record SectionDescriptor(String type, long nextOffset, long sizeBytes, long offset) {
    static final int SIZE = 76;

    /** Where the section's data starts. */
    long dataOffset() {
        return offset + SIZE;
    }

    /** Bytes of section data after the descriptor (0 if the size is smaller than the descriptor). */
    long dataSize() {
        return Math.max(0, sizeBytes - SIZE);
    }

    static SectionDescriptor parse(Bytes b, Path file, long offset) throws CorruptImageException {
        // 0: type (16); 16: next offset (u64); 24: size (u64); 32: padding (40); 72: adler32 of 0..71
        long stored = b.u32le(72);
        long computed = adler32(b, 0, 72);
        if (stored != computed) {
            throw new CorruptImageException("ewf", file, "section descriptor", offset, "checksum 0x"
                    + Long.toHexString(stored) + ", computed 0x" + Long.toHexString(computed));
        }
        return new SectionDescriptor(b.asciiz(0, 16), b.u64le(16), b.u64le(24), offset);
    }

    /** The Adler-32 checksum EWF uses everywhere, over {@code b[off, off+len)}. */
    static long adler32(Bytes b, int off, int len) {
        Adler32 a = new Adler32();
        a.update(b.slice(off, len));
        return a.getValue();
    }
}
