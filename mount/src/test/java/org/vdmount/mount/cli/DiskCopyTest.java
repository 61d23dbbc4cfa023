package org.vdmount.mount.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTimeoutPreemptively;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.vdmount.vd.CreateOptions;
import org.vdmount.vd.Disk;
import org.vdmount.vd.FormatRegistry;
import org.vdmount.vd.Image;
import org.vdmount.vd.OpenOptions;

/** The pipelined copy behind {@code vd convert}: any number of workers, one result. */
class DiskCopyTest {
    @TempDir
    Path dir;

    /** Copies {@code src} into a new {@code format} image with {@code workers} chunks in flight. */
    private DiskCopy.Stats copy(Path src, String format, Path dst, int workers, List<Long> progress) throws IOException {
        try (Disk source = Disk.open(src, OpenOptions.defaultReadOnly())) {
            Image created = Creation.create(FormatRegistry.require(format), dst,
                    new CreateOptions(source.size(), Map.of(), null, null));
            try (Disk target = Disk.of(List.of(created))) {
                DiskCopy.Stats stats = DiskCopy.copy(source, target, progress::add, workers);
                target.flush();
                return stats;
            }
        }
    }

    @Test
    void everyWorkerCountGivesTheSameBytesAndTheSameLayout() throws Exception {
        Tools.require("qemu-img");
        long size = (40L << 20) + 777; // ten chunks and a ragged tail
        Path src = ConvertTest.mixedSource(dir.resolve("src.raw"), size, 11, 60);
        for (String format : List.of("raw", "qcow2")) {
            Path first = null;
            long written = -1; // qcow2 writes whole clusters (its fill unit), raw only non-zero 4 KiB grains
            for (int workers : new int[] {1, 2, 3, 4, 8}) {
                Path dst = dir.resolve("w" + workers + "." + format);
                List<Long> progress = Collections.synchronizedList(new ArrayList<>());
                DiskCopy.Stats stats = copy(src, format, dst, workers, progress);
                Tools.run("qemu-img", "compare", "-q", "-f", "raw", "-F", format, src.toString(), dst.toString());
                if (written < 0) {
                    written = stats.bytesWritten();
                }
                assertEquals(written, stats.bytesWritten(), format + " with " + workers + " workers");
                assertTrue(written < size / 2, "zeros are not written: " + written);
                // progress: once per chunk, in order, ending at the size
                assertEquals((size + DiskCopy.CHUNK_BYTES - 1) / DiskCopy.CHUNK_BYTES, progress.size(), progress.toString());
                for (int i = 1; i < progress.size(); i++) {
                    assertEquals(Math.min(size, progress.get(i - 1) + DiskCopy.CHUNK_BYTES), progress.get(i), progress.toString());
                }
                assertEquals(size, progress.get(progress.size() - 1));
                if (first == null) {
                    first = dst;
                } else if (format.equals("qcow2")) {
                    // writes land in chunk order whatever the number of readers: the same file
                    assertEquals(-1, Files.mismatch(first, dst), "qcow2 layout with " + workers + " workers");
                }
            }
            if (format.equals("raw")) {
                assertEquals(-1, Files.mismatch(src, first));
                assertTrue(Tools.allocatedBytes(first) <= ConvertTest.nonZeroGrainBytes(src, 4096) + (64 << 10),
                        "sparse: " + Tools.allocatedBytes(first));
            }
        }
    }

    @Test
    void aFailingWorkerStopsTheOthersAndItsErrorIsThrown() throws Exception {
        Path src = ConvertTest.mixedSource(dir.resolve("f.raw"), 64L << 20, 12, 80);
        for (int workers : new int[] {1, 2, 4}) {
            Path dst = dir.resolve("f" + workers + ".raw");
            List<Long> progress = Collections.synchronizedList(new ArrayList<>());
            try (Disk good = Disk.open(src, OpenOptions.defaultReadOnly());
                 Disk failing = Disk.of(List.of(new FailingImage(good.top(), 21L << 20)));
                 Disk target = Disk.of(List.of(Creation.create(FormatRegistry.require("raw"), dst,
                         new CreateOptions(failing.size(), Map.of(), null, null))))) {
                IOException e = assertTimeoutPreemptively(Duration.ofSeconds(60), () -> assertThrows(IOException.class,
                        () -> DiskCopy.copy(failing, target, progress::add, workers)));
                assertEquals("injected read error at 0x1500000", e.getMessage(), workers + " workers");
            }
            assertTrue(progress.stream().allMatch(p -> p <= 20L << 20), "no progress past the failed chunk: " + progress);
        }
    }
}
