package org.vdmount.mount.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.vdmount.mount.fuse.TestBindings;

/**
 * Command-line failures that never reach FUSE: one line on stderr, the right status. The test
 * bindings of {@link TestBindings} stand in for a real transport.
 */
class VdmountMainTest {
    @TempDir
    Path dir;

    private String[] lines;

    private int run(String... args) {
        ByteArrayOutputStream buf = new ByteArrayOutputStream();
        int rc = VdmountMain.run(args, new PrintStream(buf, true, StandardCharsets.UTF_8));
        lines = buf.toString(StandardCharsets.UTF_8).split("\n");
        return rc;
    }

    /** Runs with stdout captured into {@link #lines} (stderr must stay empty). */
    private int runOut(String... args) {
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        ByteArrayOutputStream err = new ByteArrayOutputStream();
        int rc = VdmountMain.run(args, new PrintStream(out, true, StandardCharsets.UTF_8),
                new PrintStream(err, true, StandardCharsets.UTF_8));
        assertEquals("", err.toString(StandardCharsets.UTF_8));
        lines = out.toString(StandardCharsets.UTF_8).split("\n");
        return rc;
    }

    @Test
    void usageErrorsAreOneLine() {
        assertEquals(2, run("only-one"));
        assertEquals(1, lines.length);
        assertTrue(lines[0].startsWith("vdmount: "), lines[0]);
        assertEquals(2, run("--nope", "a", "b"));
        assertEquals(1, lines.length);
    }

    /** vdmount -u: one MOUNTPOINT, which must be a vdmount mount; each refusal is one line. */
    @Test
    void unmountRefusesWhatItCannotUnmountInOneLine() throws Exception {
        Path mnt = Files.createDirectory(dir.resolve("mnt"));
        assertEquals(2, run("-u"));
        assertEquals(List.of("vdmount: -u takes one MOUNTPOINT (see vdmount --help)"), List.of(lines));
        assertEquals(2, run("-u", "a", mnt.toString()));
        assertEquals(1, lines.length);
        assertEquals(2, run("-u", "--rw", mnt.toString()));
        assertEquals(List.of("vdmount: -u takes no other option than -v (--read-write) (see vdmount --help)"),
                List.of(lines));
        assertEquals(1, run("-u", mnt.toString()));
        assertEquals(List.of("vdmount: " + mnt.toRealPath() + ": not mounted"), List.of(lines));
        assertEquals(1, run("--unmount", dir.resolve("absent").toString()));
        assertEquals(List.of("vdmount: " + dir.resolve("absent") + ": no such directory"), List.of(lines));
        assertEquals(1, run("-u", "/proc"));
        assertEquals(List.of("vdmount: /proc: not a vdmount mount (proc); use umount"), List.of(lines));
    }

    @Test
    void missingImageIsOneLineWithoutStackTrace() throws Exception {
        Path mnt = Files.createDirectory(dir.resolve("mnt"));
        assertEquals(1, run("-f", dir.resolve("missing.vdi").toString(), mnt.toString()));
        assertEquals(1, lines.length);
        assertEquals("vdmount: " + dir.resolve("missing.vdi") + ": no such file or directory", lines[0]);
    }

    @Test
    void missingMountpointIsOneLine() throws Exception {
        Path img = Files.write(dir.resolve("a.raw"), new byte[4096]);
        assertEquals(1, run("-f", img.toString(), dir.resolve("nomnt").toString()));
        assertEquals(1, lines.length);
        assertEquals("vdmount: mountpoint " + dir.resolve("nomnt") + " does not exist (create it first: mkdir -p "
                + dir.resolve("nomnt") + ")", lines[0]);
    }

    @Test
    void anUnknownFuseBindingIsOneLineBeforeAnythingStarts() {
        // without -f: refused before the daemon is spawned
        assertEquals(2, run("--fuse", "fast", dir.resolve("a.raw").toString(), dir.resolve("mnt").toString()));
        assertEquals(List.of("vdmount: unknown FUSE binding 'fast' (known: test-missing, kernel, jnr, test)"), List.of(lines));
    }

    @Test
    void aNamedBindingThatCannotRunSaysWhatIsMissing() throws Exception {
        Path img = Files.write(dir.resolve("a.raw"), new byte[4096]);
        Path mnt = Files.createDirectory(dir.resolve("mnt"));
        assertEquals(1, run("-f", "--fuse", "test-missing", img.toString(), mnt.toString()));
        assertEquals(List.of("vdmount: FUSE binding 'test-missing' is not available: "
                + TestBindings.Missing.REASON), List.of(lines));
    }

    @Test
    void theNamedBindingMountsWithItsOwnOptions() throws Exception {
        Path img = Files.write(dir.resolve("a.raw"), new byte[4096]);
        Path mnt = Files.createDirectory(dir.resolve("mnt"));
        TestBindings.SERVED.clear();
        assertEquals(1, run("-f", "--fuse", "test", "-o", "allow_other", img.toString(), mnt.toString()));
        assertEquals(List.of("vdmount: mount on " + mnt + " failed (FUSE binding test ended with status "
                + TestBindings.STATUS + ")"), List.of(lines));
        assertEquals(List.of(List.of("fsname=" + img, "subtype=vdmount", "test_option=1", "default_permissions",
                "auto_unmount", "ro", "allow_other")), TestBindings.SERVED, "no jnr option such as big_writes");
    }

    @Test
    void formatNamesTheImagesFormatInsteadOfTheProbe() throws Exception {
        Path img = Files.write(dir.resolve("a.raw"), new byte[4096]);
        Path mnt = Files.createDirectory(dir.resolve("mnt"));
        assertEquals(1, run("-f", "--format", "qcow2", "--fuse", "test", img.toString(), mnt.toString()));
        assertEquals(1, lines.length, List.of(lines).toString());
        assertTrue(lines[0].startsWith("vdmount: ") && lines[0].contains(img.toString())
                && lines[0].contains("qcow2"), lines[0]);
        TestBindings.SERVED.clear();
        assertEquals(1, run("-f", "--format", "vpc", "--fuse", "test", img.toString(), mnt.toString()));
        assertTrue(lines[0].contains("vhd"), "vpc is vhd: " + lines[0]);
        assertEquals(1, run("-f", "--format", "raw", "--fuse", "test", img.toString(), mnt.toString()));
        assertEquals(List.of("vdmount: mount on " + mnt + " failed (FUSE binding test ended with status "
                + TestBindings.STATUS + ")"), List.of(lines), "opened as raw, then the test binding ends");
    }

    @Test
    void versionListsTheBindingsAndHelpTheOption() {
        assertEquals(0, runOut("--version"));
        assertEquals("vdmount " + VdmountMain.VERSION, lines[0]);
        String all = String.join("\n", lines);
        assertTrue(all.contains("  test-missing  needs a library no host has  [not available: "
                + TestBindings.Missing.REASON + "]"), all);
        assertTrue(all.matches("(?s).*\n  jnr  jnr-fuse .*\n  test  test binding test  \\[available\\]"), all);
        assertEquals(0, runOut("--help"));
        assertTrue(String.join("\n", lines).contains("--fuse NAME"), String.join("\n", lines));
    }
}
