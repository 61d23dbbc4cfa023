package org.vdmount.vd.crash;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;

/** {@code qemu-img} as the independent oracle of the crash campaign. */
final class QemuImg {
    private static Boolean available;

    private QemuImg() {
    }

    record Result(int exit, String output) {
    }

    static synchronized boolean available() {
        if (available == null) {
            try {
                available = run("--version").exit() == 0;
            } catch (IOException e) {
                available = false;
            }
        }
        return available;
    }

    static Result run(String... args) throws IOException {
        List<String> cmd = new ArrayList<>();
        cmd.add("qemu-img");
        cmd.addAll(List.of(args));
        Process p = new ProcessBuilder(cmd).redirectErrorStream(true).start();
        try {
            String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8).strip();
            if (!p.waitFor(60, TimeUnit.SECONDS)) {
                p.destroyForcibly();
                throw new IOException("qemu-img " + String.join(" ", args) + ": no answer in 60 s");
            }
            return new Result(p.exitValue(), out);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IOException("interrupted", e);
        }
    }
}
