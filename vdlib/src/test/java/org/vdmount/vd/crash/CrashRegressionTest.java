package org.vdmount.vd.crash;

import java.nio.file.Path;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

/**
 * Kill points the crash campaign once failed at, kept as single cases (format, workload seed,
 * writes let through, torn):
 * <ul>
 * <li>vdi: a crash between the header's allocated count and the map entry left a counted but
 *     unused slot — qemu-img check: "allocated blocks mismatch" (corruption). Fixed: a writable
 *     open gives such slots back.</li>
 * <li>qcow2: a crash inside a flush, after the refcount increments and before the L2 tables,
 *     left leaked clusters (check exit 3). Fixed: the dirty bit brackets a flush's refcount
 *     updates, so the next writable open rebuilds the refcounts.</li>
 * <li>qed: a crash after appending a cluster and before its table entry left a leaked tail
 *     cluster. Fixed: the need-check repair cuts unreferenced clusters off the end.</li>
 * </ul>
 */
class CrashRegressionTest {
    @TempDir
    Path dir;

    @ParameterizedTest
    @CsvSource({
            "vdi, 1, 3, false",
            "vdi, 1001, 6, false",
            "qcow2, 1, 17, true",
            "qcow2, 1001, 77, true",
            "qed, 1, 10, true",
            "qed, 1001, 59, true"})
    void formerlyFailingKillPoint(String format, long seed, long allowed, boolean torn) throws Exception {
        CrashCampaign c = new CrashCampaign(CrashCampaign.target(format), dir, seed, CrashCampaignTest.OPS);
        for (long s = 0; s < 4; s++) { // the torn cut is random: a few cuts of the same write
            c.killInJvm(allowed, torn, s);
        }
    }
}
