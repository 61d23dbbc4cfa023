package org.vdmount.vd.crypto;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.Map;
import java.util.Random;
import java.util.UUID;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;
import org.vdmount.vd.CreateOptions;
import org.vdmount.vd.Disk;
import org.vdmount.vd.FormatRegistry;
import org.vdmount.vd.Image;
import org.vdmount.vd.OpenOptions;
import org.vdmount.vd.UnsupportedFeatureException;
import org.vdmount.vd.VdException;
import org.vdmount.vd.conformance.ExternalTools;

/**
 * The crypto filter under VDI, VMDK and VHD ({@link VBoxCryptImage}, {@link VBoxCryptChain},
 * {@link KeyStoreSource}). Images are made by our own writers (no VirtualBox here); qemu, which
 * knows nothing of the filter, reads the same files as plain images: its view must be the format
 * intact (qemu-img check) with each written sector the XTS ciphertext of unit offset/512.
 */
class VBoxCryptImageTest {
    private static final long SIZE = 8L << 20;
    private static final byte[] DEK = range(0, 32);

    @TempDir
    Path dir;

    private static byte[] range(int from, int n) {
        byte[] b = new byte[n];
        for (int i = 0; i < n; i++) {
            b[i] = (byte) (from + i);
        }
        return b;
    }

    private static OpenOptions keyed(boolean readOnly, String password) {
        OpenOptions o = readOnly ? OpenOptions.defaultReadOnly() : OpenOptions.defaultReadWrite();
        return o.withSecrets(what -> password.getBytes(StandardCharsets.UTF_8))
                .withKeyStores(KeyStoreSource.base64(VBoxKeyStoreTest.XTS128));
    }

    private Path create(String format) throws IOException {
        Path p = dir.resolve("disk." + format);
        try (Image img = FormatRegistry.require(format).create(p, new CreateOptions(SIZE, Map.of(), null, null))) {
            img.flush();
        }
        return p;
    }

    private static byte[] read(Disk d, long off, int len) throws IOException {
        ByteBuffer b = ByteBuffer.allocate(len);
        d.read(off, b);
        return b.array();
    }

    @ParameterizedTest
    @CsvSource({"vdi,vdi", "vmdk,vmdk", "vhd,vpc"})
    void writtenThroughTheFilterReadsBackAndQemuSeesXtsSectors(String format, String qemuFormat) throws Exception {
        Path p = create(format);
        Random r = new Random(7);
        byte[] a = new byte[3000];
        byte[] b = new byte[65536];
        r.nextBytes(a);
        r.nextBytes(b);
        long offA = 1_000_001; // not sector-aligned: the filter reads, decrypts and re-encrypts the edges
        long offB = 4L << 20;
        try (Disk d = Disk.open(p, keyed(false, "vdmount"))) {
            assertInstanceOf(VBoxCryptImage.class, d.top());
            d.write(offA, ByteBuffer.wrap(a));
            d.write(offB, ByteBuffer.wrap(b));
            d.write(offA + 100, ByteBuffer.wrap(a, 0, 10)); // a partial sector over written data
            System.arraycopy(a, 0, a, 100, 10);
        }
        try (Disk d = Disk.open(p, keyed(true, "vdmount"))) {
            assertArrayEquals(a, read(d, offA, a.length));
            assertArrayEquals(b, read(d, offB, b.length));
            assertArrayEquals(new byte[4096], read(d, 6L << 20, 4096)); // never written: not held, zeros
            assertTrue(d.top().details().get("encryption").toString().contains("AES-XTS128-PLAIN64"));
        }
        try (Disk plain = Disk.open(p, OpenOptions.defaultReadOnly())) {
            assertFalse(Arrays.equals(b, read(plain, offB, b.length)), "stored in the clear");
        }

        ExternalTools.assume("qemu-img");
        if (!qemuFormat.equals("vpc")) { // qemu has no check for VHD
            ExternalTools.run(dir, "qemu-img", "check", "-f", qemuFormat, p.toString());
        }
        Path raw = dir.resolve(format + ".raw");
        ExternalTools.run(dir, "qemu-img", "convert", "-f", qemuFormat, "-O", "raw", p.toString(), raw.toString());
        byte[] all = Files.readAllBytes(raw);
        try (SectorCipher xts = SectorCipher.of("aes", "xts-plain64", DEK)) {
            long first = offA / 512;
            long end = (offA + a.length + 511) / 512 * 512;
            byte[] ra = Arrays.copyOfRange(all, (int) (first * 512), (int) end);
            xts.decrypt(first, 512, ra, 0, ra.length);
            int in = (int) (offA - first * 512);
            assertArrayEquals(a, Arrays.copyOfRange(ra, in, in + a.length));
            byte[] rb = Arrays.copyOfRange(all, (int) offB, (int) offB + b.length);
            xts.decrypt(offB / 512, 512, rb, 0, rb.length);
            assertArrayEquals(b, rb);
        }
    }

    @Test
    void aDifferencingVdiOverAnEncryptedBaseFillsPartialSectorsWithThePlaintext() throws Exception {
        Path base = create("vdi");
        byte[] pattern = new byte[1 << 20];
        new Random(11).nextBytes(pattern);
        try (Disk d = Disk.open(base, keyed(false, "vdmount"))) {
            d.write(0, ByteBuffer.wrap(pattern));
        }
        Path child = dir.resolve("child.vdi");
        try (Disk parent = Disk.open(base, keyed(true, "vdmount"));
             Image img = FormatRegistry.require("vdi").create(child, new CreateOptions(SIZE, Map.of(), parent, base))) {
            img.flush();
        }
        byte[] edit = "written in the child".getBytes(StandardCharsets.US_ASCII);
        try (Disk d = Disk.open(child, keyed(false, "vdmount"))) {
            assertEquals(2, d.layers().size());
            assertTrue(d.layers().stream().allMatch(l -> l instanceof VBoxCryptImage));
            d.write(1000, ByteBuffer.wrap(edit)); // inside one sector of a block the child lacks
            d.write(700_001, ByteBuffer.wrap(edit)); // again, now inside the block the child holds
        }
        System.arraycopy(edit, 0, pattern, 1000, edit.length);
        System.arraycopy(edit, 0, pattern, 700_001, edit.length);
        try (Disk d = Disk.open(child, keyed(true, "vdmount"))) {
            assertArrayEquals(pattern, read(d, 0, pattern.length));
        }
        try (Disk d = Disk.open(base, keyed(true, "vdmount"))) {
            assertFalse(Arrays.equals(pattern, read(d, 0, pattern.length)), "the base is left as it was");
            byte[] got = read(d, 0, 1000);
            assertArrayEquals(Arrays.copyOf(pattern, 1000), got);
        }
    }

    @Test
    void wrongPasswordIsOneLineAndNothingStaysOpen() throws Exception {
        Path p = create("vdi");
        VdException e = assertThrows(VdException.class, () -> Disk.open(p, keyed(false, "nope")));
        assertTrue(e.getMessage().startsWith("--keystore-base64: wrong password"), e.getMessage());
        assertFalse(e.getMessage().contains("\n"));
        try (Disk d = Disk.open(p, keyed(false, "vdmount"))) { // not left locked
            assertEquals(SIZE, d.size());
        }
    }

    @Test
    void withoutAPasswordSourceTheImageIsRefusedInOneLine() throws Exception {
        Path p = create("vdi");
        OpenOptions o = OpenOptions.defaultReadOnly().withKeyStores(KeyStoreSource.base64(VBoxKeyStoreTest.XTS128));
        assertTrue(assertThrows(UnsupportedFeatureException.class, () -> Disk.open(p, o)).getMessage()
                .contains("--password-file"));
    }

    @Test
    void otherFormatsAreReadAsTheyAreWithAWarning() throws Exception {
        Path p = create("qcow2");
        java.util.List<String> warnings = new java.util.ArrayList<>();
        try (Disk d = Disk.open(p, keyed(true, "vdmount").withWarnings(warnings::add))) {
            assertFalse(d.top() instanceof VBoxCryptImage);
        }
        assertEquals(java.util.List.of(p + ": the VirtualBox key store does not apply to qcow2 images (VirtualBox's "
                + "crypto filter encrypts vdi, vmdk and vhd); read as it is"), warnings);
    }

    private Path vbox(String body) throws IOException {
        Path v = dir.resolve("vm.vbox");
        Files.writeString(v, "<?xml version=\"1.0\"?>\n"
                + "<VirtualBox xmlns=\"http://www.virtualbox.org/\" version=\"1.16-linux\">"
                + "<Machine uuid=\"{11111111-2222-3333-4444-555555555555}\" name=\"vm\"><MediaRegistry><HardDisks>"
                + body + "</HardDisks></MediaRegistry></Machine></VirtualBox>\n");
        return v;
    }

    private static String disk(UUID id, boolean keyed, String children) {
        String props = keyed ? "<Property name=\"CRYPT/KeyId\" value=\"vm\"/>"
                + "<Property name=\"CRYPT/KeyStore\" value=\"" + VBoxKeyStoreTest.XTS128.substring(0, 64) + "&#13;&#10;"
                + VBoxKeyStoreTest.XTS128.substring(64) + "\"/>" : "";
        return "<HardDisk uuid=\"{" + id + "}\" location=\"disk.vdi\" format=\"VDI\" type=\"Normal\">" + props
                + children
                + "</HardDisk>";
    }

    @Test
    void theVboxFileGivesTheMediumsKeyStoreByUuid() throws Exception {
        Path p = create("vdi");
        UUID id;
        try (Image img = FormatRegistry.open(p, OpenOptions.defaultReadOnly())) {
            id = img.uuid();
        }
        UUID child = UUID.randomUUID();
        Path v = vbox(disk(UUID.randomUUID(), false, "") + disk(id, true, disk(child, false, "")));
        KeyStoreSource src = KeyStoreSource.vboxFile(v);
        KeyStoreSource.Located found = src.keyStore(child, p); // nested differencing medium: its parent's
        assertEquals(v + ": medium {" + id + "}: CRYPT/KeyStore", found.where());
        assertEquals(VBoxKeyStoreTest.XTS128, VBoxKeyStore.decode(found.base64(), found.where()).encode());

        OpenOptions o = OpenOptions.defaultReadWrite().withSecrets(w -> "vdmount".getBytes(StandardCharsets.UTF_8))
                .withKeyStores(src);
        try (Disk d = Disk.open(p, o)) {
            d.write(0, ByteBuffer.wrap(range(1, 512)));
        }
        OpenOptions byValue = o.withReadOnly(true).withKeyStores(KeyStoreSource.base64(VBoxKeyStoreTest.XTS128));
        try (Disk d = Disk.open(p, byValue)) {
            assertArrayEquals(range(1, 512), read(d, 0, 512));
        }

        UUID other = UUID.randomUUID();
        assertEquals(v + ": no medium with UUID {" + other + "} of " + p,
                assertThrows(VdException.class, () -> src.keyStore(other, p)).getMessage());
        Path plain = vbox(disk(id, false, ""));
        assertTrue(assertThrows(VdException.class, () -> KeyStoreSource.vboxFile(plain).keyStore(id, p)).getMessage()
                .endsWith("has no CRYPT/KeyStore property: it is not encrypted"));
    }

    @Test
    void aVboxFileWithADoctypeOrBrokenXmlIsRefusedInOneLine() throws Exception {
        Path v = dir.resolve("evil.vbox");
        Files.writeString(v, "<?xml version=\"1.0\"?>\n<!DOCTYPE x [<!ENTITY e SYSTEM \"file:///etc/passwd\">]>\n"
                + "<VirtualBox>&e;</VirtualBox>\n");
        String m = assertThrows(VdException.class, () -> KeyStoreSource.vboxFile(v).keyStore(UUID.randomUUID(), v))
                .getMessage();
        assertTrue(m.startsWith(v + ": not a VirtualBox settings file: "), m);
        assertFalse(m.contains("\n"));
        Files.writeString(v, "<VirtualBox><HardDisks>");
        assertTrue(assertThrows(VdException.class, () -> KeyStoreSource.vboxFile(v).keyStore(UUID.randomUUID(), v))
                .getMessage().startsWith(v + ": not a VirtualBox settings file"));
    }
}
