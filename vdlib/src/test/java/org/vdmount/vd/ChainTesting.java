package org.vdmount.vd;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import org.vdmount.vd.format.qcow2.QemuTools;

/** Helpers for chain tests: qemu-built layers with patterns and qemu's view of them (comparisons: the kit's DiskBytes). */
final class ChainTesting {
    static final int KIB = 1024;
    static final int MIB = 1024 * KIB;

    private ChainTesting() {
    }

    /** QEMU's driver name for one of our format names. */
    static String qemuName(String ours) {
        return "vhd".equals(ours) ? "vpc" : ours;
    }

    static String extension(String ours) {
        return "raw".equals(ours) ? "img" : ours;
    }

    /**
     * qemu-io commands that put patterns into one layer: unaligned, overlapping writes (pattern
     * 0xNN distinct per layer and write), unaligned zero writes and one cluster-aligned
     * {@code write -z} (a zero cluster where the format has them).
     */
    static String[] patternCommands(Random rnd, long size, int layer, boolean zeros) {
        List<String> cmds = new ArrayList<>();
        int writes = 6;
        for (int i = 0; i < writes; i++) {
            long len = 1 + rnd.nextInt(i == 0 ? 300 * KIB : 90 * KIB);
            long off = (long) (rnd.nextDouble() * (size - len));
            int pattern = 0x10 * (layer + 1) + i + 1;
            cmds.add("write -P 0x" + Integer.toHexString(pattern & 0xFF) + " " + off + " " + len);
        }
        // the last sector and the first byte: ends of the disk
        cmds.add("write -P 0x" + Integer.toHexString((0x10 * (layer + 1) + 9) & 0xFF) + " " + (size - 700) + " 700");
        if (zeros) {
            long len = 1 + rnd.nextInt(20 * KIB);
            cmds.add("write -z " + (long) (rnd.nextDouble() * (size - len)) + " " + len);
            long cluster = 64 * KIB;
            long c = (long) (rnd.nextDouble() * (size / cluster - 1)) * cluster;
            cmds.add("write -z " + c + " " + cluster);
        }
        return cmds.toArray(new String[0]);
    }

    /** qemu-io on one image of our format {@code fmt}. */
    static void qemuIo(Path dir, String fmt, Path image, String... commands) throws IOException {
        QemuTools.io(dir, qemuName(fmt), image.toString(), commands);
    }

    /**
     * The bytes qemu-img sees through {@code image} of our format {@code fmt} (it follows backing
     * files itself). The format is named: qemu probes a fixed VHD as raw (no footer copy at 0).
     */
    static byte[] qemuRaw(Path image, String fmt) throws IOException {
        Path dir = image.getParent();
        Path raw = Files.createTempFile(dir, "oracle", ".raw");
        Files.delete(raw);
        QemuTools.img(dir, "convert", "-f", qemuName(fmt), "-O", "raw", image.toString(), raw.toString());
        byte[] b = Files.readAllBytes(raw);
        Files.delete(raw);
        return b;
    }
}
