package org.vdmount.mount.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** Every failure: non-zero exit, exactly one stderr line starting with "vd: ", no stack trace. */
class ErrorsTest {
    @TempDir
    Path dir;
    Path img;
    Path existing;
    Path missing;
    Path out;

    @BeforeEach
    void setUp() throws Exception {
        img = dir.resolve("img.raw");
        Files.write(img, new byte[1 << 20]);
        existing = dir.resolve("existing.raw");
        Files.write(existing, new byte[512]);
        missing = dir.resolve("missing.raw");
        out = dir.resolve("out.raw");
    }

    /** args → expected exit status (2 usage error, 1 failure) and a fragment of the message. */
    private Map<List<Object>, String> cases() {
        Map<List<Object>, String> m = new java.util.LinkedHashMap<>();
        m.put(List.of(2), "missing command");
        m.put(List.of(2, "bogus"), "unknown command 'bogus' (commands: info, convert, create, formats, "); // more verbs follow
        m.put(List.of(2, "info"), "Missing required parameter: 'IMAGE'");
        m.put(List.of(2, "info", "--bogus", img), "Unknown option: '--bogus'");
        m.put(List.of(2, "info", img, img), "Unmatched argument");
        m.put(List.of(1, "info", missing), missing + ": no such file or directory");
        m.put(List.of(1, "info", dir), dir + ": is a directory, not a disk image");
        m.put(List.of(1, "--parent-dir", missing, "info", img), missing + ": no such file or directory");
        m.put(List.of(1, "info", "--parent-dir", img, img), img + ": no such file or directory");
        m.put(List.of(2, "convert", img), "Missing required parameter: 'DST'");
        m.put(List.of(1, "convert", missing, out), missing + ": no such file or directory");
        m.put(List.of(1, "convert", "-O", "nosuch", img, out), "unknown format 'nosuch' (known: ");
        m.put(List.of(1, "convert", img, existing), existing + ": already exists (add --overwrite");
        m.put(List.of(1, "convert", "--overwrite", img, dir), dir + ": not a regular file, not replaced");
        m.put(List.of(2, "convert", "-o", "novalue", img, out), "invalid format option 'novalue' (expected KEY=VALUE)");
        m.put(List.of(2, "convert", "-o", "=1", img, out), "invalid format option '=1'");
        m.put(List.of(2, "convert", "-o", "a=1", "-o", "a=2", img, out), "format option 'a' given twice");
        m.put(List.of(1, "convert", img, dir.resolve("no/such/dir/x.raw")), "no such file or directory");
        m.put(List.of(2, "create", img, "1M"), "Missing required option: '-f=FORMAT'");
        m.put(List.of(2, "create", "-f", "raw", out), "SIZE is required without -b BACKING");
        m.put(List.of(1, "create", "-f", "raw", out, "12Q"), "invalid size '12Q'");
        m.put(List.of(1, "create", "-f", "raw", out, "1.5"), "invalid size '1.5'");
        m.put(List.of(1, "create", "-f", "raw", out, "-5"), "invalid size '-5'");
        m.put(List.of(1, "create", "-f", "nosuch", out, "1M"), "unknown format 'nosuch'");
        m.put(List.of(1, "create", "-f", "raw", existing, "1M"), existing + ": already exists");
        m.put(List.of(1, "create", "-f", "raw", "-b", img, out), "raw: images of this format cannot have a backing");
        m.put(List.of(2, "create", "-f", "raw", "-F", "raw", out, "1M"), "-F needs -b BACKING");
        m.put(List.of(2, "create", "-f", "raw", "-o", "x", out, "1M"), "invalid format option 'x'");
        m.put(List.of(1, "create", "-f", "raw", "-o", "preallocation=maybe", out, "1M"),
                "raw: preallocation must be one of off, falloc, full, not 'maybe'");
        return m;
    }

    @Test
    void everyFailureIsOneLineWithoutStackTrace() throws Exception {
        List<String> problems = new ArrayList<>();
        for (Map.Entry<List<Object>, String> c : cases().entrySet()) {
            int expectedExit = (Integer) c.getKey().get(0);
            Object[] args = c.getKey().subList(1, c.getKey().size()).toArray();
            Cli.Result r = Cli.vd(args);
            List<String> lines = r.errLines();
            boolean ok = r.exit() == expectedExit && lines.size() == 1 && lines.get(0).startsWith("vd: ")
                    && lines.get(0).contains(c.getValue()) && r.out().isEmpty()
                    && !r.err().contains("Exception") && !r.err().contains("\tat ");
            if (!ok) {
                problems.add(List.of(args) + " -> " + r);
            }
            assertFalse(Files.exists(out), "no output left behind by " + List.of(args));
        }
        assertTrue(problems.isEmpty(), String.join("\n\n", problems));
    }

    @Test
    void verboseAddsTheStackTraceAfterTheLine() {
        for (Object[] args : List.of(new Object[] {"-v", "info", missing}, new Object[] {"info", "--verbose", missing})) {
            Cli.Result r = Cli.vd(args);
            assertEquals(1, r.exit());
            assertEquals("vd: " + missing + ": no such file or directory", r.errLines().get(0));
            assertTrue(r.errLines().size() > 2 && r.err().contains("NoSuchFileException"), r.toString());
        }
    }

    @Test
    void helpAndVersionSucceedOnStdout() {
        Cli.Result v = Cli.vd("--version");
        assertEquals(0, v.exit());
        assertTrue(v.out().matches("vd \\d+\\.\\d+\\.\\d+(-SNAPSHOT)?\n"), v.out());
        for (Object[] args : List.of(new Object[] {"--help"}, new Object[] {"-h"}, new Object[] {"info", "--help"},
                new Object[] {"convert", "-h"}, new Object[] {"create", "--help"})) {
            Cli.Result r = Cli.vd(args);
            assertEquals(0, r.exit(), r.toString());
            assertTrue(r.out().startsWith("Usage: vd"), r.out());
            assertEquals("", r.err());
        }
        assertTrue(Cli.vd("create", "--help").out().contains("-b BACKING"));
        assertTrue(Cli.vd("convert", "--help").out().contains("--overwrite"));
    }
}
