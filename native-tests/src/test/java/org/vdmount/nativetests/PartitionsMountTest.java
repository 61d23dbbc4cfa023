package org.vdmount.nativetests;

import static org.junit.jupiter.api.Assertions.assertEquals;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

/**
 * MBR (with logical partitions) and GPT disks holding ext4 and vfat, converted to VDI and VHD:
 * each p<N> equals its slice (offsets from sfdisk), and the file systems mount from p<N>.
 */
@Timeout(value = 240, unit = TimeUnit.SECONDS)
class PartitionsMountTest {
    private static final String MBR = String.join("\n", "label: dos",
            "start=2048, size=32768, type=83",
            "start=34816, size=90112, type=5",
            "start=36864, size=24576, type=c",
            "start=63488, size=16384, type=83", "");
    private static final String GPT = String.join("\n", "label: gpt",
            "start=2048, size=32768, type=0FC63DAF-8483-4772-8E79-3D69D8477DE4",
            "start=34816, size=24576, type=EBD0A0A2-B9E5-4433-87C0-68B6B72699C7",
            "start=59392, size=16384, type=0FC63DAF-8483-4772-8E79-3D69D8477DE4", "");

    @TempDir
    Path dir;
    private final Fuse fuse = new Fuse();

    @BeforeEach
    void fuse() {
        Fuse.assumeFuse();
        Sh.require("sfdisk", "mkfs.ext4", "mkfs.vfat", "qemu-img", "losetup");
    }

    @AfterEach
    void cleanup() {
        fuse.cleanup();
    }

    /** A 64 MiB raw disk: ext4 in the first partition, vfat in the second data partition, random in the third. */
    private Path buildDisk(String script, int extNumber, int fatNumber) throws IOException {
        Path raw = dir.resolve("disk.raw");
        Sh.ok("truncate", "-s", "64M", raw.toString());
        Sh.ok("bash", "-c", "printf '%s' '" + script + "' | sfdisk -q '" + raw + "'");
        List<Images.Part> parts = Images.sfdiskPartitions(raw).stream().filter(p -> !p.extended()).toList();
        Path content = Files.createDirectory(dir.resolve("content"));
        Files.writeString(content.resolve("hello.txt"), "hello from ext4\n");
        byte[] big = new byte[300_000];
        new Random(5).nextBytes(big);
        Files.write(content.resolve("big.bin"), big);
        for (Images.Part p : parts) {
            Path fs = dir.resolve("fs" + p.number());
            if (p.number() == extNumber) {
                Sh.ok("mkfs.ext4", "-q", "-F", "-d", content.toString(), fs.toString(), p.lengthBytes() / 1024 + "k");
            } else if (p.number() == fatNumber) {
                Sh.ok("mkfs.vfat", "-n", "VDTEST", "-C", fs.toString(), String.valueOf(p.lengthBytes() / 1024));
            } else {
                byte[] b = new byte[(int) p.lengthBytes()];
                new Random(p.number()).nextBytes(b);
                Files.write(fs, b);
            }
            Sh.ok("dd", "if=" + fs, "of=" + raw, "bs=1M", "oflag=seek_bytes", "seek=" + p.startBytes(),
                    "conv=notrunc", "status=none");
        }
        return raw;
    }

    /** The size Linux gives partition {@code number} of a disk file, read from a partitioned loop device. */
    private long kernelPartitionBytes(Path disk, int number) throws IOException {
        String dev = fuse.loop(disk, true);
        String name = Path.of(dev).getFileName().toString();
        Path size = Path.of("/sys/block", name, name + "p" + number, "size");
        if (!Files.exists(size)) { // loop devices without partscan: ask for the partitions
            Sh.run(60, List.of("partx", "-a", dev));
        }
        org.junit.jupiter.api.Assumptions.assumeTrue(Files.exists(size), "the kernel shows no " + size);
        long sectors = Long.parseLong(Files.readString(size).strip());
        fuse.detach(dev);
        return sectors * 512;
    }

    @ParameterizedTest(name = "{0} {1}")
    @CsvSource({"mbr, VDI_DYNAMIC", "mbr, VHD_DYNAMIC", "gpt, VDI_DYNAMIC", "gpt, VHD_DYNAMIC"})
    void partitionsEqualTheirSlicesAndMount(String scheme, Images.Variant v) throws Exception {
        v.assumeSupported();
        boolean mbr = scheme.equals("mbr");
        Path raw = buildDisk(mbr ? MBR : GPT, 1, mbr ? 5 : 2);
        Path img = v.convert(raw, dir, "img");
        Path expected = Images.qemuRaw(img, v.qemu, dir.resolve("expected.raw"));
        List<Images.Part> all = Images.sfdiskPartitions(expected);
        List<Images.Part> parts = all.stream().filter(p -> !p.extended()).toList();
        assertEquals(mbr ? List.of(1, 5, 6) : List.of(1, 2, 3), parts.stream().map(Images.Part::number).toList());

        Path mnt = Files.createDirectory(dir.resolve("mnt"));
        fuse.mount(img.toString(), mnt.toString());
        Images.assertPartitionFiles(mnt, expected, all);
        if (mbr) {
            assertEquals(kernelPartitionBytes(expected, 2), Files.size(mnt.resolve("p2")),
                    "p2, the extended container, is as large as Linux shows it");
        }

        // ext4 from p1, read-only through a loop device on the FUSE file
        Path ext = Files.createDirectory(dir.resolve("ext"));
        fuse.mountFs(fuse.loop(mnt.resolve("p1"), true), ext, "ro");
        assertEquals("hello from ext4\n", Sh.ok("cat", ext.resolve("hello.txt").toString()).out());
        assertEquals(Sh.sha256(dir.resolve("content/big.bin")), Sh.sha256(ext.resolve("big.bin")));
        fuse.cleanup(); // unmounts ext4, detaches the loop device, unmounts vdmount

        Path fat = mnt.resolve("p" + (mbr ? 5 : 2));
        fuse.mount(img.toString(), mnt.toString());
        if (Images.kernelHas("vfat")) {
            Path vf = Files.createDirectory(dir.resolve("vfat"));
            fuse.mountFs(fuse.loop(fat, true), vf, "ro");
            Sh.ok("ls", vf.toString());
        }
        // the FAT checker reads the file system through the mount without changing it
        Sh.Result fsck = Sh.run(60, new ArrayList<>(List.of("fsck.vfat", "-n", fat.toString())));
        assertEquals(0, fsck.exit(), fsck.out() + fsck.err());
    }
}
