package org.vdmount.vd;

import java.util.List;
import java.util.Optional;
import java.util.function.Function;

/**
 * Which internal snapshot a user means, in qemu's notation ({@code qemu-img convert -l},
 * {@code qemu-img snapshot -a}): an id or a name ({@code idOrName}: a snapshot with that id is
 * taken before one with that name), or {@code snapshot.id=ID}, {@code snapshot.name=NAME} or
 * both, comma-separated, where each given must match (qemu's find_snapshot_by_id_and_name).
 *
 * @param id       the id that must match, or null
 * @param name     the name that must match, or null
 * @param idOrName the id or name, or null when {@code id}/{@code name} are given
 */
public record SnapshotKey(String id, String name, String idOrName) {
    private static final String ID = "snapshot.id=";
    private static final String NAME = "snapshot.name=";

    /**
     * The key {@code text} spells: with {@code snapshot.id=} or {@code snapshot.name=} first, a
     * comma-separated list of those two; anything else is an id or name as it stands.
     */
    public static SnapshotKey parse(String text) throws VdException {
        if (!text.startsWith(ID) && !text.startsWith(NAME)) {
            return new SnapshotKey(null, null, text);
        }
        String id = null;
        String name = null;
        for (String part : text.split(",", -1)) {
            if (part.startsWith(ID) && id == null) {
                id = part.substring(ID.length());
            } else if (part.startsWith(NAME) && name == null) {
                name = part.substring(NAME.length());
            } else {
                throw new VdException("snapshot '" + text + "': expected snapshot.id=ID and/or snapshot.name=NAME, "
                        + "comma-separated, or an id or name; not '" + part + "'");
            }
        }
        return new SnapshotKey(id, name, null);
    }

    /** The first of {@code snapshots} this key selects, reading each one's id and name with the functions. */
    public <S> Optional<S> find(List<S> snapshots, Function<S, String> idOf, Function<S, String> nameOf) {
        if (idOrName != null) {
            for (S s : snapshots) {
                if (idOf.apply(s).equals(idOrName)) {
                    return Optional.of(s);
                }
            }
            return snapshots.stream().filter(s -> nameOf.apply(s).equals(idOrName)).findFirst();
        }
        return snapshots.stream()
                .filter(s -> (id == null || idOf.apply(s).equals(id)) && (name == null || nameOf.apply(s).equals(name)))
                .findFirst();
    }

    /** The key in qemu's notation: the id or name, or snapshot.id= before snapshot.name=. */
    @Override
    public String toString() {
        if (idOrName != null) {
            return idOrName;
        }
        String idPart = id == null ? "" : ID + id;
        String namePart = name == null ? "" : NAME + name;
        return idPart + (id != null && name != null ? "," : "") + namePart;
    }
}
