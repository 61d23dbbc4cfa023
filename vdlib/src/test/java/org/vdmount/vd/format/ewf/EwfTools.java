package org.vdmount.vd.format.ewf;

import static org.junit.jupiter.api.Assertions.assertEquals;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import java.util.stream.Stream;
import org.vdmount.vd.conformance.ExternalTools;

/**
 * E01 sets made by libewf's own {@code ewfacquire} from patterned raw sources, and read back by
 * {@code ewfexport}: the independent writer and reader the EWF tests compare against.
 */
public final class EwfTools {
    private EwfTools() {
    }

    /** Skips when ewf-tools is absent (CI installs it). */
    public static void assume() {
        ExternalTools.assume("ewfacquire", "ewfexport", "ewfverify");
    }

    /**
     * A source of {@code size} bytes: random stretches (incompressible), zero stretches and a
     * repeating pattern, so that compressed sets mix compressed and stored chunks.
     */
    public static byte[] pattern(int size, long seed) {
        Random r = new Random(seed);
        byte[] b = new byte[size];
        int pos = 0;
        while (pos < size) {
            int n = Math.min(size - pos, 4096 + r.nextInt(200_000));
            switch (r.nextInt(3)) {
                case 0 -> {
                    byte[] x = new byte[n];
                    r.nextBytes(x);
                    System.arraycopy(x, 0, b, pos, n);
                }
                case 1 -> {
                    // zeros
                }
                default -> {
                    for (int i = 0; i < n; i++) {
                        b[pos + i] = (byte) ((pos + i) * 31 + ((pos + i) >> 10));
                    }
                }
            }
            pos += n;
        }
        return b;
    }

    /**
     * Runs {@code ewfacquire -u} on {@code source} into {@code dir/stem.E01 ...}; {@code compression}
     * as ewfacquire takes it (none, fast, best, empty-block); returns the first segment.
     */
    public static Path acquire(Path source, Path dir, String stem, long segmentBytes, String compression,
                               int sectorsPerChunk, int bytesPerSector, String... extra) throws IOException {
        List<String> cmd = new ArrayList<>(List.of("ewfacquire", "-u", "-q", "-t", dir.resolve(stem).toString(),
                "-S", Long.toString(segmentBytes), "-c", "deflate:" + compression, "-b", Integer.toString(sectorsPerChunk),
                "-P", Integer.toString(bytesPerSector), "-d", "sha1"));
        cmd.addAll(List.of(extra));
        cmd.add(source.toString());
        ExternalTools.Result r = ExternalTools.exec(dir, cmd.toArray(String[]::new));
        assertEquals(0, r.exit(), String.join(" ", cmd) + " failed: " + r.output());
        return dir.resolve(stem + ".E01");
    }

    /** What {@code ewfexport} reads from the set (raw, to a file; its stdout mode appends a status line). */
    public static byte[] export(Path e01, Path scratch) throws IOException {
        Path target = scratch.resolve("export-" + System.nanoTime());
        ExternalTools.Result r = ExternalTools.exec(scratch, "ewfexport", "-u", "-q", "-f", "raw", "-t",
                target.toString(), e01.toString());
        assertEquals(0, r.exit(), "ewfexport failed: " + r.output());
        Path raw = target.resolveSibling(target.getFileName() + ".raw");
        byte[] b = Files.readAllBytes(raw);
        Files.delete(raw);
        Files.deleteIfExists(target.resolveSibling(target.getFileName() + ".raw.info"));
        return b;
    }

    /** The segment files of the set, in name order. */
    public static List<Path> segments(Path e01) throws IOException {
        String stem = e01.getFileName().toString().replaceAll("\\.[Ee]01$", "");
        try (Stream<Path> s = Files.list(e01.getParent())) {
            return s.filter(p -> p.getFileName().toString().matches("\\Q" + stem + "\\E\\.[Ee][0-9A-Za-z]{2}"))
                    .sorted().toList();
        }
    }
}
