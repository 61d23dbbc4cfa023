package org.vdmount.mount;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.Test;

/** Reading /proc/self/mountinfo lines (proc(5)): escapes, optional fields, the last mount wins. */
class MountTableTest {
    private static final List<String> LINES = List.of(
            "22 1 0:21 / / rw,relatime shared:1 - ext4 /dev/sda1 rw",
            "95 22 0:50 / /mnt/my\\040disk rw,nosuid,nodev,relatime shared:60 - fuse.vdmount /e/a\\040b.vdi "
                    + "ro,user_id=0,group_id=0",
            "96 22 0:51 / /mnt/x rw,relatime - tmpfs tmpfs rw",
            "97 96 0:52 / /mnt/x ro,nosuid,nodev,relatime - fuse.vdmount /e/d.vhdx ro,user_id=0",
            "garbage line");

    @Test
    void findsTheVisibleMountAtAPath() {
        MountTable.Entry e = MountTable.find(LINES, "/mnt/my disk").orElseThrow();
        assertEquals("fuse.vdmount", e.fsType());
        assertEquals("/e/a b.vdi", e.source());
        assertEquals("rw,nosuid,nodev,relatime", e.mountOptions());
        MountTable.Entry top = MountTable.find(LINES, "/mnt/x").orElseThrow();
        assertEquals("/e/d.vhdx", top.source(), "the later mount hides the earlier");
        assertTrue(MountTable.find(LINES, "/mnt").isEmpty());
        assertNull(MountTable.parse("garbage line"));
        assertEquals("a\\b\\0", MountTable.unescape("a\\134b\\0"));
    }

    @Test
    void theRootIsAMountPointHere() {
        assertTrue(MountTable.at(Path.of("/")).isPresent(), "/proc/self/mountinfo lists /");
    }
}
