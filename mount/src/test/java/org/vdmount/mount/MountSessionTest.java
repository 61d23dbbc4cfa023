package org.vdmount.mount;

import static org.junit.jupiter.api.Assertions.assertEquals;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.vdmount.mount.fuse.FuseBindings;

/** The -o options a mount hands its binding: the core's, the binding's, then the user's. */
class MountSessionTest {
    @TempDir
    Path dir;

    private MountSession open(boolean readWrite, List<String> extra) throws Exception {
        Path img = Files.write(dir.resolve("a b.raw"), new byte[65536]);
        Path mnt = Files.createDirectories(dir.resolve("mnt"));
        return MountSession.open(new MountSession.Config(List.of(img), mnt, readWrite, List.of(), extra),
                w -> { });
    }

    @Test
    void jnrOptionsAreTheOnesVdmountAlwaysUsed() throws Exception {
        MountSession s = open(false, List.of("allow_other,max_write=65536", " "));
        try {
            List<String> jnr = FuseBindings.named(FuseBindings.installed(), "jnr").defaultOptions();
            assertEquals(List.of("fsname=" + dir.resolve("a_b.raw"), "subtype=vdmount", "big_writes",
                    "max_write=131072", "default_permissions", "auto_unmount", "ro", "allow_other",
                    "max_write=65536"), s.fuseOptions(jnr));
        } finally {
            s.abandon();
        }
    }

    @Test
    void theCoreAddsNoBindingOption() throws Exception {
        MountSession s = open(true, new ArrayList<>());
        try {
            assertEquals(List.of("fsname=" + dir.resolve("a_b.raw"), "subtype=vdmount", "x=1",
                    "default_permissions", "auto_unmount"), s.fuseOptions(List.of("x=1")));
        } finally {
            s.abandon();
        }
    }
}
