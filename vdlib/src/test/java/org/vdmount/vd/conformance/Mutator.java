package org.vdmount.vd.conformance;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.util.Arrays;
import java.util.List;
import java.util.Random;

/**
 * Seeded corruption of a file's bytes inside a fixture's {@link Region}s: bit flips, random
 * bytes, nasty 16/32/64-bit values in the format's byte order (0, all ones, sign bits, offsets
 * past the end of the file, offsets into the file with flag bits set), small changes of the value
 * there, runs of 0x00/0xFF, characters that matter in text descriptors, and truncation.
 */
public final class Mutator {
    private static final long[] NASTY = {0, 1, 2, 3, 4, 7, 8, 0x7F, 0xFF, 0x1FF, 0x200, 0x1000, 0xFFFF, 0x10000,
        1 << 20, 1 << 27, 0x7FFF_FFFFL, 0x8000_0000L, 0xFFFF_FFFEL, 0xFFFF_FFFFL, 0x1_0000_0000L, Long.MAX_VALUE,
        Long.MIN_VALUE, -1L, -2L};
    private static final byte[] TEXT = "0123456789abcdefxyz\"=\n\r #./-\\".getBytes(StandardCharsets.US_ASCII);

    private final ByteOrder order;

    public Mutator(ByteOrder order) {
        this.order = order;
    }

    /** What one case did to a file: the file's new length and a description for messages. */
    public record Mutation(int length, String description) {
    }

    /**
     * Applies one to four edits to {@code b[0, length)}, each inside one of {@code regions}, and
     * now and then cuts the file short. The caller writes the changed bytes to the file.
     */
    public Mutation mutate(byte[] b, int length, List<Region> regions, Random rnd) {
        StringBuilder what = new StringBuilder();
        int edits = 1 + rnd.nextInt(4);
        for (int i = 0; i < edits; i++) {
            Region r = regions.get(rnd.nextInt(regions.size()));
            if (r.start() >= length) {
                continue;
            }
            int from = (int) r.start();
            int to = (int) Math.min(r.end(), length);
            if (what.length() > 0) {
                what.append("; ");
            }
            what.append(edit(b, length, from, to, rnd)).append(" in ").append(r.name());
        }
        int newLength = length;
        if (rnd.nextInt(10) == 0) {
            newLength = rnd.nextBoolean() ? rnd.nextInt(length + 1) : length - rnd.nextInt(Math.max(1, length / 4) + 1);
            newLength = Math.max(0, newLength);
            what.append(what.length() > 0 ? "; " : "").append("cut to ").append(newLength).append(" bytes");
        }
        return new Mutation(newLength, what.toString());
    }

    private String edit(byte[] b, int length, int from, int to, Random rnd) {
        int at = from + rnd.nextInt(to - from);
        switch (rnd.nextInt(10)) {
            case 0, 1 -> {
                int bit = rnd.nextInt(8);
                b[at] ^= (byte) (1 << bit);
                return "bit " + bit + " flipped at 0x" + Integer.toHexString(at);
            }
            case 2 -> {
                int n = Math.min(to - at, 1 + rnd.nextInt(8));
                for (int i = 0; i < n; i++) {
                    b[at + i] = (byte) rnd.nextInt(256);
                }
                return n + " random bytes at 0x" + Integer.toHexString(at);
            }
            case 3, 4, 5 -> {
                int width = new int[] {2, 4, 8}[rnd.nextInt(3)];
                int pos = aligned(from, to, width, rnd);
                if (pos < 0) {
                    return "nothing (region narrower than " + width + " bytes)";
                }
                long v = nasty(rnd, length);
                put(b, pos, width, v);
                return width * 8 + "-bit 0x" + Long.toHexString(v) + " at 0x" + Integer.toHexString(pos);
            }
            case 6 -> {
                int width = rnd.nextBoolean() ? 4 : 8;
                int pos = aligned(from, to, width, rnd);
                if (pos < 0) {
                    return "nothing (region narrower than " + width + " bytes)";
                }
                long old = get(b, pos, width);
                long v = switch (rnd.nextInt(4)) {
                    case 0 -> old + 1 + rnd.nextInt(4);
                    case 1 -> old - 1 - rnd.nextInt(4);
                    case 2 -> old * 2;
                    default -> old / 2;
                };
                put(b, pos, width, v);
                return width * 8 + "-bit 0x" + Long.toHexString(old) + " -> 0x" + Long.toHexString(v) + " at 0x"
                        + Integer.toHexString(pos);
            }
            case 7 -> {
                int n = Math.min(to - at, 1 + rnd.nextInt(64));
                byte fill = rnd.nextBoolean() ? 0 : (byte) 0xFF;
                Arrays.fill(b, at, at + n, fill);
                return n + " bytes of 0x" + Integer.toHexString(fill & 0xFF) + " at 0x" + Integer.toHexString(at);
            }
            case 8 -> {
                byte c = TEXT[rnd.nextInt(TEXT.length)];
                b[at] = c;
                return "character 0x" + Integer.toHexString(c) + " at 0x" + Integer.toHexString(at);
            }
            default -> {
                b[at] = 0;
                return "byte zeroed at 0x" + Integer.toHexString(at);
            }
        }
    }

    /** A position in [from, to) at a multiple of {@code width} from {@code from}, or -1. */
    private static int aligned(int from, int to, int width, Random rnd) {
        int slots = (to - from) / width;
        return slots <= 0 ? -1 : from + width * rnd.nextInt(slots);
    }

    /** A value relative to the file: constants, past its end, a sector count, offsets into it with flags. */
    private static long nasty(Random rnd, int length) {
        long offset = rnd.nextInt(Math.max(1, length)) & ~511L;
        return switch (rnd.nextInt(9)) {
            case 0, 1, 2 -> NASTY[rnd.nextInt(NASTY.length)];
            case 3 -> length + rnd.nextInt(1 << 20);
            case 4 -> length / 512 + rnd.nextInt(16) - 8;
            case 5 -> offset;
            case 6 -> offset | 1L << (rnd.nextBoolean() ? 63 : 62);
            case 7 -> 1L << rnd.nextInt(64);
            default -> rnd.nextLong();
        };
    }

    private long get(byte[] b, int pos, int width) {
        ByteBuffer bb = ByteBuffer.wrap(b).order(order);
        return switch (width) {
            case 2 -> bb.getShort(pos) & 0xFFFFL;
            case 4 -> bb.getInt(pos) & 0xFFFF_FFFFL;
            default -> bb.getLong(pos);
        };
    }

    private void put(byte[] b, int pos, int width, long v) {
        ByteBuffer bb = ByteBuffer.wrap(b).order(order);
        switch (width) {
            case 2 -> bb.putShort(pos, (short) v);
            case 4 -> bb.putInt(pos, (int) v);
            default -> bb.putLong(pos, v);
        }
    }
}
