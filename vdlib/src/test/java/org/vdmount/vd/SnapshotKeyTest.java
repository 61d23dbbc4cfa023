package org.vdmount.vd;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import java.util.List;
import java.util.Optional;
import org.junit.jupiter.api.Test;

/** qemu's snapshot keys: an id before a name; snapshot.id= and snapshot.name= must each match. */
class SnapshotKeyTest {
    private record Snap(String id, String name) {
    }

    private static final List<Snap> SNAPS = List.of(new Snap("1", "2"), new Snap("2", "base"), new Snap("3", "base"));

    private static Optional<Snap> find(String key) throws VdException {
        return SnapshotKey.parse(key).find(SNAPS, Snap::id, Snap::name);
    }

    @Test
    void anIdOrNameTakesTheIdFirstThenTheFirstName() throws VdException {
        assertEquals(SNAPS.get(1), find("2").orElseThrow(), "id 2, not the snapshot named 2");
        assertEquals(SNAPS.get(1), find("base").orElseThrow());
        assertEquals(Optional.empty(), find("4"));
    }

    @Test
    void namedFieldsMustEachMatch() throws VdException {
        assertEquals(SNAPS.get(0), find("snapshot.name=2").orElseThrow());
        assertEquals(SNAPS.get(2), find("snapshot.id=3").orElseThrow());
        assertEquals(SNAPS.get(2), find("snapshot.name=base,snapshot.id=3").orElseThrow());
        assertEquals(Optional.empty(), find("snapshot.id=1,snapshot.name=base"));
        assertEquals("snapshot.id=3,snapshot.name=base", SnapshotKey.parse("snapshot.name=base,snapshot.id=3").toString());
    }

    @Test
    void otherFieldsAreRefusedNamingThem() {
        VdException e = assertThrows(VdException.class, () -> SnapshotKey.parse("snapshot.id=1,snapshot.id=2"));
        assertEquals("snapshot 'snapshot.id=1,snapshot.id=2': expected snapshot.id=ID and/or snapshot.name=NAME, "
                + "comma-separated, or an id or name; not 'snapshot.id=2'", e.getMessage());
    }
}
