package org.vdmount.vd.crash;

import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Random;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;
import org.vdmount.vd.ChainRebase;
import org.vdmount.vd.CreateOptions;
import org.vdmount.vd.Disk;
import org.vdmount.vd.FormatRegistry;
import org.vdmount.vd.OpenOptions;
import org.vdmount.vd.conformance.DiskBytes;

/**
 * A kill during {@code vd rebase}: the process dies after the N-th host write of a safe rebase
 * (every later write lost, as kill -9 leaves the files), for every write (up to 64 kill points
 * spread over them), half of them with the next write torn. The image must open and read the same as before
 * the rebase at every one: linked to the old backing file (with the differences already copied
 * or not) or to the new one. Torn writes of a header (VHD's 1024-byte dynamic header) may instead
 * leave a file an open refuses in one line naming it; never a wrong byte.
 */
class RebaseCrashTest {
    private static final int SIZE = 5 * 1024 * 1024 + 4096;
    private static final OpenOptions RO = OpenOptions.defaultReadOnly();
    private static final OpenOptions RW = OpenOptions.defaultReadWrite();

    @TempDir
    Path dir;

    @ParameterizedTest
    @CsvSource({"qcow2,new.qcow2", "qcow2,''", "vdi,new.vdi", "vdi,''", "vhd,new.vhd", "vhdx,new.vhdx",
        "qed,new.qed", "qed,''", "vmdk,new.vmdk"})
    void aRebaseKilledAtAnyWriteReadsTheSame(String fmt, String target) throws IOException {
        Path proto = Files.createDirectories(dir.resolve("proto"));
        byte[] model = fixture(proto, fmt);
        long total = rebase(copy(proto, dir.resolve("count"), fmt), fmt, target, Long.MAX_VALUE, false);
        assertTrue(total > 3, "the rebase writes (" + total + ")");
        int points = (int) Math.min(total, 64); // every write up to 64
        int refused = 0;
        for (int k = 0; k <= points; k++) {
            long n = total * k / points;
            boolean torn = k % 2 == 1;
            Path d = copy(proto, dir.resolve("crash" + k), fmt);
            rebase(d, fmt, target, n, torn);
            String where = fmt + " rebase onto '" + target + "' killed at write " + n + " of " + total
                    + (torn ? " (torn)" : "") + ": ";
            try (Disk reopened = Disk.open(d.resolve("top." + fmt), RW)) {
                DiskBytes.assertDisk(model, reopened, where + "chain");
            } catch (org.vdmount.vd.VdException e) {
                String m = e.getMessage();
                assertTrue(torn && m.contains("top." + fmt) && !m.contains("\n"), where + "refused: " + m);
                refused++;
            }
        }
        System.out.printf("rebase crash %s onto '%s': %d kill points over %d writes, %d torn headers refused%n",
                fmt, target, points + 1, total, refused);
    }

    /** Runs a safe rebase letting {@code allowed} host writes through; returns the writes seen. */
    private static long rebase(Path d, String fmt, String target, long allowed, boolean torn) throws IOException {
        return FaultedRun.dropAfter(allowed, torn, allowed * 7 + 1,
                () -> ChainRebase.rebase(d.resolve("top." + fmt), null, new ChainRebase.Request(target, null, false), RW, p -> { }));
    }

    /** old (random data) &lt;- top (some data, zeroed ranges), and new (other data); the chain's bytes. */
    private static byte[] fixture(Path d, String fmt) throws IOException {
        Random rnd = new Random(fmt.hashCode());
        for (String name : List.of("old", "new")) {
            Path p = d.resolve(name + "." + fmt);
            FormatRegistry.require(fmt).create(p, CreateOptions.of(SIZE)).close();
            try (Disk disk = Disk.open(p, RW)) {
                for (int i = 0; i < 8; i++) {
                    byte[] b = new byte[1 + rnd.nextInt(300_000)];
                    rnd.nextBytes(b);
                    disk.write((long) (rnd.nextDouble() * (SIZE - b.length)), ByteBuffer.wrap(b));
                }
            }
        }
        Path top = d.resolve("top." + fmt);
        try (Disk parent = Disk.open(d.resolve("old." + fmt), RO)) {
            FormatRegistry.require(fmt).create(top, CreateOptions.of(0).withParent(parent, Path.of("old." + fmt)))
                    .close();
        }
        try (Disk disk = Disk.open(top, RW)) {
            byte[] b = new byte[70_000];
            rnd.nextBytes(b);
            disk.write(1_000_000, ByteBuffer.wrap(b));
            disk.zero(3 * 1024 * 1024, 64 * 1024);
            return DiskBytes.readAll(disk);
        }
    }

    private static Path copy(Path from, Path to, String fmt) throws IOException {
        Files.createDirectories(to);
        for (String name : List.of("old", "new", "top")) {
            Files.copy(from.resolve(name + "." + fmt), to.resolve(name + "." + fmt));
        }
        return to;
    }
}
