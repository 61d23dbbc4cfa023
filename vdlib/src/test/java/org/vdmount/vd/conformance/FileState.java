package org.vdmount.vd.conformance;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.Map;
import org.vdmount.vd.Disk;
import org.vdmount.vd.OpenOptions;

/** A file's bytes and mtime, to show that a layer opened read-only was never written. */
public record FileState(byte[] bytes, long mtimeMillis) {

    public static FileState of(Path p) throws IOException {
        return new FileState(Files.readAllBytes(p), Files.getLastModifiedTime(p).toMillis());
    }

    /** The state of every file of the image at {@code image} (descriptor and extents, split parts). */
    public static Map<Path, FileState> ofImage(Path image) throws IOException {
        Map<Path, FileState> m = new LinkedHashMap<>();
        try (Disk d = Disk.open(image, Kit.readOnly())) {
            for (Path p : d.top().files()) {
                m.put(p, of(p));
            }
        }
        return m;
    }

    /**
     * As {@link #ofImage(Path)}, without the files {@code fixture} says children rewrite when they
     * are stacked on the image ({@link FormatFixture#rewrittenByChildren}).
     */
    public static Map<Path, FileState> ofLowerLayer(Path image, FormatFixture fixture) throws IOException {
        Map<Path, FileState> m = ofImage(image);
        m.keySet().removeIf(fixture::rewrittenByChildren);
        return m;
    }

    public static void assertUnchanged(Map<Path, FileState> states) throws IOException {
        for (Map.Entry<Path, FileState> e : states.entrySet()) {
            e.getValue().assertUnchanged(e.getKey());
        }
    }

    public void assertUnchanged(Path p) throws IOException {
        assertTrue(Arrays.equals(bytes, Files.readAllBytes(p)), p + " was modified");
        assertEquals(mtimeMillis, Files.getLastModifiedTime(p).toMillis(), p + ": mtime changed");
    }
}
