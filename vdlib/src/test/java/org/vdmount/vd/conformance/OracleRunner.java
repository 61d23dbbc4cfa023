package org.vdmount.vd.conformance;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.Assumptions;

/** Runs an {@link Oracle} over a chain the kit wrote. */
public final class OracleRunner {
    private OracleRunner() {
    }

    /**
     * Checks the chain {@code layers} (paths, base first) whose top must read as {@code model}.
     * Aborts the test (skipped, with the reason) when the oracle is {@link Oracle.Kind#NONE} or
     * its tool is not usable here.
     */
    public static void verify(Oracle oracle, List<Path> layers, byte[] model) throws IOException {
        String notChecked = check(oracle, layers, model);
        Assumptions.assumeTrue(notChecked == null, () -> "no external oracle: " + notChecked);
    }

    /**
     * Checks like {@link #verify} but, when nobody can check, returns why instead of aborting
     * (for tests whose own assertions stand without the oracle). Null when checked.
     */
    public static String check(Oracle oracle, List<Path> layers, byte[] model) throws IOException {
        Path top = layers.get(layers.size() - 1);
        switch (oracle.kind()) {
            case NONE -> {
                return oracle.reason();
            }
            case QEMU -> {
                if (!ExternalTools.has("qemu-img")) {
                    return "qemu-img is not installed";
                }
                qemu(oracle, layers, top, model);
            }
            case LIBVHDI -> {
                if (!ExternalTools.has("vhdimount") || !ExternalTools.fuseUsable()) {
                    return "vhdimount or FUSE (fusermount, /dev/fuse) is not usable here";
                }
                vhdimount(top, layers.size(), model);
            }
        }
        return null;
    }

    private static void qemu(Oracle oracle, List<Path> layers, Path top, byte[] model) throws IOException {
        Path dir = top.getParent();
        if (oracle.check()) {
            for (Path layer : layers) {
                ExternalTools.Result r = ExternalTools.exec(dir, "qemu-img", "check", "-f", oracle.driver(),
                        layer.toString());
                assertEquals(0, r.exit(), "qemu-img check -f " + oracle.driver() + " " + layer.getFileName()
                        + " exited " + r.exit() + ":\n" + r.output());
            }
        }
        Path raw = DiskBytes.writeRaw(dir.resolve("oracle-model.raw"), model);
        try {
            ExternalTools.Result r = ExternalTools.exec(dir, "qemu-img", "compare", "-f", oracle.driver(), "-F", "raw",
                    top.toString(), raw.toString());
            assertEquals(0, r.exit(), "qemu-img compare -f " + oracle.driver() + " " + top.getFileName()
                    + " with the model exited " + r.exit() + ":\n" + r.output());
        } finally {
            Files.deleteIfExists(raw);
        }
    }

    /** vhdimount shows one file per layer, base first: {@code vhdi<layers>} is the top's view. */
    private static void vhdimount(Path top, int layers, byte[] model) throws IOException {
        Path mnt = Files.createTempDirectory(top.getParent(), "vhdimount");
        ExternalTools.run(top.getParent(), "vhdimount", top.toString(), mnt.toString());
        try {
            Path view = mnt.resolve("vhdi" + layers);
            for (int i = 0; i < 100 && !Files.exists(view); i++) {
                Thread.sleep(50);
            }
            assertTrue(Files.exists(view), "vhdimount shows no " + view.getFileName() + " for " + top.getFileName());
            DiskBytes.assertSame(model, Files.readAllBytes(view), "vhdimount of " + top.getFileName());
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IOException(e);
        } finally {
            ExternalTools.exec(top.getParent(), "fusermount", "-u", mnt.toString());
            Files.deleteIfExists(mnt);
        }
    }
}
