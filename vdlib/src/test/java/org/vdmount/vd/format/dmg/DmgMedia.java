package org.vdmount.vd.format.dmg;

import static org.junit.jupiter.api.Assertions.assertEquals;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import org.vdmount.vd.conformance.ExternalTools;
import org.vdmount.vd.format.ewf.EwfTools;

/** Source media for the DMG tests: patterned bytes under a partition table written by sfdisk. */
public final class DmgMedia {
    /** 4 MiB: two partitions from sector 2048, the GPT's backup in the last 33 sectors. */
    public static final int MEDIA_BYTES = 4 << 20;
    /** Where hdiutil would cut block tables for the GPT layout: MBR, GPT, free, p1, p2, backup GPT. */
    public static final long[] GPT_TABLES = {0, 1, 34, 2048, 4096, 8159};

    private DmgMedia() {
    }

    /** Where hdiutil would cut block tables for the APM layout: DDM, map, p2, p3. */
    public static final long[] APM_TABLES = {0, 1, 64, 2048, 4096};

    /**
     * Patterned media with a {@code label} partition table of two partitions at sectors 2048 and
     * 4096: "gpt" or "dos" written by sfdisk, "apm" an Apple partition map (512-byte blocks; the
     * map itself is entry 1, the two Apple_HFS volumes entries 2 and 3).
     */
    public static byte[] media(Path dir, String label, long seed) throws IOException {
        if (label.equals("apm")) {
            return apm(seed);
        }
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

    private static byte[] apm(long seed) {
        byte[] b = EwfTools.pattern(MEDIA_BYTES, seed);
        java.util.Arrays.fill(b, 0, 2048 * 512, (byte) 0);
        org.vdmount.vd.Bytes d = org.vdmount.vd.Bytes.of(b);
        d.putBytes(0, "ER".getBytes(java.nio.charset.StandardCharsets.US_ASCII)).put16be(2, 512)
                .put32be(4, MEDIA_BYTES / 512);
        long[][] parts = {{1, 63}, {2048, 2048}, {4096, MEDIA_BYTES / 512 - 4096}};
        String[][] names = {{"Apple", "Apple_partition_map"}, {"disk image", "Apple_HFS"}, {"second", "Apple_HFS"}};
        for (int i = 0; i < parts.length; i++) {
            int o = (i + 1) * 512;
            d.putBytes(o, "PM".getBytes(java.nio.charset.StandardCharsets.US_ASCII)).put32be(o + 4, parts.length)
                    .put32be(o + 8, parts[i][0]).put32be(o + 12, parts[i][1])
                    .putBytes(o + 16, names[i][0].getBytes(java.nio.charset.StandardCharsets.US_ASCII))
                    .putBytes(o + 48, names[i][1].getBytes(java.nio.charset.StandardCharsets.US_ASCII))
                    .put32be(o + 84, parts[i][1]).put32be(o + 88, 0x33);
        }
        return b;
    }
}
