package org.vdmount.vd.storage;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.BufferedReader;
import java.io.InputStreamReader;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.vdmount.vd.CreateOptions;
import org.vdmount.vd.Image;
import org.vdmount.vd.VdException;
import org.vdmount.vd.format.qcow2.Qcow2Format;

/** One writer per file: a second writable open fails in one line; readers and qemu-img are not blocked. */
class WriterLockTest {
    @TempDir
    Path dir;

    @Test
    void aSecondWriterInThisProcessIsRefusedUntilTheFirstCloses() throws Exception {
        Path f = Files.write(dir.resolve("a.img"), new byte[4096]);
        try (FileStorage w = FileStorage.open(f, false)) {
            VdException e = assertThrows(VdException.class, () -> FileStorage.open(f, false));
            assertEquals(f + ": already opened for writing by this process", e.getMessage());
            try (FileStorage r = FileStorage.open(f, true)) {
                assertEquals(4096, r.size(), "readers take no lock");
            }
        }
        FileStorage.open(f, false).close();
    }

    @Test
    void aWriterInAnotherProcessIsRespected() throws Exception {
        Assumptions.assumeTrue(onPath("python3"), "python3 absent");
        Path f = Files.write(dir.resolve("b.img"), new byte[4096]);
        // python's lockf is the same POSIX record lock (fcntl F_SETLK) Java takes
        Process holder = new ProcessBuilder("python3", "-c", "import fcntl,sys,time\n"
                + "f=open(sys.argv[1],'r+b')\n"
                + "fcntl.lockf(f, fcntl.LOCK_EX|fcntl.LOCK_NB, 1, " + FileStorage.WRITER_LOCK_BYTE + ", 0)\n"
                + "print('locked', flush=True)\ntime.sleep(60)\n", f.toString()).redirectErrorStream(true).start();
        try {
            BufferedReader out = new BufferedReader(new InputStreamReader(holder.getInputStream(), StandardCharsets.UTF_8));
            assertEquals("locked", out.readLine());
            VdException e = assertThrows(VdException.class, () -> FileStorage.open(f, false));
            assertEquals(f + ": in use: another process has it open for writing", e.getMessage());
            FileStorage.open(f, true).close();
        } finally {
            holder.destroyForcibly();
            holder.waitFor(10, TimeUnit.SECONDS);
        }
        FileStorage.open(f, false).close();
    }

    @Test
    void qemuImgCanStillInspectAnImageWeAreWriting() throws Exception {
        Assumptions.assumeTrue(onPath("qemu-img"), "qemu-img absent");
        Path f = dir.resolve("c.qcow2");
        try (Image img = new Qcow2Format().create(f, CreateOptions.of(1 << 20))) {
            Process p = new ProcessBuilder("qemu-img", "info", f.toString()).redirectErrorStream(true).start();
            String text = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
            assertTrue(p.waitFor(60, TimeUnit.SECONDS));
            assertEquals(0, p.exitValue(), text);
            assertTrue(text.contains("file format: qcow2"), text);
        }
    }

    private static boolean onPath(String tool) {
        for (String d : System.getenv().getOrDefault("PATH", "").split(":")) {
            if (Files.isExecutable(Path.of(d, tool))) {
                return true;
            }
        }
        return false;
    }
}
