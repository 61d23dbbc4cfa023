package org.vdmount.vd.crash;

import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import java.nio.file.Path;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * The crash campaign (design §3 durability): for every writable format, a seeded workload is killed
 * at many host writes — in this JVM by dropping every write after the N-th (what kill -9 leaves),
 * half of them with write N+1 torn at a sector boundary — and a few times for real, a child JVM
 * halting itself at write N+1. After each kill the image must reopen read-write, hold every flushed
 * sector, hold nothing but old or newer data elsewhere, and satisfy qemu-img.
 *
 * <p>Sizes: {@code -Dvdmount.crash.points} kill points per format (default 100, of which half
 * torn), {@code -Dvdmount.crash.halts} child-JVM halts (default 5), {@code -Dvdmount.crash.seed}.
 * {@code -Dvdmount.crash.formats=vdi,qcow2} limits the run to those formats.
 * {@code campaigns/crash-campaign.sh} runs the long campaign.
 */
class CrashCampaignTest {
    static final int OPS = 40;

    @TempDir
    Path dir;

    @ParameterizedTest
    @ValueSource(strings = {"raw", "vdi", "vhd", "vhdx", "vmdk", "qcow2", "qed", "qcow", "parallels"})
    void killedAtEveryPointReopensWithFlushedData(String format) throws Exception {
        assumeSelected(format);
        int points = Integer.getInteger("vdmount.crash.points", 100);
        long seed = Long.getLong("vdmount.crash.seed", 1);
        int run = 0;
        int torn = 0;
        long writes = 0;
        for (long ws = seed; run < points; ws++) {
            CrashCampaign c = new CrashCampaign(CrashCampaign.target(format), dir, ws, OPS);
            long w = c.totalWrites();
            writes += w;
            int pairs = (int) Math.min(w, (points - run + 1) / 2);
            for (int i = 0; i < pairs && run < points; i++) {
                long n = i * w / pairs;
                c.killInJvm(n, false, ws * 31 + i);
                run++;
                if (run < points) {
                    c.killInJvm(n, true, ws * 31 + i);
                    run++;
                    torn++;
                }
            }
        }
        System.out.printf("crash campaign %s: %d kill points (%d torn), workloads of %d host writes in all%n",
                format, run, torn, writes);
        assertTrue(run >= points);
    }

    /**
     * The same over a parent: the image is a differencing child whose parent holds a pattern in
     * every sector, so a partial write must fill its block from the parent and a discard must hide
     * the parent with zeros, and both must survive the kill ({@code -Dvdmount.crash.diffPoints},
     * default 50 per format).
     */
    @ParameterizedTest
    @ValueSource(strings = {"vdi", "vhd", "vhdx", "vmdk", "qcow2", "qed", "qcow"})
    void aDifferencingChildKilledAtEveryPointReopensWithFlushedData(String format) throws Exception {
        assumeSelected(format);
        int points = Integer.getInteger("vdmount.crash.diffPoints", 50);
        long seed = Long.getLong("vdmount.crash.seed", 1) + 5000;
        int run = 0;
        long writes = 0;
        for (long ws = seed; run < points; ws++) {
            CrashCampaign c = new CrashCampaign(CrashCampaign.target(format), dir, ws, OPS, true);
            long w = c.totalWrites();
            writes += w;
            int kills = (int) Math.min(w, points - run);
            for (int i = 0; i < kills; i++) {
                c.killInJvm(i * w / kills, i % 2 == 1, ws * 37 + i);
                run++;
            }
        }
        System.out.printf("crash campaign %s differencing: %d kill points, workloads of %d host writes in all%n",
                format, run, writes);
        assertTrue(run >= points);
    }

    @ParameterizedTest
    @ValueSource(strings = {"raw", "vdi", "vhd", "vhdx", "vmdk", "qcow2", "qed", "qcow", "parallels"})
    void childJvmHaltedAtAWriteReopensWithFlushedData(String format) throws Exception {
        assumeSelected(format);
        int halts = Integer.getInteger("vdmount.crash.halts", 5);
        long seed = Long.getLong("vdmount.crash.seed", 1) + 1000;
        CrashCampaign c = new CrashCampaign(CrashCampaign.target(format), dir, seed, OPS);
        long w = c.totalWrites();
        for (int i = 0; i < halts; i++) {
            long n = (i + 1) * w / (halts + 1);
            c.killChildJvm(n, i % 2 == 1, seed + i, seed, OPS);
        }
        System.out.printf("crash campaign %s: %d child JVMs halted (workload of %d host writes)%n",
                format, halts, w);
    }

    private static void assumeSelected(String format) {
        String only = System.getProperty("vdmount.crash.formats", "");
        assumeTrue(only.isBlank() || java.util.List.of(only.split(",")).contains(format),
                "not in -Dvdmount.crash.formats=" + only);
    }
}
