package org.vdmount.vd.format.dmg;

import static org.junit.jupiter.api.Assertions.assertEquals;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import org.vdmount.vd.conformance.ExternalTools;
import org.vdmount.vd.format.ewf.EwfTools;

/** Source media for the DMG tests: patterned bytes under a partition table written by sfdisk. */
final class DmgFixture {
    /** 4 MiB: two partitions from sector 2048, the GPT's backup in the last 33 sectors. */
    static final int MEDIA_BYTES = 4 << 20;
    /** Where hdiutil would cut block tables for the GPT layout: MBR, GPT, free, p1, p2, backup GPT. */
    static final long[] GPT_TABLES = {0, 1, 34, 2048, 4096, 8159};

    private DmgFixture() {
    }

    /** Patterned media with a {@code label} ("gpt" or "dos") partition table of two partitions. */
    static byte[] media(Path dir, String label, long seed) throws IOException {
        ExternalTools.assume("sfdisk");
        byte[] b = EwfTools.pattern(MEDIA_BYTES, seed);
        java.util.Arrays.fill(b, 34 * 512, 2048 * 512, (byte) 0); // free space, as a fresh map leaves it
        Path f = dir.resolve("media-" + label + "-" + seed + ".img");
        Files.write(f, b);
        ExternalTools.Result r = ExternalTools.execWithInput(dir, "label: " + label + "\nstart=2048, size=2048, type="
                + (label.equals("gpt") ? "L" : "83") + "\nstart=4096, size=" + (label.equals("gpt") ? 4063 : 4096)
                + ", type=" + (label.equals("gpt") ? "L" : "83") + "\n", "sfdisk", "-q", "--no-reread", "--no-tell-kernel",
                f.toString());
        assertEquals(0, r.exit(), "sfdisk: " + r.out() + r.err());
        return Files.readAllBytes(f);
    }
}
