package org.vdmount.vd.format.dmg;

/**
 * The type of a block table chunk entry (libmodi, "Mac OS disk image types" § block table entry
 * types) and what reading it takes: nothing (zeros), a copy (raw) or a {@link ChunkCodec}.
 */
enum ChunkKind {
    /** 0x00000000: sectors that read as zeros, no data stored. */
    ZERO(0x00000000L, null),
    /** 0x00000001: the sectors stored as they are. */
    RAW(0x00000001L, null),
    /** 0x00000002: free space (Apple_Free), reads as zeros. */
    IGNORE(0x00000002L, null),
    /** 0x7ffffffe: a comment, covers no sectors. */
    COMMENT(0x7ffffffeL, null),
    /** 0xffffffff: ends the table. */
    TERMINATOR(0xffffffffL, null),
    /** 0x80000004: Apple Data Compression (UDCO). */
    ADC(0x80000004L, ChunkCodec.ADC),
    /** 0x80000005: zlib (UDZO). */
    ZLIB(0x80000005L, ChunkCodec.ZLIB),
    /** 0x80000006: bzip2 (UDBZ). */
    BZIP2(0x80000006L, ChunkCodec.BZIP2),
    /** 0x80000007: LZFSE (ULFO). */
    LZFSE(0x80000007L, ChunkCodec.LZFSE),
    /** 0x80000008: LZMA in an xz container (ULMO; libmodi decodes it with lzma_stream_decoder). */
    LZMA(0x80000008L, ChunkCodec.LZMA);

    private static final ChunkKind[] ALL = values();
    final long code;
    final ChunkCodec codec;

    ChunkKind(long code, ChunkCodec codec) {
        this.code = code;
        this.codec = codec;
    }

    /** The kind with type {@code code}, or null for a type no image is known to use. */
    static ChunkKind of(long code) {
        for (ChunkKind k : ALL) {
            if (k.code == code) {
                return k;
            }
        }
        return null;
    }

    boolean compressed() {
        return codec != null;
    }

    /** Reads as zeros without stored data. */
    boolean zeros() {
        return this == ZERO || this == IGNORE;
    }

    /** Covers sectors of the media (comments and the terminator do not). */
    boolean coversSectors() {
        return this != COMMENT && this != TERMINATOR;
    }

    String label() {
        return name().toLowerCase(java.util.Locale.ROOT);
    }
}
