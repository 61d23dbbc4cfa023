package org.vdmount.vd.storage;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStreamReader;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.stream.Collectors;

/**
 * Other processes for lock tests: python3 holding or probing OFD locks byte by byte (independent
 * of vd's own code), and QEMU's tools (qemu-io, qemu-img, qemu-storage-daemon).
 */
public final class LockProcesses {
    private LockProcesses() {
    }

    /** A process started for a test; destroyed on close. */
    public record Held(Process process) implements AutoCloseable {
        @Override
        public void close() throws InterruptedException {
            process.destroyForcibly();
            process.waitFor(20, TimeUnit.SECONDS);
        }
    }

    /** The output and exit status of a finished command. */
    public record Result(int exit, String output) {
    }

    public static boolean onPath(String tool) {
        for (String d : System.getenv().getOrDefault("PATH", "").split(":")) {
            if (!d.isEmpty() && Files.isExecutable(Path.of(d, tool))) {
                return true;
            }
        }
        return false;
    }

    /** python3 holding shared OFD locks on {@code bytes} of {@code file}, as QEMU would, until closed. */
    public static Held pythonHolding(Path file, long... bytes) throws IOException {
        String list = java.util.Arrays.stream(bytes).mapToObj(Long::toString).collect(Collectors.joining(","));
        Process p = new ProcessBuilder("python3", "-c", "import fcntl,os,struct,sys,time\n"
                + "fd=os.open(sys.argv[1], os.O_RDONLY)\n"
                + "for b in [" + list + "]:\n"
                + "    fcntl.fcntl(fd, 37, struct.pack('hhqqi4x', 0, 0, b, 1, 0))\n"
                + "print('locked', flush=True)\ntime.sleep(120)\n", file.toString()).redirectErrorStream(true).start();
        BufferedReader out = new BufferedReader(new InputStreamReader(p.getInputStream(), StandardCharsets.UTF_8));
        assertEquals("locked", out.readLine(), "python3 failed to lock");
        return new Held(p);
    }

    /**
     * The bytes among 100..103 and 200..203 of {@code file} that some description other than a
     * fresh one of python3 has locked (F_OFD_GETLK asking for an exclusive lock, byte by byte).
     */
    public static List<Long> lockedBytes(Path file) throws IOException, InterruptedException {
        Result r = run(List.of("python3", "-c", "import fcntl,os,struct,sys\n"
                + "fd=os.open(sys.argv[1], os.O_RDONLY)\n"
                + "for b in [100,101,102,103,200,201,202,203]:\n"
                + "    t=struct.unpack('hhqqi4x', fcntl.fcntl(fd, 36, struct.pack('hhqqi4x', 1, 0, b, 1, 0)))[0]\n"
                + "    if t != 2: print(b)\n", file.toString()));
        assertEquals(0, r.exit(), r.output());
        List<Long> out = new ArrayList<>();
        for (String line : r.output().split("\n")) {
            if (!line.isBlank()) {
                out.add(Long.parseLong(line.strip()));
            }
        }
        return out;
    }

    /** Starts {@code command} and waits until byte {@code lockByte} of {@code file} is locked. */
    public static Held startHolding(Path file, long lockByte, String... command) throws Exception {
        Process p = new ProcessBuilder(command).redirectErrorStream(true)
                .redirectOutput(ProcessBuilder.Redirect.DISCARD).start();
        Held h = new Held(p);
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(30);
        while (System.nanoTime() < deadline) {
            if (lockedBytes(file).contains(lockByte)) {
                return h;
            }
            if (!p.isAlive()) {
                h.close();
                fail(String.join(" ", command) + " exited with " + p.exitValue() + " before locking byte " + lockByte);
            }
            Thread.sleep(50);
        }
        h.close();
        fail(String.join(" ", command) + " did not lock byte " + lockByte + " of " + file + " in 30 s");
        return null;
    }

    /** Runs {@code command} to the end (60 s at most). */
    public static Result run(List<String> command) throws IOException, InterruptedException {
        Process p = new ProcessBuilder(command).redirectErrorStream(true).start();
        String text = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        assertTrue(p.waitFor(60, TimeUnit.SECONDS), String.join(" ", command) + " hangs");
        return new Result(p.exitValue(), text);
    }
}
