package org.vdmount.mount.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.Test;

/** {@code -o overlay=FILE} is vdmount's --overlay in mount(8) spelling, never passed on to FUSE. */
class OverlayOptionTest {
    @Test
    void overlayIsTakenOutOfTheFuseOptions() {
        List<String> given = List.of("allow_other,overlay=/cases/c.qcow2", "nonempty");
        assertEquals(Path.of("/cases/c.qcow2"), VdmountMain.overlayOption(null, given));
        assertEquals(List.of("allow_other", "nonempty"), VdmountMain.withoutVdmountOptions(given));
        assertNull(VdmountMain.overlayOption(null, List.of("allow_other", "overlays=x")));
        assertEquals(List.of("overlays=x"), VdmountMain.withoutVdmountOptions(List.of("overlays=x")));
    }

    @Test
    void bothSpellingsMustAgree() {
        Path abs = Path.of("/cases/c.qcow2");
        assertEquals(abs, VdmountMain.overlayOption(abs, List.of("overlay=/cases/c.qcow2")));
        assertEquals(abs, VdmountMain.overlayOption(abs, List.of()));
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> VdmountMain.overlayOption(abs, List.of("overlay=/cases/d.qcow2")));
        assertTrue(e.getMessage().contains("differ"), e.getMessage());
        assertThrows(IllegalArgumentException.class, () -> VdmountMain.overlayOption(null, List.of("overlay")));
    }
}
