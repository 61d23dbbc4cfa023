package org.vdmount.nativetests;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/** vdmount's chain options: --snapshot (qcow2 internal snapshots) and --allow-absolute-parents. */
@Timeout(value = 180, unit = TimeUnit.SECONDS)
class ChainOptionsMountTest {
    @TempDir
    Path dir;
    private final Fuse fuse = new Fuse();

    @BeforeEach
    void fuse() {
        Fuse.assumeFuse();
        Sh.require("qemu-img", "qemu-io");
    }

    @AfterEach
    void cleanup() {
        fuse.cleanup();
    }

    @Test
    void snapshotShowsTheSnapshotStateReadOnly() throws Exception {
        Path src = Images.pattern(dir.resolve("src.raw"), 6L * Images.MIB, 21);
        Path img = dir.resolve("vm.qcow2");
        Sh.run(120, List.of("qemu-img", "convert", "-O", "qcow2", src.toString(), img.toString())).ok();
        Sh.ok("qemu-img", "snapshot", "-c", "before", img.toString());
        Sh.ok("qemu-io", "-f", "qcow2", "-c", "write -P 0x5a 12345 300000", img.toString());
        Path now = Images.qemuRaw(img, "qcow2", dir.resolve("now.raw"));
        assertNotEquals(Sh.sha256(src), Sh.sha256(now));

        Path mnt = Files.createDirectories(dir.resolve("mnt"));
        fuse.mount("--snapshot", "before", img.toString(), mnt.toString());
        assertEquals(Sh.sha256(src), Sh.sha256(mnt.resolve("disk")), "snapshot 'before' = the converted source");
        fuse.unmount(mnt);
        fuse.mount(img.toString(), mnt.toString());
        assertEquals(Sh.sha256(now), Sh.sha256(mnt.resolve("disk")), "no --snapshot = the current state");
        fuse.unmount(mnt);

        Fuse.assertOneLineFailure(fuse.vdmount("--rw", "--snapshot", "before", img.toString(), mnt.toString()),
                "--snapshot");
        Fuse.assertOneLineFailure(fuse.vdmount("--snapshot", "nosuch", img.toString(), mnt.toString()), "nosuch");
        Path raw = Images.pattern(dir.resolve("plain.raw"), Images.MIB, 22);
        Fuse.assertOneLineFailure(fuse.vdmount("--snapshot", "1", raw.toString(), mnt.toString()), "snapshot");
    }

    @Test
    void absoluteBackingPathsAreFollowedOnlyWhenAllowed() throws Exception {
        Path store = Files.createDirectories(dir.resolve("store"));
        Path base = Images.pattern(store.resolve("base.raw"), 4L * Images.MIB, 23);
        Path vms = Files.createDirectories(dir.resolve("vms"));
        Path child = vms.resolve("child.qcow2");
        Sh.ok("qemu-img", "create", "-f", "qcow2", "-b", base.toAbsolutePath().toString(), "-F", "raw",
                child.toString());
        Sh.ok("qemu-io", "-f", "qcow2", "-c", "write -P 0x11 1000000 70000", child.toString());
        Path expect = Images.qemuRaw(child, "qcow2", dir.resolve("expect.raw"));

        Path mnt = Files.createDirectories(dir.resolve("mnt"));
        Fuse.assertOneLineFailure(fuse.vdmount(child.toString(), mnt.toString()), "parent-dir");
        fuse.mount("--allow-absolute-parents", child.toString(), mnt.toString());
        assertEquals(Sh.sha256(expect), Sh.sha256(mnt.resolve("disk")));
        fuse.unmount(mnt);
        fuse.mount("--parent-dir", store.toString(), child.toString(), mnt.toString());
        assertEquals(Sh.sha256(expect), Sh.sha256(mnt.resolve("disk")), "--parent-dir finds it by file name");
        fuse.unmount(mnt);
    }
}
