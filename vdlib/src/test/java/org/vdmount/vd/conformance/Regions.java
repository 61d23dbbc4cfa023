package org.vdmount.vd.conformance;

import java.util.ArrayList;
import java.util.List;

/**
 * Collects a file's {@link Region}s for a fixture: ranges that start outside the file are left
 * out, ranges running past its end are cut. The structures come first; the whole file last.
 */
public final class Regions {
    private final long fileLength;
    private final List<Region> list = new ArrayList<>();

    public Regions(long fileLength) {
        this.fileLength = fileLength;
    }

    /** Adds {@code [start, start+length)} if it starts inside the file. */
    public Regions add(String name, long start, long length) {
        if (start >= 0 && start < fileLength && length > 0) {
            list.add(new Region(name, start, Math.min(length, fileLength - start)));
        }
        return this;
    }

    /** The regions; the whole file when none was added (a file too short for its structures). */
    public List<Region> list() {
        return list.isEmpty() ? List.of(Region.whole("whole file", fileLength)) : List.copyOf(list);
    }
}
