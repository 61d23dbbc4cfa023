package org.vdmount.vd.format.dmg.codec;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStream;
import java.io.InputStreamReader;
import java.nio.charset.StandardCharsets;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HexFormat;
import java.util.List;
import java.util.Random;
import java.util.Set;
import java.util.TreeSet;
import org.junit.jupiter.api.Test;
import org.vdmount.vd.CorruptImageException;

/**
 * LZFSE decoding against streams made by Apple's reference encoder (see the README next to the
 * vectors: every block kind, a stream of several blocks whose matches cross block boundaries),
 * hand-built LZVN and uncompressed streams checked against the opcode tables, and hostile input:
 * every truncation, every single-byte corruption of the small vectors, random bytes behind each
 * block magic.
 */
class LzfseTest {
    private record Vector(String file, int size, String sha256, List<String> blocks) {
        byte[] compressed() throws IOException {
            try (InputStream in = LzfseTest.class.getResourceAsStream(file)) {
                assertNotNull(in, file);
                return in.readAllBytes();
            }
        }
    }

    private static List<Vector> vectors() throws IOException {
        List<Vector> out = new ArrayList<>();
        try (BufferedReader r = new BufferedReader(new InputStreamReader(
                LzfseTest.class.getResourceAsStream("lzfse-vectors.txt"), StandardCharsets.US_ASCII))) {
            for (String line; (line = r.readLine()) != null; ) {
                String[] f = line.split(" ");
                out.add(new Vector(f[0], Integer.parseInt(f[1]), f[2], List.of(f[3].split(","))));
            }
        }
        assertTrue(out.size() >= 10, "manifest read");
        return out;
    }

    private static String sha256(byte[] b, int off, int len) {
        try {
            MessageDigest md = MessageDigest.getInstance("SHA-256");
            md.update(b, off, len);
            return HexFormat.of().formatHex(md.digest());
        } catch (NoSuchAlgorithmException e) {
            throw new AssertionError(e);
        }
    }

    private static byte[] hex(String s) {
        return HexFormat.of().parseHex(s.replace(" ", ""));
    }

    private static byte[] decode(byte[] src, int dstLen) throws IOException {
        byte[] dst = new byte[dstLen];
        int n = Lzfse.decode(src, 0, src.length, dst, 0, dstLen);
        return Arrays.copyOf(dst, n);
    }

    // ---- reference-encoder vectors --------------------------------------------------------------

    @Test
    void referenceVectorsDecodeToTheirDigests() throws IOException {
        Set<String> kinds = new TreeSet<>();
        for (Vector v : vectors()) {
            byte[] src = v.compressed();
            // The manifest's first block is what the file starts with.
            assertEquals(v.blocks().get(0).substring(0, 4), new String(src, 0, 4, StandardCharsets.US_ASCII), v.file());
            v.blocks().forEach(b -> kinds.add(b.substring(0, 4)));

            byte[] dst = new byte[v.size()];
            assertEquals(v.size(), Lzfse.decode(src, 0, src.length, dst, 0, dst.length), v.file());
            assertEquals(v.sha256(), sha256(dst, 0, dst.length), v.file());

            // Array offsets and a larger output buffer: same bytes, nothing written outside.
            byte[] padded = new byte[src.length + 7];
            System.arraycopy(src, 0, padded, 3, src.length);
            byte[] roomy = new byte[v.size() + 200];
            Arrays.fill(roomy, (byte) 0x5A);
            assertEquals(v.size(), Lzfse.decode(padded, 3, src.length, roomy, 50, v.size() + 100), v.file());
            assertEquals(v.sha256(), sha256(roomy, 50, v.size()), v.file());
            assertEquals(0x5A, roomy[49]);
            assertEquals(0x5A, roomy[50 + v.size()]);

            if (v.size() > 0) {
                assertThrows(CorruptImageException.class, () -> decode(src, v.size() - 1), v.file());
            }
        }
        assertEquals(Set.of("bvx$", "bvx-", "bvx1", "bvx2", "bvxn"), kinds, "every block kind covered");
    }

    // ---- hand-built streams ---------------------------------------------------------------------

    @Test
    void uncompressedBlocks() throws IOException {
        // "bvx-", n_raw_bytes = 3, "abc"; again with 2 bytes "de"; "bvx$".
        assertArrayEquals("abcde".getBytes(StandardCharsets.US_ASCII),
                decode(hex("6276782d 03000000 616263 6276782d 02000000 6465 62767824"), 16));
        // Bytes after the end marker are not part of the stream (as in the reference decoder).
        assertArrayEquals(new byte[0], decode(hex("62767824 FFFF"), 16));
    }

    @Test
    void lzvnOpcodesByHand() throws IOException {
        String payload = String.join(" ",
                "E3 616263", // sml_l: L = 3 "abc"                                   -> abc
                "00 03", // sml_d 00 000 000: L 0, M 0 + 3, D = 0 << 8 | 3           -> abcabc
                "4E 78", // pre_d 01 001 110: L 1 "x", M 1 + 3, D 3 (previous)       -> abcabcx bcxb
                "F2", // sml_m: M 2, D 3                                              -> cx
                "0E", // nop
                "A0 1500", // med_d 101 00 000, w = 0x0015: L 0, M (0 << 2 | 1) + 3 = 4, D = w >> 2 = 5
                "07 0A00", // lrg_d 00 000 111: L 0, M 3, D = u16le 10
                "E0 00 000102030405060708090A0B0C0D0E0F", // lrg_l: L = 0 + 16
                "F0 00", // lrg_m: M = 0 + 16, D 10 (previous)
                "06 00000000000000"); // eos
        String text = "abcabcxbcxbcx";
        text += text.substring(text.length() - 5, text.length() - 1); // med_d: 4 bytes from 5 back
        text += text.substring(text.length() - 10, text.length() - 7); // lrg_d: 3 bytes from 10 back
        byte[] want = (text + "0123456789ABCDEF").getBytes(StandardCharsets.ISO_8859_1);
        for (int i = 0; i < 16; i++) {
            want[text.length() + i] = (byte) i;
        }
        byte[] full = Arrays.copyOf(want, want.length + 16);
        for (int i = 0; i < 16; i++) {
            full[want.length + i] = full[want.length + i - 10];
        }
        byte[] p = hex(payload);
        assertArrayEquals(full, decode(lzvnBlock(full.length, p), 256));
        // The declared size must match what the payload produces.
        assertThrows(CorruptImageException.class, () -> decode(lzvnBlock(full.length + 1, p), 256));
        assertThrows(CorruptImageException.class, () -> decode(lzvnBlock(full.length - 1, p), 256));
    }

    @Test
    void lzvnMalformedPayloads() {
        // sml_d before any output: distance 3 > 0 bytes written.
        CorruptImageException e = assertThrows(CorruptImageException.class,
                () -> decode(lzvnBlock(3, hex("00 03 06 00000000000000")), 16));
        assertEquals("lzfse: corrupt stream at input offset 0xc: lzvn match distance 3 reaches before the output "
                + "start (0 bytes written)", e.getMessage());
        // Undefined opcode 0x70.
        assertThrows(CorruptImageException.class, () -> decode(lzvnBlock(1, hex("E1 41 70 06 00000000000000")), 16));
        // sml_m with no previous distance.
        assertThrows(CorruptImageException.class, () -> decode(lzvnBlock(3, hex("E1 41 F2 06 00000000000000")), 16));
        // eos not at the payload end, and a payload without eos.
        assertThrows(CorruptImageException.class, () -> decode(lzvnBlock(1, hex("E1 41 06 00000000000000 0E")), 16));
        assertThrows(CorruptImageException.class, () -> decode(lzvnBlock(1, hex("E1 41")), 16));
    }

    @Test
    void framingErrorsNameTheOffset() {
        assertEquals("lzfse: corrupt stream at input offset 0x0: stream ends without its bvx$ end-of-stream block",
                assertThrows(CorruptImageException.class, () -> decode(new byte[0], 16)).getMessage());
        assertEquals("lzfse: corrupt stream at input offset 0xb: unknown block magic 0x34787662",
                assertThrows(CorruptImageException.class,
                        () -> decode(hex("6276782d 03000000 616263 62767834"), 16)).getMessage());
        assertEquals("lzfse: corrupt stream at input offset 0x0: block of 3 bytes exceeds the output's remaining 2 bytes",
                assertThrows(CorruptImageException.class,
                        () -> decode(hex("6276782d 03000000 616263 62767824"), 2)).getMessage());
        // A block claiming 4 GiB fails on its size before anything is allocated or copied.
        assertThrows(CorruptImageException.class, () -> decode(hex("6276786e FFFFFFFF 08000000 0600000000000000 62767824"), 16));
    }

    private static byte[] lzvnBlock(int nRaw, byte[] payload) {
        byte[] out = new byte[12 + payload.length + 4];
        byte[] head = hex("6276786e");
        System.arraycopy(head, 0, out, 0, 4);
        putLe(out, 4, nRaw);
        putLe(out, 8, payload.length);
        System.arraycopy(payload, 0, out, 12, payload.length);
        System.arraycopy(hex("62767824"), 0, out, 12 + payload.length, 4);
        return out;
    }

    private static void putLe(byte[] b, int at, int v) {
        for (int i = 0; i < 4; i++) {
            b[at + i] = (byte) (v >>> 8 * i);
        }
    }

    // ---- hostile input --------------------------------------------------------------------------

    private static List<Vector> small() throws IOException {
        return vectors().stream().filter(v -> !v.file().startsWith("words") && !v.file().startsWith("mixed-60k")).toList();
    }

    @Test
    void everyTruncationIsAnError() throws IOException {
        for (Vector v : small()) {
            byte[] src = v.compressed();
            byte[] dst = new byte[v.size()];
            for (int cut = 0; cut < src.length; cut++) {
                int c = cut;
                // The end marker is gone, so no truncation can pass for a whole stream.
                assertThrows(CorruptImageException.class, () -> Lzfse.decode(src, 0, c, dst, 0, dst.length),
                        v.file() + " cut at " + cut);
            }
        }
    }

    @Test
    void everySingleByteCorruptionIsAnErrorOrBoundedOutput() throws IOException {
        for (Vector v : small()) {
            byte[] src = v.compressed();
            byte[] dst = new byte[v.size() + 64];
            for (int at = 0; at < src.length; at++) {
                for (int x : new int[] {0x01, 0xFF}) {
                    byte[] bad = src.clone();
                    bad[at] ^= (byte) x;
                    try {
                        int n = Lzfse.decode(bad, 0, bad.length, dst, 0, dst.length);
                        assertTrue(n >= 0 && n <= dst.length);
                    } catch (CorruptImageException expected) {
                        // most corruptions
                    } catch (RuntimeException e) {
                        throw new AssertionError(v.file() + " byte " + at + " ^ " + x + ": " + e, e);
                    }
                }
            }
        }
    }

    @Test
    void randomBytesBehindEachMagicNeverEscapeAsAnythingButCorruptImage() {
        Random r = new Random(5);
        String[] magics = {"6276782d", "62767831", "62767832", "6276786e"};
        byte[] dst = new byte[4096];
        for (int t = 0; t < 40000; t++) {
            byte[] src = new byte[4 + r.nextInt(t % 2 == 0 ? 64 : 1200)];
            r.nextBytes(src);
            System.arraycopy(hex(magics[t % 4]), 0, src, 0, 4);
            if (src.length > 12 && r.nextBoolean()) {
                putLe(src, 4, r.nextInt(4096)); // a plausible size, so decoding goes deeper
                putLe(src, 8, r.nextInt(src.length));
            }
            try {
                int n = Lzfse.decode(src, 0, src.length, dst, 0, dst.length);
                assertTrue(n >= 0 && n <= dst.length);
            } catch (CorruptImageException expected) {
                // fine
            } catch (RuntimeException e) {
                throw new AssertionError("trial " + t + ": " + HexFormat.of().formatHex(src), e);
            }
        }
    }
}
