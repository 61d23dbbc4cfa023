package org.vdmount.vd.format.qcow2;

import static org.junit.jupiter.api.Assertions.assertTimeoutPreemptively;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;
import static org.vdmount.vd.format.qcow2.QemuTools.img;
import static org.vdmount.vd.format.qcow2.QemuTools.io;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;
import org.vdmount.vd.Disk;
import org.vdmount.vd.OpenOptions;
import org.vdmount.vd.VdException;

/**
 * Seeded corruption of qcow2 headers, L1/L2 tables, refcount structures, snapshot tables and
 * random bytes: every open either succeeds and reads (and writes) without surprises, or fails
 * with a {@link VdException}. Never another exception, a hang or an out-of-memory.
 */
class Qcow2MutationTest {
    private static final int CASES = 600;

    @TempDir
    Path dir;

    @BeforeEach
    void needQemu() {
        QemuTools.assumeQemu();
    }

    private byte[] seedImage(String kind) throws IOException {
        switch (kind) {
            case "small-clusters" -> {
                img(dir, "create", "-f", "qcow2", "-o", "cluster_size=512", "s.qcow2", "2M");
                io(dir, "qcow2", "s.qcow2", "write -P 0x11 1000 300000", "write -z 600000 100000",
                        "write -P 0x12 1500000 200000");
                return Files.readAllBytes(dir.resolve("s.qcow2"));
            }
            case "compressed" -> {
                QemuTools.randomRaw(dir.resolve("c.raw"), 1 << 20, 1);
                img(dir, "convert", "-c", "-O", "qcow2", "-o", "cluster_size=4k", "c.raw", "s.qcow2");
                return Files.readAllBytes(dir.resolve("s.qcow2"));
            }
            case "zstd-extl2-backing" -> {
                img(dir, "create", "-f", "raw", "base.raw", "1M");
                io(dir, "raw", "base.raw", "write -P 0x22 0 1M");
                QemuTools.randomRaw(dir.resolve("c.raw"), 1 << 20, 2);
                img(dir, "convert", "-c", "-O", "qcow2", "-o",
                        "cluster_size=16k,extended_l2=on,compression_type=zstd", "c.raw", "s.qcow2");
                img(dir, "rebase", "-u", "-b", "base.raw", "-F", "raw", "s.qcow2");
                io(dir, "qcow2", "s.qcow2", "write -z 70000 20000", "discard 200000 40000",
                        "write -P 0x23 300001 5000");
                return Files.readAllBytes(dir.resolve("s.qcow2"));
            }
            default -> {
                img(dir, "create", "-f", "qcow2", "-o", "compat=0.10,cluster_size=1k", "s.qcow2", "1M");
                io(dir, "qcow2", "s.qcow2", "write -P 0x31 0 300000");
                img(dir, "snapshot", "-c", "a", "s.qcow2");
                io(dir, "qcow2", "s.qcow2", "write -P 0x32 100000 300000");
                img(dir, "snapshot", "-c", "b", "s.qcow2");
                return Files.readAllBytes(dir.resolve("s.qcow2"));
            }
        }
    }

    @ParameterizedTest
    @ValueSource(strings = {"small-clusters", "compressed", "zstd-extl2-backing", "v2-snapshots"})
    void corruptImagesFailCleanly(String kind) throws Exception {
        byte[] pristine = seedImage(kind);
        int[] outcomes = new int[2];
        assertTimeoutPreemptively(Duration.ofSeconds(120), () -> {
            for (int c = 0; c < CASES; c++) {
                Random rnd = new Random(kind.hashCode() * 31L + c);
                byte[] b = pristine.clone();
                int n = 1 + rnd.nextInt(3);
                for (int k = 0; k < n; k++) {
                    mutate(b, rnd);
                }
                Path p = dir.resolve("m.qcow2");
                Files.write(p, b);
                outcomes[exercise(p, rnd, c) ? 0 : 1]++;
            }
        });
        assertTrue(outcomes[0] > CASES / 20, "most mutations should still open: " + outcomes[0]);
        assertTrue(outcomes[1] > CASES / 20, "many mutations should be detected: " + outcomes[1]);
    }

    /** Opens, reads, sometimes writes; true if everything worked, false on a VdException. */
    private boolean exercise(Path p, Random rnd, int c) {
        boolean write = rnd.nextInt(4) == 0;
        try (Disk d = Disk.open(p, write ? OpenOptions.defaultReadWrite() : OpenOptions.defaultReadOnly())) {
            long size = d.size();
            ByteBuffer buf = ByteBuffer.allocate(256 * 1024);
            for (long off = 0; off < Math.min(size, 2 << 20); off += buf.capacity()) {
                buf.clear().limit((int) Math.min(buf.capacity(), size - off));
                d.read(off, buf);
            }
            for (int i = 0; i < 20 && size > 0; i++) {
                long off = (long) (rnd.nextDouble() * size);
                int len = (int) Math.min(size - off, 1 + rnd.nextInt(100_000));
                buf.clear().limit(len);
                d.read(off, buf);
                d.map(off, len);
            }
            if (write && size > 0) {
                for (int i = 0; i < 10; i++) {
                    long off = (long) (rnd.nextDouble() * size);
                    int len = (int) Math.min(size - off, 1 + rnd.nextInt(70_000));
                    buf.clear().limit(len);
                    if (rnd.nextInt(3) == 0) {
                        d.discard(off, len);
                    } else {
                        d.write(off, buf);
                    }
                }
                d.flush();
            }
            return true;
        } catch (VdException e) {
            if (e.getMessage() == null || e.getMessage().contains("\n")) {
                fail("case " + c + ": message must be one line: " + e.getMessage());
            }
            return false;
        } catch (Throwable t) {
            throw new AssertionError("case " + c + ": unexpected " + t, t);
        }
    }

    private static long u64(byte[] b, int off) {
        return ByteBuffer.wrap(b).getLong(off);
    }

    private static void put64(byte[] b, int off, long v) {
        if (off >= 0 && off + 8 <= b.length) {
            ByteBuffer.wrap(b).putLong(off, v);
        }
    }

    private static void put32(byte[] b, int off, int v) {
        if (off >= 0 && off + 4 <= b.length) {
            ByteBuffer.wrap(b).putInt(off, v);
        }
    }

    /** A nasty value relative to the file: 0, tiny, huge, past EOF, misaligned, into the header. */
    private static long nasty(Random rnd, byte[] b, long cluster) {
        return switch (rnd.nextInt(10)) {
            case 0 -> 0;
            case 1 -> rnd.nextInt(16);
            case 2 -> rnd.nextLong();
            case 3 -> b.length + rnd.nextInt(1 << 20);
            case 4 -> (long) rnd.nextInt(b.length) & ~(cluster - 1);
            case 5 -> rnd.nextInt(b.length);
            case 6 -> Long.MAX_VALUE - rnd.nextInt(100);
            case 7 -> 1L << rnd.nextInt(64);
            case 8 -> ((long) rnd.nextInt(b.length) & ~(cluster - 1)) | 1L << 63;
            default -> 0xFFFF_FFFFL + rnd.nextInt(3) - 1;
        };
    }

    static void mutate(byte[] b, Random rnd) {
        long cluster = 1L << Math.max(9, Math.min(21, ByteBuffer.wrap(b).getInt(20)));
        List<Integer> l2Tables = new ArrayList<>();
        long l1Off = u64(b, 40);
        int l1Size = ByteBuffer.wrap(b).getInt(36);
        for (int i = 0; i < Math.min(l1Size, 4096); i++) {
            long at = l1Off + i * 8L;
            if (at < 0 || at + 8 > b.length) {
                break;
            }
            long e = u64(b, (int) at) & 0x00ff_ffff_ffff_fe00L;
            if (e > 0 && e + cluster <= b.length) {
                l2Tables.add((int) e);
            }
        }
        switch (rnd.nextInt(8)) {
            case 0 -> { // a header field
                int[] fields = {4, 8, 16, 20, 24, 32, 36, 40, 48, 56, 60, 64, 72, 80, 88, 96, 100, 104};
                int f = fields[rnd.nextInt(fields.length)];
                if (rnd.nextBoolean()) {
                    put32(b, f, (int) nasty(rnd, b, cluster));
                } else {
                    put64(b, f, nasty(rnd, b, cluster));
                }
            }
            case 1 -> { // an L1 entry
                if (l1Size > 0 && l1Off > 0 && l1Off < b.length) {
                    put64(b, (int) (l1Off + 8L * rnd.nextInt(Math.min(l1Size, 64))), nasty(rnd, b, cluster));
                }
            }
            case 2, 3 -> { // L2 entries
                if (!l2Tables.isEmpty()) {
                    int t = l2Tables.get(rnd.nextInt(l2Tables.size()));
                    int e = t + 8 * rnd.nextInt((int) (cluster / 8));
                    long v = nasty(rnd, b, cluster);
                    if (rnd.nextInt(3) == 0) {
                        v |= 1L << 62; // compressed descriptor
                    }
                    put64(b, e, v);
                }
            }
            case 4 -> { // refcount table or block
                long rt = u64(b, 48);
                if (rt > 0 && rt < b.length - 8) {
                    long blk = u64(b, (int) rt);
                    int at = rnd.nextBoolean() || blk <= 0 || blk >= b.length - 8
                            ? (int) rt + 8 * rnd.nextInt(4) : (int) blk + 2 * rnd.nextInt((int) (cluster / 2));
                    put64(b, at, nasty(rnd, b, cluster));
                }
            }
            case 5 -> { // snapshot table
                long st = u64(b, 64);
                if (st > 0 && st < b.length - 64) {
                    put32(b, (int) st + 4 * rnd.nextInt(14), (int) nasty(rnd, b, cluster));
                }
            }
            case 6 -> { // header extension area
                int at = 72 + rnd.nextInt(400);
                b[at] = (byte) rnd.nextInt(256);
            }
            default -> { // any bytes
                int at = rnd.nextInt(b.length);
                for (int i = 0; i < 1 + rnd.nextInt(8) && at + i < b.length; i++) {
                    b[at + i] = (byte) rnd.nextInt(256);
                }
            }
        }
    }
}
