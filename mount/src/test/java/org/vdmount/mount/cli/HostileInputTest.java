package org.vdmount.mount.cli;

import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;
import org.junit.jupiter.api.io.TempDir;

/**
 * Randomly corrupted images (seeded) through vd info and vd convert: each run either succeeds
 * (perhaps with "vd: warning: " lines) or fails with exactly one "vd: " line that is not an
 * internal error, and a failed convert leaves no output.
 */
class HostileInputTest {
    private static final int ROUNDS = 100;

    @TempDir
    Path dir;

    @ParameterizedTest
    @ValueSource(strings = {"vdi", "vhd"})
    void corruptedImagesGiveOneLineErrors(String fmt) throws Exception {
        Tools.require("qemu-io");
        String q = InfoTest.qemuName(fmt);
        Path pristine = dir.resolve("pristine." + fmt);
        Tools.run("qemu-img", "create", "-q", "-f", q, pristine.toString(), "4M");
        Tools.run("qemu-io", "-f", q, "-c", "write -P 0x55 1M 1M", "-c", "write -P 0x66 3M 4k", pristine.toString());
        byte[] original = Files.readAllBytes(pristine);
        // the structures live in the first 8 KiB (header, tables) and the last 512 bytes (footer)
        int headLen = Math.min(original.length, 8192);
        Random r = new Random(20_240_601L);
        Path victim = dir.resolve("victim." + fmt);
        Path out = dir.resolve("out.raw");
        List<String> problems = new ArrayList<>();
        int succeeded = 0;
        for (int round = 0; round < ROUNDS; round++) {
            byte[] b = original.clone();
            int flips = 1 + r.nextInt(8);
            for (int i = 0; i < flips; i++) {
                int pos = r.nextBoolean() ? r.nextInt(headLen) : b.length - 1 - r.nextInt(512);
                b[pos] = r.nextInt(4) == 0 ? (byte) 0xff : (byte) r.nextInt(256);
            }
            if (round % 10 == 9) {
                b = java.util.Arrays.copyOf(b, r.nextInt(b.length)); // truncated
            }
            Files.write(victim, b);
            for (Object[] args : List.of(new Object[] {"info", "--json", victim}, new Object[] {"convert", victim, out})) {
                Cli.Result res = Cli.vd(args);
                boolean ok = res.exit() == 0 && res.errLines().stream().allMatch(l -> l.startsWith("vd: warning: "))
                        || res.exit() == 1 && res.errLines().size() == 1 && res.err().startsWith("vd: ")
                        && !res.err().contains("internal error");
                if (!ok) {
                    problems.add("round " + round + " " + List.of(args) + ": " + res);
                }
                if (res.exit() == 0 && args[0].equals("convert")) {
                    succeeded++;
                }
                if (res.exit() != 0 && Files.exists(out)) {
                    problems.add("round " + round + ": failed convert left " + out);
                }
                Files.deleteIfExists(out);
            }
        }
        assertTrue(problems.isEmpty(), problems.size() + " problems:\n" + String.join("\n", problems.subList(0,
                Math.min(5, problems.size()))));
        assertTrue(succeeded < ROUNDS, "some corruptions must be detected");
    }
}
