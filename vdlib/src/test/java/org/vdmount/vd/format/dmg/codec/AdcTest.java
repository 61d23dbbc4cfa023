package org.vdmount.vd.format.dmg.codec;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.util.Arrays;
import java.util.HexFormat;
import java.util.Random;
import org.junit.jupiter.api.Test;
import org.vdmount.vd.CorruptImageException;

/**
 * ADC decoding: hand-built streams checked against the opcode table (see {@link Adc}), round trips
 * through the test encoder, and hostile input (truncation at every point, random bytes).
 */
class AdcTest {
    private static byte[] hex(String s) {
        return HexFormat.of().parseHex(s.replace(" ", ""));
    }

    private static byte[] decode(byte[] src, int dstLen) throws IOException {
        byte[] dst = new byte[dstLen];
        int n = Adc.decode(src, 0, src.length, dst, 0, dstLen);
        return Arrays.copyOf(dst, n);
    }

    private static byte[] ascii(String s) {
        return s.getBytes(StandardCharsets.US_ASCII);
    }

    // ---- hand-built streams ---------------------------------------------------------------------

    @Test
    void literalRun() throws IOException {
        // 0x82: bit 7 set -> literal, (0x82 & 0x7F) + 1 = 3 bytes follow.
        assertArrayEquals(ascii("ABC"), decode(hex("82 414243"), 16));
    }

    @Test
    void twoByteMatchWithOffsetZeroRepeatsLastByte() throws IOException {
        // 0x80 'A' = literal "A"; 0x00 0x00 = 2-byte match, length ((0 & 0x3C) >> 2) + 3 = 3,
        // offset 0 -> distance 1: "AAA".
        assertArrayEquals(ascii("AAAA"), decode(hex("80 41 00 00"), 16));
    }

    @Test
    void longestTwoByteMatchOverlapsItsOutput() throws IOException {
        // 0x81 "AB"; 0x3C 0x01: length (0x3C >> 2) + 3 = 18, offset ((0x3C & 3) << 8) | 1 = 1 -> distance 2.
        assertArrayEquals(ascii("AB".repeat(10)), decode(hex("81 4142 3C 01"), 64));
    }

    @Test
    void longestThreeByteMatch() throws IOException {
        // 0x83 "abcd"; 0x7F 0x00 0x03: bit 6 -> 3-byte match, length (0x3F) + 4 = 67,
        // offset 0x0003 -> distance 4: "abcd" repeated for 67 bytes.
        byte[] want = Arrays.copyOf(ascii("abcd".repeat(18)), 4 + 67);
        assertArrayEquals(want, decode(hex("83 61626364 7F 0003"), 128));
    }

    @Test
    void twoByteMatchUsesTheLowTwoOpcodeBitsAsOffsetHighBits() throws IOException {
        byte[] lits = new byte[2 + 256];
        lits[0] = (byte) 0xFF; // literal 128 bytes: 0..127
        for (int i = 0; i < 128; i++) {
            lits[1 + i] = (byte) i;
        }
        lits[129] = (byte) 0xFF; // literal 128 bytes: 128..255
        for (int i = 0; i < 128; i++) {
            lits[130 + i] = (byte) (128 + i);
        }
        // 0x00 0xFF: length 3, offset 255 -> distance 256 -> bytes 0, 1, 2.
        byte[] out = decode(concat(lits, hex("00 FF")), 512);
        assertEquals(259, out.length);
        assertArrayEquals(new byte[] {0, 1, 2}, Arrays.copyOfRange(out, 256, 259));
        // 0x01 0x00: offset (1 << 8) | 0 = 256 -> distance 257, one more than was written.
        CorruptImageException e = assertThrows(CorruptImageException.class,
                () -> decode(concat(lits, hex("01 00")), 512));
        assertEquals("adc: corrupt stream at input offset 0x102: match distance 257 reaches before the output "
                + "start (256 bytes written)", e.getMessage());
    }

    @Test
    void threeByteMatchDistanceIsTheFullSixteenBitOffsetPlusOne() throws IOException {
        byte[] src = new byte[0];
        byte[] want = new byte[0];
        Random r = new Random(7);
        while (want.length < 70000) {
            byte[] chunk = new byte[128];
            r.nextBytes(chunk);
            src = concat(src, new byte[] {(byte) 0xFF}, chunk);
            want = concat(want, chunk);
        }
        // 0x40 0xFF 0xFF: length 4, offset 0xFFFF -> distance 65536.
        byte[] out = decode(concat(src, hex("40 FFFF")), want.length + 4);
        int p = want.length - 65536;
        assertArrayEquals(Arrays.copyOfRange(want, p, p + 4), Arrays.copyOfRange(out, want.length, want.length + 4));
    }

    @Test
    void emptyInputGivesEmptyOutput() throws IOException {
        assertEquals(0, decode(new byte[0], 0).length);
    }

    @Test
    void honoursArrayOffsets() throws IOException {
        byte[] src = hex("EEEE 82 414243 00 00 EEEE");
        byte[] dst = new byte[20];
        Arrays.fill(dst, (byte) 0x55);
        int n = Adc.decode(src, 2, 6, dst, 5, 10);
        assertEquals(6, n);
        assertArrayEquals(ascii("ABCCCC"), Arrays.copyOfRange(dst, 5, 11));
        assertEquals(0x55, dst[4]);
        assertEquals(0x55, dst[11]);
    }

    // ---- malformed streams ----------------------------------------------------------------------

    @Test
    void matchBeforeAnyOutputIsRejected() {
        assertThrows(CorruptImageException.class, () -> decode(hex("00 00"), 16));
        assertThrows(CorruptImageException.class, () -> decode(hex("40 0000"), 16));
    }

    @Test
    void truncatedOpcodesAreRejected() {
        assertEquals("adc: corrupt stream at input offset 0x0: literal run of 6 bytes runs past the input end",
                assertThrows(CorruptImageException.class, () -> decode(hex("85 41"), 16)).getMessage());
        assertThrows(CorruptImageException.class, () -> decode(hex("81 4142 00"), 16));
        assertThrows(CorruptImageException.class, () -> decode(hex("81 4142 40 00"), 16));
    }

    @Test
    void outputBeyondDstLenIsRejected() throws IOException {
        assertEquals("adc: corrupt stream at input offset 0x0: output exceeds the chunk's 2 bytes",
                assertThrows(CorruptImageException.class, () -> decode(hex("82 414243"), 2)).getMessage());
        assertThrows(CorruptImageException.class, () -> decode(hex("80 41 00 00"), 3));
        assertEquals(4, decode(hex("80 41 00 00"), 4).length);
    }

    // ---- round trips ----------------------------------------------------------------------------

    @Test
    void roundTripsRandomRepetitiveAndMixedData() throws IOException {
        Random r = new Random(20261205);
        byte[] random = new byte[40000];
        r.nextBytes(random);
        byte[] zeros = new byte[70000];
        byte[] text = ascii("The quick brown fox jumps over the lazy dog. ".repeat(900));
        byte[] mixed = new byte[100000];
        for (int i = 0; i < mixed.length; ) {
            int run = 1 + r.nextInt(300);
            int kind = r.nextInt(3);
            for (int k = 0; k < run && i < mixed.length; k++, i++) {
                mixed[i] = switch (kind) {
                    case 0 -> (byte) r.nextInt();
                    case 1 -> 0;
                    default -> mixed[Math.max(0, i - 1 - r.nextInt(Math.min(i + 1, 3000)))];
                };
            }
        }
        AdcEncoder enc = new AdcEncoder();
        for (byte[] in : new byte[][] {random, zeros, text, mixed, new byte[] {9}}) {
            byte[] packed = enc.encode(in);
            assertArrayEquals(in, decode(packed, in.length));
            // One byte less room than the data needs is an error, never a silent short read.
            if (in.length > 0) {
                assertThrows(CorruptImageException.class, () -> decode(packed, in.length - 1));
            }
        }
        assertTrue(enc.literalOps > 0 && enc.shortOps > 0 && enc.longOps > 0,
                "every opcode kind exercised: " + enc.literalOps + "/" + enc.shortOps + "/" + enc.longOps);
        assertTrue(enc.encode(zeros).length < zeros.length / 10, "zeros compress");
    }

    // ---- hostile input --------------------------------------------------------------------------

    @Test
    void everyTruncationGivesAPrefixOrAnError() throws IOException {
        byte[] in = ascii("ADC ADC ADC truncation truncation truncation 0123456789 ".repeat(20));
        byte[] packed = new AdcEncoder().encode(in);
        for (int cut = 0; cut <= packed.length; cut++) {
            byte[] dst = new byte[in.length];
            try {
                int n = Adc.decode(packed, 0, cut, dst, 0, dst.length);
                assertTrue(n <= in.length);
                assertArrayEquals(Arrays.copyOf(in, n), Arrays.copyOf(dst, n), "prefix at cut " + cut);
            } catch (CorruptImageException expected) {
                // a cut inside an opcode
            }
        }
    }

    @Test
    void randomBytesNeverEscapeAsAnythingButCorruptImage() {
        Random r = new Random(12);
        for (int t = 0; t < 20000; t++) {
            byte[] src = new byte[r.nextInt(64)];
            r.nextBytes(src);
            int dstLen = r.nextInt(300);
            byte[] dst = new byte[dstLen + 8];
            try {
                int n = Adc.decode(src, 0, src.length, dst, 4, dstLen);
                assertTrue(n >= 0 && n <= dstLen);
            } catch (CorruptImageException expected) {
                // fine
            }
        }
    }

    private static byte[] concat(byte[]... parts) {
        int n = 0;
        for (byte[] p : parts) {
            n += p.length;
        }
        byte[] out = new byte[n];
        int o = 0;
        for (byte[] p : parts) {
            System.arraycopy(p, 0, out, o, p.length);
            o += p.length;
        }
        return out;
    }
}
