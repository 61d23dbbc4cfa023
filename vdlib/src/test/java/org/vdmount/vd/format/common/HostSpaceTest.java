package org.vdmount.vd.format.common;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import org.junit.jupiter.api.Test;

/** The byte ranges compaction keeps: merging, overlap refusal, aligned and byte-granular places. */
class HostSpaceTest {

    @Test
    void findsTheLowestAlignedPlaceBelowTheLimit() {
        HostSpace s = new HostSpace();
        assertTrue(s.use(0, 56, false));             // header and L1 table
        assertTrue(s.use(4096, 8192, false));        // an L2 table
        assertTrue(s.use(8192, 8213, false));        // a compressed cluster
        assertTrue(s.use(12288, 16384, false));      // a data cluster
        assertEquals(56, s.lowestFreeBelow(21, 1, 12288), "bytes fit right after the L1 table");
        assertEquals(-1, s.lowestFreeBelow(4096, 4096, 12288), "no free aligned cluster below 12288");
        assertEquals(-1, s.lowestFreeBelow(21, 1, 70), "the gap ends too high for the limit");
        s.free(8192, 8213);
        assertEquals(8192, s.lowestFreeBelow(4096, 4096, 12288));
        assertEquals(16384, s.end());
        s.use(8192, 12288, false);
        assertEquals(16384, s.lowestFreeBelow(4096, 4096, 1 << 20), "past the last range");
        assertEquals(-1, s.lowestFreeBelow(4096, 4096, 16384 + 4095), "past the last range, but not below the limit");
    }

    @Test
    void mergesNeighboursAndSplitsOnFree() {
        HostSpace s = new HostSpace();
        s.use(0, 4096, false);
        s.use(8192, 12288, false);
        s.use(4096, 8192, false);                    // joins both into one range
        assertEquals(12288, s.lowestFreeBelow(4096, 4096, 1 << 20));
        s.free(4096, 8192);                          // the middle again
        assertEquals(4096, s.lowestFreeBelow(4096, 4096, 1 << 20));
        assertEquals(12288, s.end());
        assertThrows(IllegalStateException.class, () -> s.free(4096, 8192), "freed twice");
    }

    @Test
    void refusesBytesClaimedTwiceUnlessAllowed() {
        HostSpace s = new HostSpace();
        s.use(4096, 8192, false);
        assertFalse(s.use(8000, 9000, false));
        assertFalse(s.use(0, 5000, false));
        assertEquals(8192, s.end(), "a refused range changes nothing");
        assertTrue(s.use(0, 5000, true));            // fixed ranges may overlap
        assertEquals(8192, s.end());
        assertEquals(8192, s.lowestFreeBelow(1, 1, 1 << 20));
    }
}
