package org.vdmount.nativetests;

import static org.junit.jupiter.api.Assertions.assertEquals;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;

/**
 * Issue #6: a partitioned VMDK (MBR with logical partitions, sfdisk on a raw file, converted by
 * qemu-img) shows p1, p2, p5, p6, p7 equal to qemu's slices; writes through p<N> land where qemu
 * sees them (qemu-img check and compare); stream-optimized images refuse --rw in one line. The
 * disk is 2 GiB + 16 MiB (sparse) so that p5 straddles the 2 GiB extent boundary of
 * twoGbMaxExtentSparse.
 */
@Timeout(value = 180, unit = TimeUnit.SECONDS)
class VmdkMountTest {
    private static final String LAYOUT = String.join("\n", "label: dos",
            "start=2048, size=12288, type=83",        // p1  1 MiB .. 7 MiB
            "start=16384, size=8192, type=c",         // p2  8 MiB .. 12 MiB
            "start=4177920, type=5",                  // p3  extended: 2040 MiB .. the end
            "start=4179968, size=24576, type=83",     // p5  2041 MiB .. 2053 MiB (crosses 2 GiB)
            "start=4206592, size=8192, type=7",       // p6  2054 MiB .. 2058 MiB
            "start=4216832, size=6144, type=83", ""); // p7  2059 MiB .. 2062 MiB
    private static final long SIZE = 2064L * Images.MIB;
    /** partition, offset inside it, length: unaligned, across grains and the extent boundary, up to p7's end. */
    private static final long[][] WRITES = {
        {1, 123, 70_000}, {2, 4 * Images.MIB - 5000, 5000}, {5, 7 * Images.MIB - 1000, 300_000},
        {6, 65_536 - 17, 4096}, {7, 3 * Images.MIB - 200_000, 200_000},
    };

    @TempDir
    Path dir;
    private final Fuse fuse = new Fuse();

    @BeforeEach
    void fuse() {
        Fuse.assumeFuse();
        Sh.require("sfdisk", "qemu-img");
        Images.Variant.VMDK_SPARSE.assumeSupported();
    }

    @AfterEach
    void cleanup() {
        fuse.cleanup();
    }

    /** The sparse raw source: the table, pattern bytes in every data partition, zeros elsewhere. */
    private Path partitioned() throws Exception {
        Path raw = dir.resolve("src.raw");
        Sh.ok("truncate", "-s", String.valueOf(SIZE), raw.toString());
        Sh.ok("bash", "-c", "printf '%s' '" + LAYOUT + "' | sfdisk -q '" + raw + "'");
        for (Images.Part p : Images.sfdiskPartitions(raw)) {
            if (!p.extended()) {
                Path fill = Images.pattern(dir.resolve("fill" + p.number()), p.lengthBytes(), p.number());
                Sh.ok("dd", "if=" + fill, "of=" + raw, "bs=1M", "oflag=seek_bytes", "seek=" + p.startBytes(),
                        "conv=notrunc,sparse", "status=none");
                Files.delete(fill);
            }
        }
        return raw;
    }

    @ParameterizedTest(name = "{0}")
    @EnumSource(value = Images.Variant.class, names = {"VMDK_SPARSE", "VMDK_SPLIT_SPARSE", "VMDK_STREAM", "VMDK_FLAT"})
    void partitionsReadAndWriteThroughTheMount(Images.Variant v) throws Exception {
        Path img = v.convert(partitioned(), dir, "img");
        Path expected = Images.qemuRaw(img, v.qemu, dir.resolve("expected.raw"));
        List<Images.Part> all = Images.sfdiskPartitions(expected);
        assertEquals(List.of(1, 2, 3, 5, 6, 7), all.stream().map(Images.Part::number).toList());
        Path mnt = Files.createDirectory(dir.resolve("mnt"));
        fuse.mount(img.toString(), mnt.toString());
        Images.assertPartitionFiles(mnt, expected, all);
        fuse.unmount(mnt);

        if (v == Images.Variant.VMDK_STREAM) {
            Fuse.assertOneLineFailure(fuse.vdmount("--rw", img.toString(), mnt.toString()), "stream-optimized");
            return;
        }
        fuse.mount("--rw", img.toString(), mnt.toString());
        for (int i = 0; i < WRITES.length; i++) {
            long[] w = WRITES[i];
            Images.Part p = all.stream().filter(x -> x.number() == w[0]).findFirst().orElseThrow();
            Images.ddPatch(dir, mnt.resolve("p" + w[0]), w[1], (int) w[2], 300 + i);
            Images.ddPatch(dir, expected, p.startBytes() + w[1], (int) w[2], 300 + i);
        }
        Images.assertPartitionFiles(mnt, expected, all); // read back through the mount
        fuse.unmount(mnt);
        Sh.Result cmp = Sh.run(120, List.of("qemu-img", "compare", "-f", "vmdk", "-F", "raw", img.toString(),
                expected.toString()));
        assertEquals(0, cmp.exit(), "qemu-img compare: " + cmp.out() + cmp.err());
        Sh.Result check = Sh.run(60, List.of("qemu-img", "check", "-f", "vmdk", img.toString()));
        assertEquals(0, check.exit(), "qemu-img check: " + check.out() + check.err());
    }
}
