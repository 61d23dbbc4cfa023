package org.vdmount.mount;

import static org.junit.jupiter.api.Assertions.assertEquals;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.vdmount.mount.fuse.FuseOps;
import org.vdmount.vd.OpenOptions;

/**
 * SEEK_DATA / SEEK_HOLE of {@link VdFileSystem#lseek} against {@code qemu-img map} of the same
 * chain: the data extents found by alternating the two seeks are exactly qemu's "data": true runs,
 * including a zero cluster in the top layer that hides data of its backing file.
 */
class VdFileSystemSeekTest {
    private static final long MIB = 1 << 20;
    private static final Pattern RUN = Pattern.compile(
            "\"start\": (\\d+), \"length\": (\\d+),[^}]*\"data\": (true|false)");

    @TempDir
    Path dir;
    private Volume volume;

    @AfterEach
    void close() throws IOException {
        if (volume != null) {
            volume.close();
        }
    }

    @Test
    void dataAndHolesAreQemusMap() throws Exception {
        Assumptions.assumeTrue(run("qemu-img", "--version") != null, "qemu-img absent");
        Path base = dir.resolve("base.qcow2");
        Path top = dir.resolve("top.qcow2");
        run("qemu-img", "create", "-q", "-f", "qcow2", base.toString(), "8M");
        run("qemu-io", "-f", "qcow2", "-c", "write -P 1 1M 512k", "-c", "write -P 2 6M 64k", base.toString());
        run("qemu-img", "create", "-q", "-f", "qcow2", "-b", base.toString(), "-F", "qcow2", top.toString());
        run("qemu-io", "-f", "qcow2", "-c", "write -P 3 0 64k", "-c", "write -z 1M 128k",
                "-c", "write -P 4 3M 192k", "-c", "write -P 5 8323072 65536", top.toString());
        volume = Volume.open(top, null, new OpenOptions(true, List.of(), false, false, null), null);
        VdFileSystem fs = new VdFileSystem(List.of(volume), List.of("top"), true, 0, 0);
        long h = fs.open("/disk", 0);
        long size = 8 * MIB;

        List<long[]> ours = new ArrayList<>();
        long pos = 0;
        while (true) {
            long d = fs.lseek(h, pos, FuseOps.SEEK_DATA);
            if (d == -Errno.ENXIO) {
                break;
            }
            long hole = fs.lseek(h, d, FuseOps.SEEK_HOLE);
            ours.add(new long[] {d, hole});
            pos = hole;
            if (pos >= size) {
                break;
            }
        }
        assertEquals(render(qemuData(top)), render(ours));
        assertEquals(-Errno.ENXIO, fs.lseek(h, size, FuseOps.SEEK_HOLE), "at the end");
        assertEquals(-Errno.ENXIO, fs.lseek(h, -1, FuseOps.SEEK_DATA));
        assertEquals(size, fs.lseek(h, size - 1, FuseOps.SEEK_HOLE), "the end is a hole");
        assertEquals(-Errno.EINVAL, fs.lseek(h, 0, 0 /* SEEK_SET: the kernel's own */));
        assertEquals(-Errno.EBADF, fs.lseek(99, 0, FuseOps.SEEK_DATA));
    }

    /** qemu-img map's data runs, adjacent ones merged. */
    private static List<long[]> qemuData(Path image) throws Exception {
        String json = run("qemu-img", "map", "--output=json", image.toString());
        List<long[]> out = new ArrayList<>();
        Matcher m = RUN.matcher(json);
        while (m.find()) {
            if (!m.group(3).equals("true")) {
                continue;
            }
            long start = Long.parseLong(m.group(1));
            long end = start + Long.parseLong(m.group(2));
            if (!out.isEmpty() && out.get(out.size() - 1)[1] == start) {
                out.get(out.size() - 1)[1] = end;
            } else {
                out.add(new long[] {start, end});
            }
        }
        return out;
    }

    private static String render(List<long[]> runs) {
        StringBuilder b = new StringBuilder();
        for (long[] r : runs) {
            b.append(r[0]).append('-').append(r[1]).append(' ');
        }
        return b.toString();
    }

    /** Output of a tool that must succeed; null when it cannot be started. */
    private static String run(String... cmd) throws IOException, InterruptedException {
        Process p;
        try {
            p = new ProcessBuilder(cmd).redirectErrorStream(true).start();
        } catch (IOException e) {
            return null;
        }
        String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        if (!p.waitFor(60, TimeUnit.SECONDS) || p.exitValue() != 0) {
            throw new IOException(String.join(" ", cmd) + " failed: " + out);
        }
        return out;
    }
}
