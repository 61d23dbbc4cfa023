package org.vdmount.nativetests;

import static org.junit.jupiter.api.Assertions.assertEquals;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;

/** Every variant qemu-img makes reads back through the mount exactly as qemu-img's raw. */
@Timeout(value = 180, unit = TimeUnit.SECONDS)
class FormatsMountTest {
    @TempDir
    Path dir;
    private final Fuse fuse = new Fuse();

    @BeforeEach
    void fuse() {
        Fuse.assumeFuse();
    }

    @AfterEach
    void cleanup() {
        fuse.cleanup();
    }

    @ParameterizedTest(name = "{0}")
    @EnumSource(Images.Variant.class)
    void diskEqualsQemuRaw(Images.Variant v) throws Exception {
        v.assumeSupported();
        Path raw = Images.pattern(dir.resolve("src.raw"), 21 * Images.MIB + 512 * 7, 11);
        Path img = v == Images.Variant.RAW ? raw : v.convert(raw, dir, "img");
        Path expected = Images.qemuRaw(img, v.qemu, dir.resolve("expected.raw"));
        Path mnt = Files.createDirectory(dir.resolve("mnt"));
        fuse.mount(img.toString(), mnt.toString());
        Path disk = mnt.resolve("disk");
        assertEquals(Files.size(expected), Files.size(disk), "size");
        assertEquals(Sh.sha256(expected), Sh.sha256(disk), "content");
        fuse.unmount(mnt);
    }
}
