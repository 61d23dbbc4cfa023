package org.vdmount.mount.cli;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** {@code --password-file} on vd's verbs and {@code vd create -f luks}, with qemu as the oracle. */
class LuksCliTest {
    private static final String PASS = "Tr0ub4dor&3 with spaces";

    @TempDir
    Path dir;

    private Path pwFile(String name, String content) throws IOException {
        Path p = dir.resolve(name);
        Files.writeString(p, content);
        return p;
    }

    private static void assertNoPassword(Cli.Result r, String pw) {
        assertFalse(r.out().contains(pw), r.toString());
        assertFalse(r.err().contains(pw), r.toString());
    }

    @Test
    void createdByVdReadByQemuAndBack() throws Exception {
        Tools.require("qemu-img");
        Tools.require("qemu-io");
        Path pw = pwFile("pw", PASS + "\n");
        Path img = dir.resolve("x.luks");
        Cli.Result c = Cli.vd("create", "-f", "luks", "-o", "luks-version=1,iter-time=10", "--password-file", pw,
                img, "2M");
        assertEquals(0, c.exit(), c.toString());
        assertNoPassword(c, PASS);
        String object = "secret,id=s0,data=" + PASS;
        String opts = "driver=luks,key-secret=s0,file.filename=" + img;
        Tools.run("qemu-io", "--object", object, "--image-opts", opts, "-c", "write -P 0xcd 4096 64k");
        Path ours = dir.resolve("ours.raw");
        Cli.Result v = Cli.vd("convert", "--password-file", pw, img, ours);
        assertEquals(0, v.exit(), v.toString());
        Path theirs = dir.resolve("theirs.raw");
        Tools.run("qemu-img", "convert", "--object", object, "--image-opts", opts, "-O", "raw",
                theirs.toString());
        assertArrayEquals(Files.readAllBytes(theirs), Files.readAllBytes(ours));
        assertEquals((byte) 0xcd, Files.readAllBytes(ours)[4096]);
        Cli.Result info = Cli.vd("info", "--json", "--password-file", pw, img);
        assertEquals(0, info.exit(), info.toString());
        assertTrue(info.out().contains("\"luks-version\": 1"), info.out());
    }

    @Test
    void anEncryptedQcow2CreatedByVdOpensInQemu() throws Exception {
        Tools.require("qemu-img");
        Path pw = pwFile("pw", PASS + "\n");
        Path img = dir.resolve("e.qcow2");
        Cli.Result c = Cli.vd("create", "-f", "qcow2", "-o", "encrypt.format=luks,encrypt.iter-time=10",
                "--password-file", pw, img, "1M");
        assertEquals(0, c.exit(), c.toString());
        String opts = "driver=qcow2,encrypt.key-secret=s0,file.filename=" + img;
        Tools.run("qemu-img", "check", "--object", "secret,id=s0,data=" + PASS, "--image-opts", opts);
        Cli.Result info = Cli.vd("info", "--password-file", pw, img);
        assertEquals(0, info.exit(), info.toString());
        // the LUKS header's clusters are referenced (by the encryption header extension), not leaked
        Cli.Result check = Cli.vd("check", "--password-file", pw, img);
        assertEquals(0, check.exit(), check.toString());
        Cli.Result bad = Cli.vd("info", "--password-file", pwFile("bad", "x"), img);
        assertEquals(java.util.List.of("vd: qcow2: " + img + ": no key slot opens with this password (1 active slot "
                + "tried)"), bad.errLines());
    }

    @Test
    void aWrongPasswordIsOneLineEvenWithVerboseAndNeverShowsAPassword() throws IOException {
        Path pw = pwFile("pw", PASS);
        Path img = dir.resolve("y.luks");
        assertEquals(0, Cli.vd("create", "-f", "luks", "-o", "pbkdf=pbkdf2,iter-time=10", "--password-file", pw, img,
                "1M").exit());
        String wrong = "not-the-password-42";
        Path bad = pwFile("bad", wrong + "\n");
        Cli.Result r = Cli.vd("info", "--password-file", bad, img);
        assertEquals(1, r.exit(), r.toString());
        assertEquals(java.util.List.of("vd: luks: " + img + ": no key slot opens with this password (1 active slot "
                + "tried)"), r.errLines());
        assertNoPassword(r, wrong);
        Cli.Result verbose = Cli.vd("-v", "info", "--password-file", bad, img);
        assertEquals(1, verbose.exit());
        assertNoPassword(verbose, wrong);
        assertNoPassword(verbose, PASS);
        Cli.Result ok = Cli.vd("info", "--password-file", pw, img);
        assertEquals(0, ok.exit(), ok.toString());
        assertNoPassword(ok, PASS);
    }

    @Test
    void withoutAPasswordOrTerminalNothingIsCreatedAndNothingOpens() throws IOException {
        Path img = dir.resolve("z.luks");
        Cli.Result c = Cli.vd("create", "-f", "luks", img, "1M");
        assertEquals(1, c.exit(), c.toString());
        assertTrue(c.err().contains("--password-file"), c.err());
        assertFalse(Files.exists(img));
        Cli.Result missing = Cli.vd("create", "-f", "luks", "--password-file", dir.resolve("nope"), img, "1M");
        assertEquals(1, missing.exit(), missing.toString());
        assertEquals(1, missing.errLines().size(), missing.toString());
        assertFalse(Files.exists(img));
        Path empty = pwFile("empty", "\n");
        Cli.Result e = Cli.vd("create", "-f", "luks", "--password-file", empty, img, "1M");
        assertTrue(e.err().contains("is empty"), e.toString());
    }
}
