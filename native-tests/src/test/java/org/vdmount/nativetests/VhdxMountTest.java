package org.vdmount.nativetests;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * Issue #5: a GPT written with 4096-byte sectors inside a VHDX with 4096-byte logical sectors
 * shows the right p<N>. qemu-img 7.2 can neither make nor read such a VHDX, so the image is made
 * by {@code vd} (a conversion, or a new image filled through a --rw mount) and read back against
 * the raw source: partition offsets from {@code fdisk -b 4096 -l} and {@code mmls -b 4096},
 * the whole disk also through libvhdi's {@code vhdimount}. (qemu-made VHDX, differencing .avhdx:
 * Images.Variant.VHDX_* in FormatsMountTest and ReadWriteMountTest.)
 */
@Timeout(value = 180, unit = TimeUnit.SECONDS)
class VhdxMountTest {
    private static final int SECTOR = 4096;
    private static final long SIZE = 40L * Images.MIB;
    /** GPT entries 1, 3 and 4 (entry 2 empty, so p2 must not appear); p3 is 3001 sectors, ending mid-block. */
    private static final String FDISK_SCRIPT = "g\nn\n1\n\n+8M\nn\n3\n\n+3000\nn\n4\n\n-1000K\nw\n";

    @TempDir
    Path dir;
    private final Fuse fuse = new Fuse();

    @BeforeEach
    void fuse() {
        Fuse.assumeFuse();
        Sh.require("fdisk", "mmls", "vhdimount", "vhdiinfo");
        Images.Variant.VHDX_DYNAMIC.assumeSupported();
    }

    @AfterEach
    void cleanup() {
        fuse.cleanup();
    }

    /** The raw source: pattern bytes everywhere, then the 4 KiB-sector GPT (both copies) written over them by fdisk. */
    private Path gpt4k() throws Exception {
        Path raw = Images.pattern(dir.resolve("gpt4k.raw"), SIZE, 55);
        Path script = Files.writeString(dir.resolve("fdisk.txt"), FDISK_SCRIPT);
        Sh.ok("bash", "-c", "fdisk -b 4096 '" + raw + "' < '" + script + "' > /dev/null");
        return raw;
    }

    @ParameterizedTest(name = "{0}")
    @ValueSource(strings = {"vd convert", "dd through --rw"})
    void gptWith4096ByteSectorsShowsItsPartitions(String route) throws Exception {
        Path raw = gpt4k();
        List<Images.Part> parts = Images.fdiskGptPartitions(raw, SECTOR);
        assertEquals(List.of(1, 3, 4), parts.stream().map(Images.Part::number).toList(), "fdisk: " + parts);
        assertEquals(parts, Images.mmlsGptPartitions(raw, SECTOR), "fdisk and mmls disagree");

        Path img = dir.resolve("disk4k.vhdx");
        String vd = Fuse.REPO.resolve("vd").toString();
        Path mnt = Files.createDirectory(dir.resolve("mnt"));
        if (route.equals("vd convert")) {
            Sh.ok(vd, "convert", "-O", "vhdx", "-o", "logical_sector_size=4096,block_size=1M", raw.toString(),
                    img.toString());
        } else {
            Sh.ok(vd, "create", "-f", "vhdx", "-o", "logical_sector_size=4096", img.toString(), String.valueOf(SIZE));
            fuse.mount("--rw", img.toString(), mnt.toString());
            Sh.ok("dd", "if=" + raw, "of=" + mnt.resolve("disk"), "bs=1M", "conv=notrunc,fsync", "status=none");
            fuse.unmount(mnt);
        }
        assertTrue(Sh.ok("vhdiinfo", img.toString()).out().matches("(?s).*Bytes per sector\\s*: 4096 bytes.*"),
                "libvhdi reads 4096-byte sectors");

        fuse.mount(img.toString(), mnt.toString());
        Images.assertPartitionFiles(mnt, raw, parts);
        assertEquals(Sh.sha256(raw), Sh.sha256(mnt.resolve("disk")));
        fuse.unmount(mnt);

        Path lib = Files.createDirectory(dir.resolve("vhdimount"));
        fuse.mountWith("vhdimount", img.toString(), lib.toString());
        assertEquals(Sh.sha256(raw), Sh.sha256(lib.resolve("vhdi1")), "libvhdi reads the same disk");
        fuse.unmount(lib);
    }
}
