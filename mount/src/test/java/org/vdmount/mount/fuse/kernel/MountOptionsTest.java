package org.vdmount.mount.fuse.kernel;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.List;
import org.junit.jupiter.api.Test;

/** The kernel transport's -o handling: fusermount3's options pass, its own are read, the rest refused. */
class MountOptionsTest {

    @Test
    void theCoresOptionsGoToFusermountAndOursAreRead() {
        MountOptions o = MountOptions.parse(List.of("fsname=/x/a.raw", "subtype=vdmount", "default_permissions",
                "auto_unmount", "ro", "allow_other", "max_write=131072", "max_threads=3"));
        assertEquals(List.of("fsname=/x/a.raw", "subtype=vdmount", "default_permissions", "auto_unmount", "ro",
                "allow_other"), o.kernel());
        assertTrue(o.autoUnmount());
        assertEquals(131072, o.maxWrite());
        assertEquals(3, o.threads());
    }

    @Test
    void defaultsAreOneMibAndOneReaderPerCore() {
        MountOptions o = MountOptions.parse(List.of("ro"));
        assertFalse(o.autoUnmount());
        assertEquals(1 << 20, o.maxWrite());
        assertEquals(Math.min(16, Runtime.getRuntime().availableProcessors()), o.threads());
    }

    @Test
    void unknownOrOutOfRangeOptionsAreRefusedByName() {
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> MountOptions.parse(List.of("big_writes")));
        assertTrue(e.getMessage().startsWith("FUSE option 'big_writes' is not supported by the kernel transport"),
                e.getMessage());
        assertThrows(IllegalArgumentException.class, () -> MountOptions.parse(List.of("max_write=2097152")));
        assertThrows(IllegalArgumentException.class, () -> MountOptions.parse(List.of("max_write=4095")));
        assertThrows(IllegalArgumentException.class, () -> MountOptions.parse(List.of("max_threads=0")));
        assertThrows(IllegalArgumentException.class, () -> MountOptions.parse(List.of("max_threads=x")));
    }

    @Test
    void nodeIdsAreStableAndOnlyForGivenPaths() {
        NodeTable t = new NodeTable();
        assertEquals("/", t.path(1));
        long a = t.id("/disk");
        assertEquals(a, t.id("/disk"));
        assertEquals("/disk", t.path(a));
        assertEquals(null, t.path(a + 1));
        assertEquals(null, t.path(0));
        assertEquals("/d/p1", NodeTable.child("/d", "p1"));
        assertEquals("/p1", NodeTable.child("/", "p1"));
    }
}
