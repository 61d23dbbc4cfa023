package org.vdmount.mount.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.List;
import java.util.Random;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.vdmount.vd.conformance.DiskBytes;

/**
 * {@code vd verify} over E01 sets written by {@code ewfacquire}: agrees with {@code ewfverify} on
 * a good set (exit 0), names the hash on a stored-hash mismatch (1) and the chunk on a damaged
 * chunk (2); a format that stores no hashes is exit 2; {@code vd info} shows the stored hashes
 * and case metadata.
 */
class VerifyTest {
    @TempDir
    Path dir;

    @BeforeEach
    void tools() {
        Tools.require("ewfacquire");
        Tools.require("ewfverify");
    }

    private Path acquire(String compression, int size, long seed) throws IOException, InterruptedException {
        byte[] data = new byte[size];
        Random r = new Random(seed);
        r.nextBytes(data);
        for (int i = size / 3; i < size / 2; i++) {
            data[i] = 0;
        }
        Path src = dir.resolve("src-" + seed + ".raw");
        Files.write(src, data);
        Tools.run("ewfacquire", "-u", "-q", "-t", dir.resolve("e" + seed).toString(), "-S", "1048576", "-c",
                "deflate:" + compression, "-d", "sha1", "-C", "CASE-9", "-e", "Ann Examiner", "-D", "laptop disk",
                src.toString());
        return dir.resolve("e" + seed + ".E01");
    }

    private static void flip(Path file, long at) throws IOException {
        try (FileChannel ch = FileChannel.open(file, StandardOpenOption.READ, StandardOpenOption.WRITE)) {
            ByteBuffer b = ByteBuffer.allocate(1);
            ch.read(b, at);
            b.put(0, (byte) (b.get(0) ^ 0x01)).rewind();
            ch.write(b, at);
        }
    }

    @Test
    void aGoodSetVerifiesAsEwfverifySays() throws Exception {
        Path e01 = acquire("fast", 3 << 20, 1);
        assertEquals(0, Tools.exec(List.of("ewfverify", "-q", e01.toString())).exit());
        Cli.Result r = Cli.vd("verify", e01);
        assertEquals(0, r.exit(), r.toString());
        String ewf = Tools.run("ewfverify", "-q", "-d", "sha1", e01.toString());
        for (String line : r.out().split("\n")) {
            if (line.contains("computed:")) {
                String hex = line.substring(line.lastIndexOf(' ') + 1);
                assertTrue(ewf.contains(hex), "ewfverify does not show " + hex + ":\n" + ewf);
            }
        }
        assertTrue(r.out().contains("MD5") && r.out().contains("SHA-1"), r.out());
        Cli.Result named = Cli.vd("verify", "-f", "ewf", e01);
        assertEquals(0, named.exit(), named.toString());
        Cli.Result onTerminal = Cli.vdOnTerminal("verify", e01);
        assertEquals(0, onTerminal.exit(), onTerminal.toString());
        assertTrue(onTerminal.err().contains("100.0%"), onTerminal.err());
    }

    @Test
    void aStoredHashMismatchNamesTheHash() throws Exception {
        Path e01 = acquire("none", 1 << 19, 2); // one segment: the digest section is in it
        byte[] b = Files.readAllBytes(e01);
        // the digest section: MD5 (16) then SHA-1 (20), Adler-32 at 76; change the SHA-1, keep the section valid
        int digest = DiskBytes.indexOf(b, "digest".getBytes());
        assertTrue(digest >= 0, "no digest section");
        int at = digest + 76;
        b[at + 16] ^= 1;
        java.util.zip.Adler32 a = new java.util.zip.Adler32();
        a.update(b, at, 76);
        ByteBuffer.wrap(b, at + 76, 4).order(java.nio.ByteOrder.LITTLE_ENDIAN).putInt((int) a.getValue());
        Files.write(e01, b);
        Cli.Result r = Cli.vd("verify", e01);
        assertEquals(1, r.exit(), r.toString());
        assertEquals(1, r.errLines().size(), r.toString());
        assertTrue(r.err().startsWith("vd: " + e01 + ": SHA-1 mismatch: stored "), r.err());
        assertTrue(!r.err().contains("MD5"), r.err());
    }

    @Test
    void aDamagedChunkIsExit2NamingIt() throws Exception {
        Path e01 = acquire("none", 3 << 20, 3);
        Path second = dir.resolve("e3.E02");
        flip(second, 5000);
        Tools.Output ewf = Tools.exec(List.of("ewfverify", "-q", e01.toString()));
        assertTrue(ewf.exit() != 0 || (ewf.out() + ewf.err()).contains("FAILURE"), ewf.out() + ewf.err());
        Cli.Result r = Cli.vd("verify", e01);
        assertEquals(2, r.exit(), r.toString());
        assertEquals(1, r.errLines().size(), r.toString());
        assertTrue(r.err().matches("vd: ewf: corrupt chunk \\d+ in " + java.util.regex.Pattern.quote(second.toString())
                + " at 0x[0-9a-f]+: checksum .*\n"), r.err());
    }

    @Test
    void aFormatWithoutHashesIsExit2() throws Exception {
        Path raw = dir.resolve("plain.img");
        Files.write(raw, new byte[65536]);
        Cli.Result r = Cli.vd("verify", raw);
        assertEquals(2, r.exit(), r.toString());
        assertEquals(List.of("vd: " + raw + ": raw stores no hashes to verify"), r.errLines());
    }

    @Test
    void infoShowsHashesAndCaseMetadata() throws Exception {
        Path e01 = acquire("best", 3 << 20, 4);
        String md5 = Tools.run("md5sum", dir.resolve("src-4.raw").toString()).substring(0, 32);
        Cli.Result r = Cli.vd("info", "--json", e01);
        assertEquals(0, r.exit(), r.toString());
        for (String s : new String[] {"\"format\": \"ewf\"", "\"md5\": \"" + md5 + "\"", "\"sha1\": ",
                "\"case-number\": \"CASE-9\"", "\"examiner\": \"Ann Examiner\"", "\"description\": \"laptop disk\"",
                "\"segments\": ", "\"chunk-size\": 32768", "\"compression\": \"best\"", "\"acquiry-date\": "}) {
            assertTrue(r.out().contains(s), s + " missing:\n" + r.out());
        }
        Cli.Result human = Cli.vd("info", e01);
        assertEquals(0, human.exit(), human.toString());
        assertTrue(human.out().contains(md5), human.out());
    }
}
