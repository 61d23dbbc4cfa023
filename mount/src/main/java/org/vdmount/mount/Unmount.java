package org.vdmount.mount;

import java.io.IOException;
import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/** Unmounting a FUSE mount from inside the daemon: fusermount -u, lazily (-z) when busy. */
final class Unmount {
    private static final Logger LOG = LoggerFactory.getLogger(Unmount.class);

    private Unmount() {
    }

    static void unmount(Path mountpoint) {
        String mp = mountpoint.toAbsolutePath().toString();
        for (List<String> cmd : List.of(
                List.of("fusermount", "-u", mp), List.of("fusermount3", "-u", mp),
                List.of("fusermount", "-u", "-z", mp), List.of("fusermount3", "-u", "-z", mp),
                List.of("umount", "-l", mp))) {
            if (run(cmd)) {
                return;
            }
        }
        LOG.warn("could not unmount {}", mp);
    }

    private static boolean run(List<String> cmd) {
        try {
            Process p = new ProcessBuilder(cmd).redirectErrorStream(true)
                    .redirectOutput(ProcessBuilder.Redirect.DISCARD).start();
            if (!p.waitFor(10, TimeUnit.SECONDS)) {
                p.destroyForcibly();
                return false;
            }
            return p.exitValue() == 0;
        } catch (IOException e) {
            return false;
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            return false;
        }
    }
}
