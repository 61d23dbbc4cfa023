package org.vdmount.vd.crash;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;
import org.vdmount.vd.Bytes;
import org.vdmount.vd.Disk;
import org.vdmount.vd.ImageResize;
import org.vdmount.vd.OpenOptions;
import org.vdmount.vd.storage.WriteFault;
import org.vdmount.vd.format.qcow2.QemuTools;
import org.vdmount.vd.storage.Preallocation;

/**
 * A kill during {@code vd resize}: the process dies after the N-th host write of the resize, for
 * every N, half of them with write N+1 torn ({@link WriteFault}, what kill -9 leaves behind), in
 * this JVM (writes dropped) and, for qcow2 and VDI, in a child JVM that really halts. The
 * image must still open, read-only and writable, with the old size or the new one, the old bytes
 * intact and (at the new size) zeros after them; qemu-img check may find leaked clusters, never a
 * corruption. The cases take the paths that move metadata: a qcow2 L1 table that moves (512-byte
 * clusters) and one that grows in place, a VDI block map moved over the first data blocks and
 * one grown in place, a VHD BAT moved to the end, a VHDX BAT and size item through its log.
 */
class ResizeCrashTest {

    @TempDir
    Path dir;

    @ParameterizedTest(name = "{0} {1} {3} {4}")
    @CsvSource(delimiter = ';', value = {
            "qcow2;cluster_size=512;4M;+1G;off",
            "qcow2;;4M;+1G;off",
            "qcow2;;4M;+64M;falloc",   // --preallocation: clusters mapped after the new size is written
            "qcow2;cluster_size=4k;4M;+1M;full",
            "vdi;;4M;+2G;off",
            "vdi;;4M;+1M;off",
            "vpc;subformat=dynamic,force_size=on;4M;+2G;off",
            "vhdx;block_size=1M;4M;+20G;off",
            "vmdk;;4M;+20G;off",
    })
    void aResizeKilledAtAnyWriteLeavesTheOldOrTheNewDisk(String qemuFormat, String opts, String size, String grow,
                                                         String prealloc) throws Exception {
        Preallocation mode = Preallocation.of(prealloc);
        QemuTools.assumeQemu();
        String ext = qemuFormat.equals("vpc") ? "vhd" : qemuFormat;
        Path original = dir.resolve("orig." + ext);
        if (opts == null || opts.isEmpty()) {
            QemuTools.img(dir, "create", "-q", "-f", qemuFormat, original.toString(), size);
        } else {
            QemuTools.img(dir, "create", "-q", "-f", qemuFormat, "-o", opts, original.toString(), size);
        }
        QemuTools.io(dir, qemuFormat, original.toString(), "write -P 0xa1 0 300k", "write -P 0xb2 1M 1M",
                "write -P 0xc3 3M 1M");
        byte[] model = QemuTools.qemuRaw(dir, original.toString());
        long oldSize = model.length;
        long newSize = ImageResize.target(oldSize, grow);

        Path counted = dir.resolve("counted." + ext);
        Files.copy(original, counted);
        long writes = resize(counted, grow, mode, Long.MAX_VALUE, false);
        assertTrue(writes > 0, "the undisturbed resize writes");
        int oldSeen = 0;
        int newSeen = 0;
        for (long n = 0; n <= writes; n++) {
            for (boolean torn : new boolean[] {false, true}) {
                Path p = dir.resolve("k." + ext);
                Files.copy(original, p, StandardCopyOption.REPLACE_EXISTING);
                resize(p, grow, mode, n, torn);
                String where = qemuFormat + " resize killed at write " + (n + 1) + (torn ? " (torn)" : "") + " of "
                        + writes + ": ";
                long seen = verify(p, OpenOptions.defaultReadOnly(), model, newSize, where + "read-only: ");
                verify(p, OpenOptions.defaultReadWrite(), model, newSize, where + "writable: ");
                if (!qemuFormat.equals("vpc")) {
                    QemuImg.Result r = QemuImg.run("check", "-f", qemuFormat, p.toString());
                    assertTrue(r.exit() == 0 || r.exit() == 3, where + "qemu-img check: " + r.output());
                }
                if (seen == oldSize) {
                    oldSeen++;
                } else {
                    newSeen++;
                }
            }
        }
        System.out.printf("resize crash %s %s %s %s: %d kill points over %d host writes: %d old size, %d new%n",
                qemuFormat, opts, grow, prealloc, oldSeen + newSeen, writes, oldSeen, newSeen);
        assertTrue(oldSeen > 0 && newSeen > 0, "both outcomes occur");
    }

    /**
     * The same with a real process death: {@link ResizeChild} halts (as kill -9) at host write
     * N+1, for every N of a qcow2 whose L1 table moves and a VDI whose block map moves.
     */
    @ParameterizedTest(name = "{0} {1} +{3}")
    @CsvSource(delimiter = ';', value = {
            "qcow2;cluster_size=512;4M;+1G",
            "vdi;;4M;+2G",
    })
    void aResizeProcessKilledAtAnyWriteLeavesTheOldOrTheNewDisk(String qemuFormat, String opts, String size,
                                                               String grow) throws Exception {
        QemuTools.assumeQemu();
        Path original = dir.resolve("orig." + qemuFormat);
        if (opts == null || opts.isEmpty()) {
            QemuTools.img(dir, "create", "-q", "-f", qemuFormat, original.toString(), size);
        } else {
            QemuTools.img(dir, "create", "-q", "-f", qemuFormat, "-o", opts, original.toString(), size);
        }
        QemuTools.io(dir, qemuFormat, original.toString(), "write -P 0xa1 0 300k", "write -P 0xb2 1M 1M");
        byte[] model = QemuTools.qemuRaw(dir, original.toString());
        long newSize = ImageResize.target(model.length, grow);
        Path counted = dir.resolve("counted." + qemuFormat);
        Files.copy(original, counted);
        long writes = resize(counted, grow, Preallocation.OFF, Long.MAX_VALUE, false);
        for (long n = 0; n <= writes; n++) {
            Path p = dir.resolve("h." + qemuFormat);
            Files.copy(original, p, StandardCopyOption.REPLACE_EXISTING);
            java.util.List<String> cmd = java.util.List.of(
                    Path.of(System.getProperty("java.home"), "bin", "java").toString(), "-Xmx256m",
                    "-D" + WriteFault.HALT_PROPERTY + "=" + n, "-cp", System.getProperty("java.class.path"),
                    ResizeChild.class.getName(), p.toString(), grow);
            Process proc = new ProcessBuilder(cmd).redirectErrorStream(true).start();
            String out = new String(proc.getInputStream().readAllBytes(), java.nio.charset.StandardCharsets.UTF_8);
            if (!proc.waitFor(120, java.util.concurrent.TimeUnit.SECONDS)) {
                proc.destroyForcibly();
                fail("the resize child did not finish");
            }
            int expect = n < writes ? WriteFault.HALT_STATUS : 0;
            String where = qemuFormat + " resize process halted at write " + (n + 1) + " of " + writes + ": ";
            assertTrue(proc.exitValue() == expect, where + "exit " + proc.exitValue() + ": " + out);
            verify(p, OpenOptions.defaultReadOnly(), model, newSize, where + "read-only: ");
            verify(p, OpenOptions.defaultReadWrite(), model, newSize, where + "writable: ");
            QemuImg.Result r = QemuImg.run("check", "-f", qemuFormat, p.toString());
            assertTrue(r.exit() == 0 || r.exit() == 3, where + "qemu-img check: " + r.output());
        }
    }

    /** Resizes letting {@code allowed} host writes through; returns the writes seen. */
    private static long resize(Path p, String grow, Preallocation mode, long allowed, boolean torn) throws IOException {
        return FaultedRun.dropAfter(allowed, torn, allowed * 7 + 3,
                () -> ImageResize.resize(p, null, grow, false, mode, OpenOptions.defaultReadOnly()));
    }

    /** Opens {@code p}: old or new size, the model's bytes first, zeros after. Returns the size. */
    private static long verify(Path p, OpenOptions options, byte[] model, long newSize, String where)
            throws IOException {
        try (Disk d = Disk.open(p, options)) {
            long size = d.size();
            if (size != model.length && size != newSize) {
                fail(where + "size " + size + " is neither the old " + model.length + " nor the new " + newSize);
            }
            ByteBuffer b = ByteBuffer.allocate(model.length);
            d.read(0, b);
            assertArrayEquals(model, b.array(), where + "the old bytes");
            if (size == newSize) {
                ByteBuffer tail = ByteBuffer.allocate((int) Math.min(4 << 20, newSize - model.length));
                d.read(model.length, tail);
                assertTrue(Bytes.of(tail.array()).isZero(0, tail.capacity()), where + "zeros after the old end");
                tail.clear();
                d.read(newSize - tail.capacity(), tail);
                assertTrue(Bytes.of(tail.array()).isZero(0, tail.capacity()), where + "zeros at the new end");
            }
            return size;
        } catch (IOException e) {
            throw new AssertionError(where + "open failed: " + e, e);
        }
    }
}
