package org.vdmount.mount.cli;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.SecureRandom;
import java.util.Map;
import java.util.Random;
import java.util.UUID;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.vdmount.mount.fuse.TestBindings;
import org.vdmount.vd.CreateOptions;
import org.vdmount.vd.Disk;
import org.vdmount.vd.FormatRegistry;
import org.vdmount.vd.Image;
import org.vdmount.vd.OpenOptions;
import org.vdmount.vd.crypto.KeyStoreSource;
import org.vdmount.vd.crypto.VBoxKeyStore;

/**
 * {@code --keystore FILE.vbox} and {@code --keystore-base64} on the vd verbs: a VDI encrypted by our
 * writer (a fresh random DEK in a store made as VirtualBox makes it) decrypts through
 * {@code vd convert} to the bytes written; qemu-img, which knows nothing of the filter, converts
 * the same file to different (encrypted) bytes.
 */
class VBoxKeyStoreCliTest {
    private static final long SIZE = 4L << 20;

    @TempDir
    Path dir;
    private Path vdi;
    private Path vbox;
    private Path pw;
    private String store;
    private byte[] plain;

    @BeforeEach
    void encryptedVdi() throws Exception {
        byte[] dek = new byte[64];
        new SecureRandom().nextBytes(dek);
        store = VBoxKeyStore.create("s3cret".getBytes(StandardCharsets.UTF_8), dek, "AES-XTS256-PLAIN64", 1000,
                new SecureRandom()).encode();
        vdi = dir.resolve("enc.vdi");
        UUID id;
        try (Image img = FormatRegistry.require("vdi").create(vdi, new CreateOptions(SIZE, Map.of(), null, null))) {
            id = img.uuid();
        }
        plain = new byte[(int) SIZE];
        Random r = new Random(3);
        for (int off = 0; off < SIZE; off += 1 << 20) { // every other MiB written, the rest never
            if ((off >> 20) % 2 == 0) {
                byte[] chunk = new byte[1 << 20];
                r.nextBytes(chunk);
                System.arraycopy(chunk, 0, plain, off, chunk.length);
            }
        }
        OpenOptions o = OpenOptions.defaultReadWrite().withSecrets(w -> "s3cret".getBytes(StandardCharsets.UTF_8))
                .withKeyStores(KeyStoreSource.base64(store));
        try (Disk d = Disk.open(vdi, o)) {
            d.write(0, ByteBuffer.wrap(plain, 0, 1 << 20));
            d.write(2 << 20, ByteBuffer.wrap(plain, 2 << 20, 1 << 20));
        }
        vbox = dir.resolve("vm.vbox");
        Files.writeString(vbox, "<?xml version=\"1.0\"?>\n<VirtualBox xmlns=\"http://www.virtualbox.org/\">"
                + "<Machine name=\"vm\"><MediaRegistry><HardDisks><HardDisk uuid=\"{" + id + "}\" location=\"enc.vdi\" "
                + "format=\"VDI\"><Property name=\"CRYPT/KeyId\" value=\"vm\"/><Property name=\"CRYPT/KeyStore\" "
                + "value=\"" + store + "\"/></HardDisk></HardDisks></MediaRegistry></Machine></VirtualBox>\n");
        pw = dir.resolve("pw");
        Files.writeString(pw, "s3cret\n");
    }

    @Test
    void convertDecryptsWithEitherKeyStoreOption() throws Exception {
        Path out = dir.resolve("out.raw");
        Cli.Result r = Cli.vd("convert", "-O", "raw", "--keystore", vbox, "--password-file", pw, vdi, out);
        assertEquals(0, r.exit(), r.toString());
        assertArrayEquals(plain, Files.readAllBytes(out));

        Path out2 = dir.resolve("out2.raw");
        Cli.Result r2 = Cli.vd("--keystore-base64", store, "--password-file", pw, "convert", "-O", "raw", vdi, out2);
        assertEquals(0, r2.exit(), r2.toString());
        assertArrayEquals(plain, Files.readAllBytes(out2));

        Tools.require("qemu-img");
        Path q = dir.resolve("qemu.raw");
        Tools.run("qemu-img", "convert", "-f", "vdi", "-O", "raw", vdi.toString(), q.toString());
        byte[] cipher = Files.readAllBytes(q);
        assertFalse(java.util.Arrays.equals(java.util.Arrays.copyOf(plain, 1 << 20),
                java.util.Arrays.copyOf(cipher, 1 << 20)), "qemu sees ciphertext");
        assertArrayEquals(new byte[1 << 20], java.util.Arrays.copyOfRange(cipher, 1 << 20, 2 << 20),
                "a block never written stays unallocated");

        Cli.Result info = Cli.vd("info", "--json", "--keystore", vbox, "--password-file", pw, vdi);
        assertEquals(0, info.exit(), info.toString());
        assertTrue(info.out().contains("VirtualBox crypto filter AES-XTS256-PLAIN64"), info.out());
    }

    @Test
    void wrongPasswordAndBadStoresAreOneLine() throws Exception {
        Path bad = dir.resolve("bad");
        Files.writeString(bad, "nope\n");
        Cli.Result r = Cli.vd("convert", "-O", "raw", "--keystore", vbox, "--password-file", bad, vdi,
                dir.resolve("x.raw"));
        assertEquals(1, r.exit(), r.toString());
        assertEquals(1, r.errLines().size(), r.toString());
        assertTrue(r.err().startsWith("vd: " + vbox.toAbsolutePath() + ": medium {"), r.toString());
        assertTrue(r.err().contains("CRYPT/KeyStore: wrong password"), r.toString());
        assertFalse(Files.exists(dir.resolve("x.raw")));

        Cli.Result b = Cli.vd("info", "--keystore-base64", "!!", "--password-file", pw, vdi);
        assertEquals(1, b.exit(), b.toString());
        assertEquals(1, b.errLines().size(), b.toString());
        assertTrue(b.err().startsWith("vd: --keystore-base64: not base64"), b.toString());

        Cli.Result both = Cli.vd("info", "--keystore-base64", store, "--keystore", vbox, "--password-file", pw, vdi);
        assertEquals(1, both.exit(), both.toString());
        assertTrue(both.err().contains("--keystore and --keystore-base64 exclude each other"), both.toString());
    }

    private static String[] vdmount(String... args) {
        java.io.ByteArrayOutputStream buf = new java.io.ByteArrayOutputStream();
        int rc = VdmountMain.run(args, new java.io.PrintStream(buf, true, StandardCharsets.UTF_8));
        String[] lines = buf.toString(StandardCharsets.UTF_8).split("\n");
        assertEquals(1, rc, String.join("\n", lines));
        return lines;
    }

    @Test
    void vdmountOpensThroughTheKeyStoreBeforeTheBindingStarts() throws Exception {
        Path mnt = Files.createDirectory(dir.resolve("mnt"));
        Path bad = Files.writeString(dir.resolve("bad"), "nope\n");
        String[] wrong = vdmount("-f", "--fuse", "test", "--keystore", vbox.toString(), "--password-file",
                bad.toString(), vdi.toString(), mnt.toString());
        assertEquals(1, wrong.length, String.join("\n", wrong));
        assertTrue(wrong[0].startsWith("vdmount: ") && wrong[0].contains("CRYPT/KeyStore: wrong password"), wrong[0]);
        // the right password opens it: the test binding then ends the mount with its own status
        String[] ok = vdmount("-f", "--fuse", "test", "--keystore", vbox.toString(), "--password-file", pw.toString(),
                vdi.toString(), mnt.toString());
        assertEquals(java.util.List.of("vdmount: mount on " + mnt + " failed (FUSE binding test ended with status "
                + TestBindings.STATUS + ")"), java.util.List.of(ok));
    }
}
