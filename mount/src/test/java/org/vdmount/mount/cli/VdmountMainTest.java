package org.vdmount.mount.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** Command-line failures that never reach FUSE: one line on stderr, the right status. */
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

    @Test
    void usageErrorsAreOneLine() {
        assertEquals(2, run("only-one"));
        assertEquals(1, lines.length);
        assertTrue(lines[0].startsWith("vdmount: "), lines[0]);
        assertEquals(2, run("--nope", "a", "b"));
        assertEquals(1, lines.length);
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
        assertTrue(lines[0].contains("nomnt: no such file or directory"), lines[0]);
    }
}
