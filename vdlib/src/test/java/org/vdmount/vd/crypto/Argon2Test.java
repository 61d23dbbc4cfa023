package org.vdmount.vd.crypto;

import static org.junit.jupiter.api.Assertions.assertEquals;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.HexFormat;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;
import org.vdmount.vd.conformance.ExternalTools;

/** Argon2 pinned by RFC 9106's test vectors and cross-checked against the reference libargon2. */
class Argon2Test {
    @TempDir
    Path dir;

    private static byte[] filled(int n, int v) {
        byte[] b = new byte[n];
        Arrays.fill(b, (byte) v);
        return b;
    }

    /** RFC 9106 sections 5.1 to 5.3: m=32, t=3, p=4, P=32x01, S=16x02, K=8x03, X=12x04, T=32. */
    @ParameterizedTest
    @CsvSource({
        "0, 512b391b6f1162975371d30919734294f868e3be3984f3c1a13a4db9fabe4acb",
        "1, c814d9d1dc7f37aa13f0d77f2494bda1c8de6b016dd388d29952a4c4672b6ce8",
        "2, 0d640df58d78766c08c037a34a8b53c9d01ef0452d75b65eb52520e96b01e659"})
    void rfc9106Vectors(int type, String tag) {
        byte[] got = Argon2.derive(type, filled(32, 1), filled(16, 2), filled(8, 3), filled(12, 4), 3, 32, 4, 32);
        assertEquals(tag, HexFormat.of().formatHex(got));
    }

    /** BLAKE2b of "abc" (RFC 7693 appendix A). */
    @Test
    void blake2bOfAbc() {
        assertEquals("ba80a53f981c4d0d6a2797b69f12f6e94c212f14685ac4b74b12bb6fdbffa2d1"
                + "7d87c5392aab792dc252d5de4533cc9518d38aa8dbf1925ab92386edd4009923",
                HexFormat.of().formatHex(new Blake2b(64).update("abc".getBytes()).digest()));
    }

    /** The reference implementation (libargon2, through Python's ctypes) on LUKS-like parameters. */
    @ParameterizedTest
    @CsvSource({"1, 3, 1024, 4, 64", "2, 4, 2048, 2, 32", "2, 1, 64, 1, 80", "1, 2, 4100, 3, 64"})
    void sameAsLibargon2(int type, int t, int m, int p, int len) throws IOException {
        Assumptions.assumeTrue(ExternalTools.has("python3"), "python3 is missing");
        String lib = "/usr/lib/x86_64-linux-gnu/libargon2.so.1";
        Assumptions.assumeTrue(Files.exists(Path.of(lib)), "libargon2 is missing");
        byte[] pw = "pa\u00dfword".getBytes(java.nio.charset.StandardCharsets.UTF_8);
        byte[] salt = filled(32, 0x5a);
        salt[3] = 7;
        Path script = dir.resolve("a.py");
        Files.writeString(script, String.join("\n",
                "import ctypes, sys",
                "l = ctypes.CDLL('" + lib + "')",
                "pw = bytes.fromhex(sys.argv[1]); salt = bytes.fromhex(sys.argv[2]); n = int(sys.argv[7])",
                "out = ctypes.create_string_buffer(n)",
                "rc = l.argon2_hash(ctypes.c_uint32(int(sys.argv[4])), ctypes.c_uint32(int(sys.argv[5])),"
                        + " ctypes.c_uint32(int(sys.argv[6])), pw, ctypes.c_size_t(len(pw)), salt,"
                        + " ctypes.c_size_t(len(salt)), out, ctypes.c_size_t(n), None, ctypes.c_size_t(0),"
                        + " ctypes.c_int(int(sys.argv[3])), ctypes.c_uint32(0x13))",
                "assert rc == 0, rc",
                "print(out.raw.hex())", ""));
        HexFormat hex = HexFormat.of();
        String want = ExternalTools.run(dir, "python3", script.toString(), hex.formatHex(pw), hex.formatHex(salt),
                Integer.toString(type), Integer.toString(t), Integer.toString(m), Integer.toString(p),
                Integer.toString(len)).strip();
        assertEquals(want, hex.formatHex(Argon2.derive(type, pw, salt, t, m, p, len)));
    }
}
