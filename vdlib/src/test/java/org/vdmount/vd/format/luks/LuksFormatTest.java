package org.vdmount.vd.format.luks;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Random;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;
import org.vdmount.vd.CorruptImageException;
import org.vdmount.vd.CreateOptions;
import org.vdmount.vd.Disk;
import org.vdmount.vd.FormatRegistry;
import org.vdmount.vd.Image;
import org.vdmount.vd.OpenOptions;
import org.vdmount.vd.VdException;
import org.vdmount.vd.conformance.ExternalTools;
import org.vdmount.vd.crypto.SecretSource;
import org.vdmount.vd.format.qcow2.QemuTools;

/**
 * Raw LUKS images against qemu (which makes and reads LUKS1): qemu's images read the same
 * through ours, ours read the same through qemu; LUKS2 (qemu 7 has no LUKS2 writer, cryptsetup is
 * absent) through our own writer and reader, its argon2 pinned separately ({@code Argon2Test}).
 */
class LuksFormatTest {
    private static final String PASS = "correct horse battery staple";

    @TempDir
    Path dir;

    private static SecretSource pass(String p) {
        return what -> p.getBytes(StandardCharsets.UTF_8);
    }

    private static OpenOptions ro(String p) {
        return OpenOptions.defaultReadOnly().withSecrets(pass(p));
    }

    private static OpenOptions rw(String p) {
        return OpenOptions.defaultReadWrite().withSecrets(pass(p));
    }

    private static String[] secret(String p) {
        return new String[] {"--object", "secret,id=s0,data=" + p};
    }

    private String[] qemu(String... args) {
        List<String> c = new ArrayList<>(List.of(args));
        return c.toArray(new String[0]);
    }

    /** qemu-img create -f luks ({@link ExternalTools#qemuLuksCreate}: its key-derivation calibration may fail). */
    private void qemuCreate(List<String> cmd) throws IOException {
        ExternalTools.qemuLuksCreate(dir, Path.of(cmd.get(cmd.size() - 2)), cmd.toArray(new String[0]));
    }

    private String imageOpts(Path img) {
        return "driver=luks,key-secret=s0,file.filename=" + img;
    }

    /** qemu-img convert of a LUKS image to raw plaintext. */
    private byte[] qemuPlaintext(Path img, String password) throws IOException {
        Path raw = dir.resolve(img.getFileName() + ".plain");
        Files.deleteIfExists(raw);
        List<String> c = new ArrayList<>(List.of("qemu-img", "convert"));
        c.addAll(List.of(secret(password)));
        c.addAll(List.of("--image-opts", imageOpts(img), "-O", "raw", raw.toString()));
        ExternalTools.run(dir, c.toArray(new String[0]));
        return Files.readAllBytes(raw);
    }

    private static byte[] readAll(Disk d) throws IOException {
        ByteBuffer b = ByteBuffer.allocate((int) d.size());
        d.read(0, b);
        return b.array();
    }

    private void qemuIo(Path img, String... commands) throws IOException {
        List<String> c = new ArrayList<>(List.of("qemu-io"));
        c.addAll(List.of(secret(PASS)));
        c.addAll(List.of("--image-opts", imageOpts(img)));
        for (String cmd : commands) {
            c.add("-c");
            c.add(cmd);
        }
        String out = ExternalTools.run(dir, c.toArray(new String[0]));
        assertFalse(out.contains("error") || out.contains("fail") || out.contains("Pattern verification"), out);
    }

    @ParameterizedTest
    @CsvSource({
        "aes-256, xts, plain64, sha256, sha256",
        "aes-128, xts, plain64, sha1, sha256",
        "aes-256, xts, essiv, sha256, sha256",
        "aes-256, cbc, essiv, sha256, sha256",
        "aes-128, cbc, plain64, sha512, sha256",
        "aes-256, cbc, plain, sha256, sha256"})
    void qemusLuks1ImageReadsAsQemuReadsIt(String alg, String mode, String ivgen, String hash, String ivhash)
            throws IOException {
        QemuTools.assumeQemu();
        Path img = dir.resolve("q.luks");
        List<String> c = new ArrayList<>(List.of("qemu-img", "create"));
        c.addAll(List.of(secret(PASS)));
        c.addAll(List.of("-f", "luks", "-o", "key-secret=s0,iter-time=10,cipher-alg=" + alg + ",cipher-mode=" + mode
                + ",ivgen-alg=" + ivgen + ",hash-alg=" + hash + (ivgen.equals("essiv") ? ",ivgen-hash-alg=" + ivhash : ""),
                img.toString(), "4M"));
        qemuCreate(c);
        qemuIo(img, "write -P 0xab 0 1M", "write -P 0x5c 1536 3000", "write -P 0x11 3M 512");
        byte[] expected = qemuPlaintext(img, PASS);
        assertEquals("luks", FormatRegistry.probe(img).name());
        try (Disk d = Disk.open(img, ro(PASS))) {
            assertEquals(4L << 20, d.size());
            assertEquals("luks1", d.layers().get(0).variant());
            byte[] got = readAll(d);
            assertEquals(-1, Arrays.mismatch(expected, got), "first differing byte");
            assertEquals((byte) 0xab, got[0]);
            assertEquals((byte) 0x5c, got[1536]);
        }
    }

    @ParameterizedTest
    @CsvSource({"aes-256, xts, plain64", "aes-256, cbc, essiv", "aes-128, xts, plain", "aes-256, xts, essiv"})
    void ourLuks1ImageReadsTheSameThroughQemu(String alg, String mode, String ivgen) throws IOException {
        QemuTools.assumeQemu();
        Path img = dir.resolve("ours.luks");
        byte[] model = new byte[3 << 20];
        CreateOptions o = CreateOptions.of(model.length).with("luks-version", "1").with("iter-time", "10")
                .with("cipher-alg", alg).with("cipher-mode", mode).with("ivgen-alg", ivgen).withSecrets(pass(PASS));
        Random rnd = new Random(7);
        try (Image im = FormatRegistry.require("luks").create(img, o)) {
            writeRandom(im, model, rnd);
        }
        // never-written sectors decrypt to noise in qemu as in ours: compare the whole disk
        try (Disk d = Disk.open(img, ro(PASS))) {
            byte[] ours = readAll(d);
            for (int[] r : written) {
                assertEquals(-1, Arrays.mismatch(Arrays.copyOfRange(model, r[0], r[0] + r[1]),
                        Arrays.copyOfRange(ours, r[0], r[0] + r[1])));
            }
            assertArrayEquals(qemuPlaintext(img, PASS), ours);
        }
        qemuIo(img, "read -P 0x00 0 64k");
    }

    private final List<int[]> written = new ArrayList<>();

    /** Aligned and unaligned writes, one crossing a 1 MiB block; the model gets the same bytes. */
    private void writeRandom(Image im, byte[] model, Random rnd) throws IOException {
        int[][] ranges = {{0, 65536}, {100_000, 7777}, {(1 << 20) - 300, 1000}, {2 << 20, 4096}, {(3 << 20) - 17, 17}};
        Arrays.fill(model, 0, 65536, (byte) 0);
        im.write(0, ByteBuffer.allocate(65536));
        written.add(new int[] {0, 65536});
        for (int i = 1; i < ranges.length; i++) {
            int[] r = ranges[i];
            byte[] b = new byte[r[1]];
            rnd.nextBytes(b);
            System.arraycopy(b, 0, model, r[0], r[1]);
            im.write(r[0], ByteBuffer.wrap(b));
            written.add(r);
        }
    }

    @ParameterizedTest
    @CsvSource({"pbkdf2, 512", "argon2id, 4096", "argon2i, 512"})
    void luks2WrittenByUsReadsBackAndRefusesOtherPasswords(String kdf, String sector) throws IOException {
        Path img = dir.resolve("two.luks");
        byte[] model = new byte[3 << 20];
        CreateOptions o = CreateOptions.of(model.length).with("iter-time", "10").with("pbkdf", kdf)
                .with("argon2-memory", "1024").with("argon2-time", "2").with("argon2-parallel", "2")
                .with("sector-size", sector).withSecrets(pass(PASS));
        try (Image im = FormatRegistry.require("luks").create(img, o)) {
            writeRandom(im, model, new Random(3));
        }
        try (Disk d = Disk.open(img, ro(PASS))) {
            assertEquals("luks2", d.layers().get(0).variant());
            assertEquals(Integer.parseInt(sector), d.layers().get(0).logicalSectorSize());
            assertEquals(model.length, d.size());
            byte[] got = readAll(d);
            for (int[] r : written) {
                assertEquals(-1, Arrays.mismatch(Arrays.copyOfRange(model, r[0], r[0] + r[1]),
                        Arrays.copyOfRange(got, r[0], r[0] + r[1])));
            }
        }
        VdException e = assertThrows(VdException.class, () -> Disk.open(img, ro("wrong " + PASS)).close());
        assertTrue(e.getMessage().contains("no key slot opens with this password"), e.getMessage());
        assertFalse(e.getMessage().contains(PASS), e.getMessage());
    }

    @Test
    void preallocatedReadsZerosThroughQemuToo() throws IOException {
        QemuTools.assumeQemu();
        Path img = dir.resolve("full.luks");
        CreateOptions o = CreateOptions.of(1 << 20).with("luks-version", "1").with("iter-time", "10")
                .with("preallocation", "full").withSecrets(pass(PASS));
        FormatRegistry.require("luks").create(img, o).close();
        assertArrayEquals(new byte[1 << 20], qemuPlaintext(img, PASS));
        try (Disk d = Disk.open(img, ro(PASS))) {
            assertArrayEquals(new byte[1 << 20], readAll(d));
        }
    }

    @Test
    void aWrongPasswordIsOneLineWithoutThePassword() throws IOException {
        QemuTools.assumeQemu();
        Path img = qemuImage();
        String wrong = "hunter2-secret";
        VdException e = assertThrows(VdException.class, () -> Disk.open(img, ro(wrong)).close());
        assertEquals("luks: " + img + ": no key slot opens with this password (1 active slot tried)", e.getMessage());
        assertFalse(e.getMessage().contains(wrong));
        assertFalse(String.valueOf(e.getCause()).contains(wrong));
    }

    @Test
    void noPasswordSourceSaysHowToGiveOne() throws IOException {
        QemuTools.assumeQemu();
        Path img = qemuImage();
        VdException e = assertThrows(VdException.class, () -> Disk.open(img, OpenOptions.defaultReadOnly()).close());
        assertTrue(e.getMessage().contains("--password-file"), e.getMessage());
    }

    @Test
    void aDamagedKeySlotOrDigestOpensNothing() throws IOException {
        QemuTools.assumeQemu();
        Path img = qemuImage();
        byte[] orig = Files.readAllBytes(img);
        // key material of slot 0 (its offset in sectors at 208 + 40)
        int material = ByteBuffer.wrap(orig, 208 + 40, 4).getInt() * 512;
        for (int at : new int[] {material + 1000, 112 /* mk-digest */}) {
            byte[] bad = orig.clone();
            bad[at] ^= 0x40;
            Files.write(img, bad);
            VdException e = assertThrows(VdException.class, () -> Disk.open(img, ro(PASS)).close());
            assertTrue(e.getMessage().contains("no key slot opens with this password"), e.getMessage());
        }
        byte[] bad = orig.clone();
        bad[208 + 1] = 0x12; // slot 0 state neither active nor disabled
        Files.write(img, bad);
        CorruptImageException c = assertThrows(CorruptImageException.class, () -> Disk.open(img, ro(PASS)).close());
        assertTrue(c.getMessage().contains("LUKS1 key slot 0") && c.getMessage().contains("0xd0"), c.getMessage());
    }

    @Test
    void aDamagedLuks2PrimaryHeaderFallsBackToTheSecondaryAndBothDamagedIsCorrupt() throws IOException {
        Path img = dir.resolve("two.luks");
        CreateOptions o = CreateOptions.of(1 << 20).with("iter-time", "10").with("pbkdf", "pbkdf2")
                .withSecrets(pass(PASS));
        byte[] data = new byte[4096];
        new Random(1).nextBytes(data);
        try (Image im = FormatRegistry.require("luks").create(img, o)) {
            im.write(8192, ByteBuffer.wrap(data));
        }
        try (FileChannel ch = FileChannel.open(img, StandardOpenOption.WRITE)) {
            ch.write(ByteBuffer.wrap(new byte[] {'X'}), 4096 + 3); // primary JSON
        }
        try (Disk d = Disk.open(img, ro(PASS))) {
            ByteBuffer b = ByteBuffer.allocate(4096);
            d.read(8192, b);
            assertArrayEquals(data, b.array());
        }
        try (FileChannel ch = FileChannel.open(img, StandardOpenOption.WRITE)) {
            ch.write(ByteBuffer.wrap(new byte[] {'X'}), 16384 + 4096 + 3); // secondary JSON
        }
        CorruptImageException c = assertThrows(CorruptImageException.class, () -> Disk.open(img, ro(PASS)).close());
        assertTrue(c.getMessage().contains("checksum"), c.getMessage());
    }

    @Test
    void writesThroughADiskLandInQemusPlaintext() throws IOException {
        QemuTools.assumeQemu();
        Path img = qemuImage();
        byte[] before = qemuPlaintext(img, PASS);
        byte[] data = new byte[10_000];
        new Random(5).nextBytes(data);
        try (Disk d = Disk.open(img, rw(PASS))) {
            d.write(12_345, ByteBuffer.wrap(data));
            d.flush();
        }
        byte[] after = qemuPlaintext(img, PASS);
        System.arraycopy(data, 0, before, 12_345, data.length);
        assertArrayEquals(before, after);
    }

    private Path qemuImage() throws IOException {
        Path img = dir.resolve("q.luks");
        List<String> c = new ArrayList<>(List.of("qemu-img", "create"));
        c.addAll(List.of(secret(PASS)));
        c.addAll(List.of("-f", "luks", "-o", "key-secret=s0,iter-time=10", img.toString(), "1M"));
        qemuCreate(c);
        return img;
    }
}
