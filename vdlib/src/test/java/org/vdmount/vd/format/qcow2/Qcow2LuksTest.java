package org.vdmount.vd.format.qcow2;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Random;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.vdmount.vd.Disk;
import org.vdmount.vd.OpenOptions;
import org.vdmount.vd.VdException;
import org.vdmount.vd.conformance.ExternalTools;

/**
 * qcow2 with {@code encrypt.format=luks} made by qemu: read through the LUKS filter as qemu reads
 * it, written by us and read back (and checked) by qemu.
 */
class Qcow2LuksTest {
    private static final String PASS = "qcow2 luks pass";

    @TempDir
    Path dir;

    private static OpenOptions with(OpenOptions o, String pw) {
        return o.withSecrets(what -> pw.getBytes(StandardCharsets.UTF_8));
    }

    private String[] secret() {
        return new String[] {"--object", "secret,id=s0,data=" + PASS};
    }

    private String opts(Path img) {
        return "driver=qcow2,encrypt.key-secret=s0,file.filename=" + img;
    }

    private Path qemuImage(String extra) throws IOException {
        Path img = dir.resolve("e.qcow2");
        ExternalTools.qemuLuksCreate(dir, img, "qemu-img", "create", secret()[0], secret()[1], "-f", "qcow2", "-o",
                "encrypt.format=luks,encrypt.key-secret=s0,encrypt.iter-time=10" + extra, img.toString(), "8M");
        return img;
    }

    private byte[] qemuPlain(Path img) throws IOException {
        Path raw = dir.resolve("plain.raw");
        Files.deleteIfExists(raw);
        ExternalTools.run(dir, "qemu-img", "convert", secret()[0], secret()[1], "--image-opts", opts(img), "-O", "raw",
                raw.toString());
        return Files.readAllBytes(raw);
    }

    private static byte[] readAll(Disk d) throws IOException {
        ByteBuffer b = ByteBuffer.allocate((int) d.size());
        d.read(0, b);
        return b.array();
    }

    @Test
    void qemusEncryptedQcow2ReadsAsQemuReadsIt() throws IOException {
        QemuTools.assumeQemu();
        for (String extra : new String[] {"", ",encrypt.cipher-alg=aes-128,encrypt.cipher-mode=cbc,"
                + "encrypt.ivgen-alg=essiv,encrypt.ivgen-hash-alg=sha256,cluster_size=4096"}) {
            Path img = qemuImage(extra);
            ExternalTools.run(dir, "qemu-io", secret()[0], secret()[1], "--image-opts", opts(img),
                    "-c", "write -P 0xab 1M 64k", "-c", "write -P 0x17 3000 5000", "-c", "write -P 0x99 7M 4096");
            byte[] expected = qemuPlain(img);
            try (Disk d = Disk.open(img, with(OpenOptions.defaultReadOnly(), PASS))) {
                byte[] got = readAll(d);
                assertEquals(-1, java.util.Arrays.mismatch(expected, got));
                assertEquals((byte) 0xab, got[1 << 20]);
                assertEquals((byte) 0x17, got[3000]);
            }
            Files.delete(img);
        }
    }

    @Test
    void ourWritesReadBackThroughQemuAndCheckClean() throws IOException {
        QemuTools.assumeQemu();
        Path img = qemuImage("");
        ExternalTools.run(dir, "qemu-io", secret()[0], secret()[1], "--image-opts", opts(img),
                "-c", "write -P 0x42 0 128k");
        byte[] model = qemuPlain(img);
        Random rnd = new Random(11);
        try (Disk d = Disk.open(img, with(OpenOptions.defaultReadWrite(), PASS))) {
            int[][] ranges = {{100, 1000}, {65536, 65536}, {5 << 20, 300_000}, {(8 << 20) - 512, 512}};
            for (int[] r : ranges) {
                byte[] b = new byte[r[1]];
                rnd.nextBytes(b);
                d.write(r[0], ByteBuffer.wrap(b));
                System.arraycopy(b, 0, model, r[0], r[1]);
            }
            d.flush();
        }
        assertArrayEquals(model, qemuPlain(img));
        ExternalTools.Result check = ExternalTools.exec(dir, "qemu-img", "check", secret()[0], secret()[1],
                "--image-opts", opts(img));
        assertEquals(0, check.exit(), check.output());
        try (Disk d = Disk.open(img, with(OpenOptions.defaultReadOnly(), PASS))) {
            assertArrayEquals(model, readAll(d));
        }
    }

    @org.junit.jupiter.params.ParameterizedTest
    @org.junit.jupiter.params.provider.CsvSource({"65536, ''", "4096, ',encrypt.cipher-mode=cbc,encrypt.ivgen-alg=essiv'"})
    void createdByUsReadAndCheckedByQemu(long clusterSize, String extra) throws IOException {
        QemuTools.assumeQemu();
        Path img = dir.resolve("ours.qcow2");
        org.vdmount.vd.CreateOptions o = org.vdmount.vd.CreateOptions.of(8 << 20)
                .with("encrypt.format", "luks").with("encrypt.iter-time", "10")
                .with("cluster_size", Long.toString(clusterSize))
                .withSecrets(what -> PASS.getBytes(StandardCharsets.UTF_8));
        for (String kv : extra.split(",")) {
            if (!kv.isEmpty()) {
                o = o.with(kv.substring(0, kv.indexOf('=')), kv.substring(kv.indexOf('=') + 1));
            }
        }
        byte[] model = new byte[8 << 20];
        new Random(9).nextBytes(model);
        java.util.Arrays.fill(model, 0, 1 << 20, (byte) 0);
        try (org.vdmount.vd.Image im = org.vdmount.vd.FormatRegistry.require("qcow2").create(img, o)) {
            im.flush();
        }
        try (Disk d = Disk.open(img, with(OpenOptions.defaultReadWrite(), PASS))) {
            d.write(1 << 20, ByteBuffer.wrap(model, 1 << 20, 7 << 20));
            d.flush();
        }
        String info = ExternalTools.run(dir, "qemu-img", "info", img.toString());
        assertTrue(info.contains("encrypted: yes") && info.contains("format: luks"), info);
        assertArrayEquals(model, qemuPlain(img));
        ExternalTools.Result check = ExternalTools.exec(dir, "qemu-img", "check", secret()[0], secret()[1],
                "--image-opts", opts(img));
        assertEquals(0, check.exit(), check.output());
        try (Disk d = Disk.open(img, with(OpenOptions.defaultReadOnly(), PASS))) {
            assertArrayEquals(model, readAll(d));
        }
    }

    /** A dirty encrypted image: the refcount rebuild keeps the LUKS header's clusters referenced. */
    @Test
    void aRefcountRebuildKeepsTheLuksHeader() throws IOException {
        QemuTools.assumeQemu();
        Path img = qemuImage("");
        ExternalTools.run(dir, "qemu-io", secret()[0], secret()[1], "--image-opts", opts(img),
                "-c", "write -P 0x61 0 256k");
        byte[] b = Files.readAllBytes(img);
        b[0x48 + 7] |= 1; // incompatible feature bit 0: dirty
        Files.write(img, b);
        byte[] model = new byte[8 << 20];
        java.util.Arrays.fill(model, 0, 256 << 10, (byte) 0x61);
        java.util.List<String> warnings = new java.util.ArrayList<>();
        try (Disk d = Disk.open(img, with(OpenOptions.defaultReadWrite(), PASS).withWarnings(warnings::add))) {
            byte[] more = new byte[3 << 20]; // enough new clusters to reuse any the rebuild had freed
            new Random(4).nextBytes(more);
            d.write(4 << 20, ByteBuffer.wrap(more));
            System.arraycopy(more, 0, model, 4 << 20, more.length);
        }
        assertEquals(1, warnings.size(), warnings.toString());
        ExternalTools.Result check = ExternalTools.exec(dir, "qemu-img", "check", secret()[0], secret()[1],
                "--image-opts", opts(img));
        assertEquals(0, check.exit(), check.output());
        assertArrayEquals(model, qemuPlain(img));
    }

    @Test
    void aWrongOrMissingPasswordOpensNothing() throws IOException {
        QemuTools.assumeQemu();
        Path img = qemuImage("");
        VdException e = assertThrows(VdException.class,
                () -> Disk.open(img, with(OpenOptions.defaultReadOnly(), "nope-123")).close());
        assertEquals("qcow2: " + img + ": no key slot opens with this password (1 active slot tried)", e.getMessage());
        assertFalse(e.getMessage().contains("nope-123"));
        VdException none = assertThrows(VdException.class, () -> Disk.open(img, OpenOptions.defaultReadOnly()).close());
        assertTrue(none.getMessage().contains("--password-file"), none.getMessage());
    }
}
