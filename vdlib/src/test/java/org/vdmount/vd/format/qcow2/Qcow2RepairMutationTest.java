package org.vdmount.vd.format.qcow2;

import static org.junit.jupiter.api.Assertions.assertTimeoutPreemptively;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;
import static org.vdmount.vd.format.qcow2.QemuTools.img;
import static org.vdmount.vd.format.qcow2.QemuTools.io;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Arrays;
import java.util.List;
import java.util.Random;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;
import org.vdmount.vd.Disk;
import org.vdmount.vd.OpenOptions;
import org.vdmount.vd.VdException;
import org.vdmount.vd.conformance.DiskBytes;
import org.vdmount.vd.conformance.Mutator;
import org.vdmount.vd.conformance.Region;
import org.vdmount.vd.conformance.ExternalTools;

/**
 * Dirty images (qemu-io abort with lazy refcounts) with seeded random corruption, opened writable
 * so the repair runs on them: every open either fails with a one-line {@link VdException} or
 * repairs without changing what the disk reads, then takes writes, after which qemu-img check
 * finds neither corruptions nor leaks.
 */
class Qcow2RepairMutationTest {
    private static final int CASES = 250;
    private static final Mutator MUTATOR = new Mutator(ByteOrder.BIG_ENDIAN);

    @TempDir
    Path dir;

    @BeforeEach
    void needQemu() {
        QemuTools.assumeQemu();
    }

    private byte[] seedImage(String kind) throws IOException {
        switch (kind) {
            case "small-clusters-snapshots" -> {
                img(dir, "create", "-f", "qcow2", "-o", "lazy_refcounts=on,cluster_size=512", "s.qcow2", "1M");
                io(dir, "qcow2", "s.qcow2", "write -P 0x11 0 300k");
                img(dir, "snapshot", "-c", "a", "s.qcow2");
                crash("s.qcow2", "write -P 0x12 100k 300k", "write -z 500k 20k", "write -P 0x13 900k 10k");
            }
            case "compressed-snapshot" -> {
                QemuTools.randomRaw(dir.resolve("c.raw"), 1 << 20, 5);
                Qcow2RepairTest.halfCompressible(dir.resolve("c.raw"), 256 << 10);
                img(dir, "convert", "-c", "-O", "qcow2", "-o", "cluster_size=4k,lazy_refcounts=on", "c.raw",
                        "s.qcow2");
                img(dir, "snapshot", "-c", "a", "s.qcow2");
                crash("s.qcow2", "write -P 0x44 100k 100k", "write -c -P 0x33 512k 64k");
            }
            default -> {
                img(dir, "create", "-f", "qcow2", "-o", "lazy_refcounts=on,extended_l2=on,cluster_size=16k",
                        "s.qcow2", "2M");
                io(dir, "qcow2", "s.qcow2", "write -P 0x21 0 200k");
                img(dir, "bitmap", "--add", "s.qcow2", "bm");
                crash("s.qcow2", "write -P 0x22 3000 100k", "write -z 1M 40k", "write -P 0x23 1500k 100k");
            }
        }
        byte[] b = Files.readAllBytes(dir.resolve("s.qcow2"));
        assertTrue((b[0x4F] & 1) != 0, "seed must be dirty");
        return b;
    }

    private void crash(String image, String... commands) throws IOException {
        QemuTools.run(dir, true, withAbort(commands, image));
    }

    private static String[] withAbort(String[] commands, String image) {
        String[] cmd = new String[3 + 2 * commands.length + 3];
        int i = 0;
        cmd[i++] = "qemu-io";
        cmd[i++] = "-f";
        cmd[i++] = "qcow2";
        for (String c : commands) {
            cmd[i++] = "-c";
            cmd[i++] = c;
        }
        cmd[i++] = "-c";
        cmd[i++] = "abort";
        cmd[i] = image;
        return cmd;
    }

    @ParameterizedTest
    @ValueSource(strings = {"small-clusters-snapshots", "compressed-snapshot", "extl2-bitmap"})
    void corruptDirtyImagesAreRepairedSafelyOrRefused(String kind) throws Exception {
        byte[] pristine = seedImage(kind);
        List<Region> regions = Qcow2Fixture.structures(pristine);
        int[] outcomes = new int[3];
        assertTimeoutPreemptively(Duration.ofSeconds(60), () -> {
            for (int c = 0; c < CASES; c++) {
                Random rnd = new Random(kind.hashCode() * 131L + c);
                byte[] b = pristine.clone();
                Mutator.Mutation m = MUTATOR.mutate(b, b.length, regions, rnd);
                b = Arrays.copyOf(b, Math.max(m.length(), 0x50));
                b[0x4F] |= 1; // still dirty: the repair must face the corruption
                Path p = dir.resolve("m.qcow2");
                Files.write(p, b);
                outcomes[exercise(p, rnd, c)]++;
            }
        });
        assertTrue(outcomes[0] > CASES / 10, "many repairs should succeed: " + Arrays.toString(outcomes));
        assertTrue(outcomes[1] > CASES / 20, "many corruptions should be refused: " + Arrays.toString(outcomes));
    }

    /** 0: repaired and written, 1: writable open refused, 2: failed later (reading or writing). */
    private int exercise(Path p, Random rnd, int c) throws IOException {
        byte[] before = readOnly(p);
        Disk d;
        try {
            d = Disk.fromTop(new Qcow2Format().open(p, OpenOptions.defaultReadWrite()), OpenOptions.defaultReadWrite());
        } catch (VdException e) {
            DiskBytes.assertOneLine(e);
            return 1;
        } catch (RuntimeException | Error e) {
            throw new AssertionError("case " + c + ": unexpected " + e, e);
        }
        try (d) {
            long size = d.size();
            if (before != null && size <= before.length) {
                byte[] after = DiskBytes.readAll(d);
                if (!Arrays.equals(before, after)) {
                    fail("case " + c + ": the repair changed what the disk reads (first difference at "
                            + Arrays.mismatch(before, after) + ")");
                }
            }
            ByteBuffer buf = ByteBuffer.allocate(70_000);
            for (int i = 0; i < 8 && size > 0; i++) {
                long off = (long) (rnd.nextDouble() * size);
                int len = (int) Math.min(size - off, 1 + rnd.nextInt(buf.capacity()));
                buf.clear().limit(len);
                if (rnd.nextInt(3) == 0) {
                    d.discard(off, len);
                } else {
                    d.write(off, buf);
                }
            }
            d.flush();
        } catch (VdException e) {
            DiskBytes.assertOneLine(e);
            return 2;
        } catch (RuntimeException | Error e) {
            throw new AssertionError("case " + c + ": unexpected " + e, e);
        }
        ExternalTools.Result r = QemuTools.check(dir, "qcow2", p.getFileName().toString());
        // exit 1: qemu's open is stricter about some header fields than ours, and it checked nothing
        assertTrue(r.exit() == 0 || r.exit() == 1 && !r.out().contains("were found"), "case " + c
                + ": qemu-img check after our repair and writes exited " + r.exit() + ":\n" + r.out() + r.err());
        return 0;
    }

    /** The whole disk read-only, or null if the image cannot be read that way. */
    private static byte[] readOnly(Path p) {
        try (Disk d = Disk.fromTop(new Qcow2Format().open(p, OpenOptions.defaultReadOnly()),
                OpenOptions.defaultReadOnly())) {
            return d.size() <= 4 << 20 ? DiskBytes.readAll(d) : null;
        } catch (IOException e) {
            return null;
        }
    }
}
