package org.vdmount.nativetests;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Random;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/**
 * {@code vd convert -n} onto a real block device (a loop device over a file full of noise), as a
 * user writes an image onto a disk: the device then reads as the image (qemu-img compare), zero
 * ranges included; a read-only device is refused in one line and left as it was.
 */
@Timeout(value = 240, unit = TimeUnit.SECONDS)
class ConvertDeviceTest {
    private static final String VD = Fuse.REPO.resolve("vd").toString();

    @TempDir
    Path dir;
    private final Fuse fuse = new Fuse();

    @BeforeEach
    void tools() {
        Fuse.assumeFuse(); // root: loop devices
        Sh.require("qemu-img", "qemu-io", "losetup");
    }

    @AfterEach
    void cleanup() {
        fuse.cleanup();
    }

    @Test
    void minusNWritesAChainOntoABlockDevice() throws Exception {
        Path base = dir.resolve("base.vhdx");
        Path top = dir.resolve("top.qcow2");
        Sh.ok("qemu-img", "create", "-q", "-f", "vhdx", base.toString(), "24M");
        Sh.ok("qemu-io", "-f", "vhdx", "-c", "write -P 0x41 0 6M", "-c", "write -P 0x42 16M 1M", base.toString());
        Sh.ok(VD, "create", "-f", "qcow2", "-b", "base.vhdx", "-F", "vhdx", top.toString());
        Sh.ok("qemu-io", "-c", "write -P 0x43 2M 1M", "-c", "write -z 4M 1M", "-c", "write -P 0x44 23M 1M",
                top.toString());
        Path backing = dir.resolve("device.img");
        byte[] noise = new byte[32 << 20];
        new Random(9).nextBytes(noise);
        Files.write(backing, noise);
        String dev = fuse.loop(backing, false);
        Sh.Result r = Sh.run(VD, "convert", "-n", top.toString(), dev);
        assertEquals(0, r.exit(), r.err());
        // the device is larger than the image: its first 24 MiB are the image, the rest untouched
        Sh.ok("qemu-img", "compare", "-q", "-f", "qcow2", "-F", "raw", top.toString(),
                "json:{\"driver\":\"raw\",\"size\":" + (24 << 20) + ",\"file\":{\"driver\":\"host_device\",\"filename\":\""
                        + dev + "\"}}");
        byte[] after = Files.readAllBytes(backing);
        assertTrue(java.util.Arrays.equals(noise, 24 << 20, 32 << 20, after, 24 << 20, 32 << 20),
                "bytes past the image changed");

        String ro = fuse.loop(backing, true);
        Sh.Result refused = Sh.run(VD, "convert", "-n", base.toString(), ro);
        assertEquals(1, refused.exit(), refused.err());
        assertEquals(1, refused.err().strip().lines().count(), refused.err());
        assertTrue(java.util.Arrays.equals(after, Files.readAllBytes(backing)), "a read-only device was written");
    }
}
