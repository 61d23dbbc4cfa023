package org.vdmount.mount.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.List;
import org.junit.jupiter.api.Test;

/** {@code -o force_share} is vdmount's --force-share in mount(8) spelling, never passed on to FUSE. */
class ForceShareOptionTest {
    @Test
    void forceShareIsTakenOutOfTheFuseOptions() {
        List<String> given = List.of("allow_other,force_share", "nonempty", "force_share");
        assertTrue(VdmountMain.forceShareOption(given));
        assertEquals(List.of("allow_other", "nonempty"), VdmountMain.withoutVdmountOptions(given));
        assertFalse(VdmountMain.forceShareOption(List.of("allow_other", "force_sharer")));
        assertEquals(List.of("force_sharer"), VdmountMain.withoutVdmountOptions(List.of("force_sharer")));
    }
}
